use lambda_http::{run, service_fn, Error};
use users_core::domain::passwords;
use users_core::http::recovery;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mail_routes().await;
    passwords::prepare_work_area();
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
