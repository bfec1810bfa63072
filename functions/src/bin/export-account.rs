use lambda_http::{run, service_fn, Error};
use users_core::http::routes;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::export_route(&[]).await;
    run(service_fn(|request| {
        routes::export_account(
            &route.store,
            &route.keys,
            route.links,
            &route.settings,
            request,
        )
    }))
    .await
}
