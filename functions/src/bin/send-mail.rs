use lambda_runtime::{run, service_fn, Error};
use users_core::{mail, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let sending = runtime::mail_sending(&[]).await;
    run(service_fn(|event| {
        mail::handler(&sending.store, &sending.transport, &sending.settings, event)
    }))
    .await
}
