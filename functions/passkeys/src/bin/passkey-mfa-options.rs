use lambda_http::{run, service_fn, Error};
use users_core::http::passkeys;
use users_core::runtime;
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::passkey_options(&[]).await;
    run(service_fn(|request| {
        passkeys::begin_second_factor(&route.store, &route.rp, request)
    }))
    .await
}
