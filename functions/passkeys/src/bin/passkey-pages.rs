//! The pages' passkey POSTs (docs/passkeys.md): a new passkey's options,
//! adding it, and signing in with one. The pages' own settings and session
//! (functions/src/bin/pages.rs), plus the relying party: only here and in
//! the other passkey functions is webauthn-rs linked.

use lambda_http::{run, service_fn, Error};
use users_core::pages::{passkeys, web::Pages};
use users_core::runtime::{self, WarmUp};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let (started, rp) = runtime::passkey_pages(&[WarmUp::PasswordHashing]).await;
    let context = Pages {
        store: &started.store,
        queue: &started.queue,
        keys: &started.keys,
        mfa: &started.mfa,
        login: started.login,
        mail_policy: &started.mail_policy,
        forgot_per_source: started.forgot_per_source,
        links: started.links,
        site: &started.site,
        clients: &started.clients,
        // Read by the account deletion page only, which this function does not serve.
        deletion_grace: started.deletion_grace,
    };
    run(service_fn(|request| {
        passkeys::serve(&context, &rp, request)
    }))
    .await
}
