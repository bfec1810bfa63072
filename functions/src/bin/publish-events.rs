use lambda_runtime::{run, service_fn, Error};
use users_core::{eventbridge, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let publishing = runtime::event_publishing(&[]).await;
    run(service_fn(|event| {
        eventbridge::handler(&publishing.store, &publishing.bus, event)
    }))
    .await
}
