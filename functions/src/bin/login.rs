use lambda_http::{run, service_fn, Error};
use users_core::domain::passwords;
use users_core::{http::routes, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, issuer) = runtime::database_and_issuer().await;
    passwords::prepare_work_area();
    run(service_fn(|request| {
        routes::login(&store, &issuer, request)
    }))
    .await
}
