use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, queue) = runtime::database_and_mail_queue().await;
    run(service_fn(|request| {
        recovery::verify_email(&store, &queue, request)
    }))
    .await
}
