use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mail_routes(&[]).await;
    run(service_fn(|request| {
        recovery::resend_verification(
            &routes.store,
            &routes.keys,
            &routes.queue,
            &routes.policy,
            request,
        )
    }))
    .await
}
