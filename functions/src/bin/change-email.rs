use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::runtime::{self, WarmUp::PasswordHashing};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mail_routes(&[PasswordHashing]).await;
    run(service_fn(|request| {
        recovery::change_email(
            &routes.store,
            &routes.keys,
            &routes.queue,
            &routes.policy,
            request,
        )
    }))
    .await
}
