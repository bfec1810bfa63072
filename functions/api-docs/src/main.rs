//! GET /docs (Swagger UI for openapi.yaml) and GET /openapi.json. Both are
//! generated at build time (build.rs) and held in the binary: no configuration,
//! no I/O, nothing to do at init.

mod docs;

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    run(service_fn(|request: Request| async move {
        Ok::<_, Error>(docs::respond(&request))
    }))
    .await
}
