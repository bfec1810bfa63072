//! `POST /auth/mfa/verify`: a login's second step, with a code (TOTP or
//! recovery) or a passkey. Here, among the passkey functions, because the
//! passkey branch links webauthn-rs (docs/passkeys.md).

use lambda_http::{run, service_fn, Error};
use users_core::http::passkeys;
use users_core::runtime;
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (route, rp) = runtime::passkey_mfa_verify(&[]).await;
    run(service_fn(|request| {
        passkeys::verify_mfa(&route.store, &route.keys, &route.settings, &rp, request)
    }))
    .await
}
