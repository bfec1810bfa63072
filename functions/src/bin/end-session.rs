use lambda_http::{run, service_fn, Error};
use users_core::{http::devices, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, keys) = runtime::database_and_published_keys().await;
    run(service_fn(|request| {
        devices::end_session(&store, &keys, request)
    }))
    .await
}
