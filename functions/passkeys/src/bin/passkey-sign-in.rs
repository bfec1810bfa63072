use lambda_http::{run, service_fn, Error};
use users_core::http::passkeys;
use users_core::runtime;
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::passkey_sign_in(&[]).await;
    run(service_fn(|request| {
        passkeys::finish_sign_in(&route.store, &route.keys, &route.rp, request)
    }))
    .await
}
