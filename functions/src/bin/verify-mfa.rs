use lambda_http::{run, service_fn, Error};
use users_core::{http::mfa, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, keys, settings) = runtime::mfa_verify().await;
    run(service_fn(|request| {
        mfa::verify(&store, &keys, &settings, request)
    }))
    .await
}
