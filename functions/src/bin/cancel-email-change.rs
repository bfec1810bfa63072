use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, keys) = runtime::database_and_published_keys().await;
    run(service_fn(|request| {
        recovery::cancel_email_change(&store, &keys, request)
    }))
    .await
}
