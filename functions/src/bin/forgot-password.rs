use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, queue, limit) = runtime::forgot_password().await;
    run(service_fn(|request| {
        recovery::forgot_password(&store, &queue, limit, request)
    }))
    .await
}
