use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::bearer_route(&[]).await;
    run(service_fn(|request| {
        recovery::cancel_email_change(&route.store, &route.keys, request)
    }))
    .await
}
