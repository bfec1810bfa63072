use lambda_runtime::{run, service_fn, Error};
use users_core::{runtime, sqs, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let ingest = runtime::ingest(&[]).await;
    run(service_fn(|event| {
        sqs::handler(&ingest.store, ingest.links, event)
    }))
    .await
}
