use lambda_http::{run, service_fn, Error};
use users_core::http::passkeys;
use users_core::runtime;
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::bearer_route(&[]).await;
    run(service_fn(|request| {
        passkeys::rename(&route.store, &route.keys, request)
    }))
    .await
}
