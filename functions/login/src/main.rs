use lambda_http::{run, service_fn, Error};
use users_core::{handlers, passwords, telemetry, AppState};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = AppState::from_env().await?;
    passwords::prepare_work_area();
    run(service_fn(|request| handlers::login(&state, request))).await
}
