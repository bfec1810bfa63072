use lambda_runtime::{run, service_fn, Error};
use users_core::{mail, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, transport, settings) = runtime::mail_sender().await;
    run(service_fn(|event| {
        mail::handler(&store, &transport, &settings, event)
    }))
    .await
}
