use lambda_runtime::{run, service_fn, Error};
use users_core::events::publish::{self, Publisher};
use users_core::{telemetry, AppState};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = AppState::from_env().await?;
    let publisher = Publisher::from_env().await?;
    run(service_fn(|event| {
        publish::handler(&state, &publisher, event)
    }))
    .await
}
