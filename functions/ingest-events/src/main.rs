use lambda_runtime::{run, service_fn, Error};
use users_core::{events, telemetry, AppState};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = AppState::from_env().await?;
    run(service_fn(|event| events::ingest::handler(&state, event))).await
}
