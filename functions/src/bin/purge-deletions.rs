use lambda_runtime::{run, service_fn, Error};
use users_core::{purge, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::ingest(&[]).await;
    run(service_fn(|event| {
        purge::handler(&route.store, route.links, event)
    }))
    .await
}
