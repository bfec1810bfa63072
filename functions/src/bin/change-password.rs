use lambda_http::{run, service_fn, Error};
use users_core::domain::{passwords, values};
use users_core::http::recovery;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let routes = runtime::mail_routes().await;
    values::prepare_strength_estimator();
    passwords::prepare_work_area();
    run(service_fn(|request| {
        recovery::change_password(&routes.store, &routes.keys, &routes.queue, request)
    }))
    .await
}
