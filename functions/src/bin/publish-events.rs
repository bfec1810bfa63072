use lambda_runtime::{run, service_fn, Error};
use users_core::{eventbridge, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, bus) = runtime::database_and_event_bus().await;
    run(service_fn(|event| {
        eventbridge::handler(&store, &bus, event)
    }))
    .await
}
