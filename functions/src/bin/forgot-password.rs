use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::forgot_password(&[]).await;
    run(service_fn(|request| {
        recovery::forgot_password(
            &route.store,
            &route.queue,
            route.per_source_per_hour,
            request,
        )
    }))
    .await
}
