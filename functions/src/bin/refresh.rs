use lambda_http::{run, service_fn, Error};
use users_core::{http::routes, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, issuer) = runtime::database_and_issuer().await;
    run(service_fn(|request| {
        routes::refresh(&store, &issuer, request)
    }))
    .await
}
