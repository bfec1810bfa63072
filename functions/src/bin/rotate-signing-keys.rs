use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use users_core::rotation::RotationEvent;
use users_core::{runtime, telemetry};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let rotation = runtime::key_rotation().await;
    run(service_fn(|event: LambdaEvent<RotationEvent>| {
        let rotation = &rotation;
        async move { Ok::<_, Error>(rotation.run(&event.payload).await?) }
    }))
    .await
}
