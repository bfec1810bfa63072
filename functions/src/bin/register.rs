use lambda_http::{run, service_fn, Error};
use users_core::http::recovery;
use users_core::runtime::{
    self,
    WarmUp::{PasswordHashing, StrengthEstimator},
};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::mail_requesting(&[StrengthEstimator, PasswordHashing]).await;
    run(service_fn(|request| {
        recovery::register(&route.store, &route.queue, request)
    }))
    .await
}
