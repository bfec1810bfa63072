use lambda_http::{run, service_fn, Error};
use users_core::{http::well_known, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (keys, settings) = runtime::published_keys().await;
    run(service_fn(|request| {
        well_known::well_known(&keys, &settings, request)
    }))
    .await
}
