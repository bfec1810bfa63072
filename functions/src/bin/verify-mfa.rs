use lambda_http::{run, service_fn, Error};
use users_core::http::mfa;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::mfa_verify(&[]).await;
    run(service_fn(|request| {
        mfa::verify(&route.store, &route.keys, &route.settings, request)
    }))
    .await
}
