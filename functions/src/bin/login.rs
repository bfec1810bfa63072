use lambda_http::{run, service_fn, Error};
use users_core::http::routes;
use users_core::runtime::{self, WarmUp::PasswordHashing};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::login(&[PasswordHashing]).await;
    run(service_fn(|request| {
        routes::login(&route.store, &route.keys, route.policy, request)
    }))
    .await
}
