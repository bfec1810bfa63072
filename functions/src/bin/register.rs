use lambda_http::{run, service_fn, Error};
use users_core::domain::{passwords, values};
use users_core::{http::recovery, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, queue) = runtime::database_and_mail_queue().await;
    values::prepare_strength_estimator();
    passwords::prepare_work_area();
    run(service_fn(|request| {
        recovery::register(&store, &queue, request)
    }))
    .await
}
