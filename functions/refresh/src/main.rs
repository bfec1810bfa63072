use lambda_http::{run, service_fn, Error};
use users_core::{handlers, telemetry, AppState};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = AppState::from_env().await?;
    run(service_fn(|request| handlers::refresh(&state, request))).await
}
