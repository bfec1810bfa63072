use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, keys, queue) = runtime::mail_routes().await;
    run(service_fn(|request| {
        recovery::resend_verification(&store, &keys, &queue, request)
    }))
    .await
}
