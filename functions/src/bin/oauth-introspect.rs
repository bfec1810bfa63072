use lambda_http::{run, service_fn, Error};
use users_core::http::oauth;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::oauth_token_admin(&[]).await;
    run(service_fn(|request| {
        oauth::introspect(
            &route.store,
            &route.keys,
            &route.clients,
            route.limits,
            request,
        )
    }))
    .await
}
