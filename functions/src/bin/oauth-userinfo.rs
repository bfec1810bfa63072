use lambda_http::{run, service_fn, Error};
use users_core::http::oauth;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::oauth_userinfo(&[]).await;
    run(service_fn(|request| {
        oauth::userinfo(&route.store, &route.keys, &route.clients, request)
    }))
    .await
}
