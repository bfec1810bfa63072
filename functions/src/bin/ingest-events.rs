use lambda_runtime::{run, service_fn, Error};
use users_core::{runtime, sqs, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, links) = runtime::database_and_link_policy().await;
    run(service_fn(|event| sqs::handler(&store, links, event))).await
}
