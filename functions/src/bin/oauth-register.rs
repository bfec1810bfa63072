use lambda_http::{run, service_fn, Error};
use users_core::http::oauth;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::oauth_register(&[]).await;
    run(service_fn(|request| {
        oauth::register(&route.store, route.policy, request)
    }))
    .await
}
