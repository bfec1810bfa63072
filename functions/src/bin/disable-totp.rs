use lambda_http::{run, service_fn, Error};
use users_core::http::mfa;
use users_core::runtime::{self, WarmUp::PasswordHashing};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mfa_routes(&[PasswordHashing]).await;
    run(service_fn(|request| {
        mfa::disable_totp(
            &routes.store,
            &routes.keys,
            &routes.queue,
            &routes.settings,
            request,
        )
    }))
    .await
}
