use lambda_http::{run, service_fn, Error};
use users_core::http::mfa;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mfa_routes(&[]).await;
    run(service_fn(|request| {
        mfa::regenerate_recovery_codes(
            &routes.store,
            &routes.keys,
            &routes.queue,
            &routes.settings,
            request,
        )
    }))
    .await
}
