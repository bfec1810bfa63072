//! The browser session as a page meets it: who holds a signed-in page
//! (`signed`), and what a successful sign-in sets (`signed_in`). Shared by
//! the account, export, anonymous and passkey pages, so that none of them
//! imports another for it.

use lambda_http::{Body, Response};

use super::web::{
    answer_error, problem_page, redirect, Ctx, Holder, Pages, Store, Visit, MFA_COOKIE,
    PRE_SESSION_COOKIE, SESSION_COOKIE,
};
use crate::domain::ports::MailRequests;
use crate::domain::sessions::{self, browser_cookie_for, Issuer, TokenPair};
use crate::domain::tokens::Caller;
use crate::domain::values::Timestamp;
use crate::domain::DomainError;

/// What a signed-in page starts from.
pub struct Signed<'v> {
    pub caller: &'v Caller,
    pub ctx: Ctx,
}

/// The caller, or the redirect to sign in and come back.
pub async fn signed<'v, S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &'v Holder,
) -> Result<Signed<'v>, Response<Body>> {
    let Some(caller) = holder.caller() else {
        return Err(answer_error(
            p.site,
            visit,
            DomainError::SessionEnded,
            |status, problems| problem_page(p.site, status, &problems),
        ));
    };
    let issuer = p.keys.issuer().await;
    Ok(Signed {
        caller,
        ctx: Ctx::new(p.site, &issuer.policy.secrets, holder),
    })
}

/// A sign-in succeeded (`pair` opened its session): a new session cookie, the
/// pre-session and code-step cookies dropped (no fixation), any session this
/// browser had before ended, and on to `return_to`.
pub async fn signed_in<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
    issuer: &Issuer,
    pair: TokenPair,
) -> Response<Body> {
    let now = Timestamp::now();
    let (_, cookie) = match browser_cookie_for(p.store, &issuer.policy.secrets, &pair, now).await {
        Ok(opened) => opened,
        Err(error) => {
            return answer_error(p.site, visit, error, |status, problems| {
                problem_page(p.site, status, &problems)
            })
        }
    };
    if let Some(previous) = holder.caller() {
        // Step-up or a second sign-in: the earlier session of this browser ends.
        if let Err(error) = sessions::logout(p.store, previous, now).await {
            tracing::info!(%error, "the earlier browser session was already gone");
        }
    }
    let cookies = [
        p.site
            .set_cookie(SESSION_COOKIE, &cookie, issuer.policy.lifetime.as_secs()),
        p.site.set_cookie(PRE_SESSION_COOKIE, "", 0),
        p.site.set_cookie(MFA_COOKIE, "", 0),
    ];
    let to = visit.return_to().unwrap_or_else(|| "/account".into());
    redirect(p.site, &to, &cookies)
}
