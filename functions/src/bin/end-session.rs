use lambda_http::{run, service_fn, Error};
use users_core::http::devices;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::bearer_route(&[]).await;
    run(service_fn(|request| {
        devices::end_session(&route.store, &route.keys, request)
    }))
    .await
}
