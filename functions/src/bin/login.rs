use lambda_http::{run, service_fn, Error};
use users_core::domain::passwords;
use users_core::{http::routes, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, keys) = runtime::database_and_signing_keys().await;
    let policy = runtime::login_policy().await;
    passwords::prepare_work_area();
    run(service_fn(|request| {
        routes::login(&store, &keys, policy, request)
    }))
    .await
}
