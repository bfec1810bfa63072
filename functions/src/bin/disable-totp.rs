use lambda_http::{run, service_fn, Error};
use users_core::domain::passwords;
use users_core::{http::mfa, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mfa_routes().await;
    passwords::prepare_work_area();
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
