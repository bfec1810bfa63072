use lambda_http::{run, service_fn, Error};
use users_core::http::routes;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let store = runtime::database(&[]).await;
    run(service_fn(|request| {
        routes::restore_account(&store, request)
    }))
    .await
}
