use lambda_http::{run, service_fn, Error};
use users_core::http::well_known;
use users_core::runtime::{self};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let route = runtime::jwks(&[]).await;
    run(service_fn(|request| {
        well_known::well_known(&route.keys, &route.settings, route.registration, request)
    }))
    .await
}
