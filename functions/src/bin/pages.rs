//! The pages for people (issue #20): sign-in, sign-up, the mailed links and
//! the account, server-rendered HTML over the API's use cases. One function
//! for every page (the OpenID Provider's authorization, consent and logout
//! pages among them, issue #21): they share the session cookie, the CSRF key and the
//! branding, and a person moves between them in one visit, so one warm
//! environment serves the whole visit (docs/pages.md).

use lambda_http::{run, service_fn, Error};
use users_core::pages::{self, web::Pages};
use users_core::runtime::{self, WarmUp};
use users_core::telemetry;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let started = runtime::pages(&[WarmUp::PasswordHashing, WarmUp::StrengthEstimator]).await;
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
        deletion_grace: started.deletion_grace,
    };
    run(service_fn(|request| pages::serve(&context, request))).await
}
