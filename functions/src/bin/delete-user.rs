use lambda_http::{run, service_fn, Error};
use users_core::{http::routes, runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (store, keys, links) = runtime::users_routes().await;
    run(service_fn(|request| {
        routes::delete_user(&store, &keys, links, request)
    }))
    .await
}
