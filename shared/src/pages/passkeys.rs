//! Passkeys on the pages (docs/passkeys.md). The pages function serves the
//! script (`/passkeys.js`), the sign-in page's passkey form (`signin_form`)
//! and `/account/passkeys` (the list, renaming, removing, and the form that
//! adds one); none of that verifies WebAuthn. The forms' POSTs that carry a
//! credential (`/account/passkeys/options`, `/account/passkeys/add`,
//! `/signin/passkey`) go to the passkey-pages function (functions/passkeys),
//! which links webauthn-rs: `ceremonies`, behind the `passkeys` feature.

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

use super::views::{self, form, layout, Field};
use super::web::{answer_error, page, problem_page, redirect, Ctx, Holder, Pages, Store, Visit};
use crate::domain::passkeys::{self as stored, PasskeyRecord};
use crate::domain::ports::MailRequests;
use crate::domain::values::{PasskeyId, Timestamp};
use crate::domain::DomainError;

/// The script, served from this origin (the pages' CSP allows `'self'`).
pub const SCRIPT_PATH: &str = "/passkeys.js";
const SCRIPT: &str = include_str!("passkeys.js");
/// The pages the pages function serves for passkeys.
pub const ACCOUNT_PATH: &str = "/account/passkeys";
/// The POSTs the passkey-pages function serves.
pub const OPTIONS_PATH: &str = "/account/passkeys/options";
pub const ADD_PATH: &str = "/account/passkeys/add";
pub const SIGNIN_PATH: &str = "/signin/passkey";
/// The second step of a password sign-in with a passkey: its options (JSON
/// for the script) and its finish, both with the sign-in's `mfa` cookie.
pub const SECOND_FACTOR_OPTIONS_PATH: &str = "/signin/code/passkey/options";
pub const SECOND_FACTOR_PATH: &str = "/signin/code/passkey";
/// The code page's query after a refused passkey.
pub const REFUSED_QUERY: &str = "passkey=refused";

/// `GET /passkeys.js`.
pub fn script() -> Response<Body> {
    let mut response = Response::new(Body::from(SCRIPT));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// The sign-in page's passkey form: a button (discoverable credentials: no
/// e-mail typed), and the script that also offers the passkeys in the
/// e-mail field's autofill (conditional mediation).
pub fn signin_form(ctx: &Ctx, return_to: Option<String>) -> Markup {
    html! {
        form #passkey-signin method="post" action=(SIGNIN_PATH) novalidate {
            input type="hidden" name="csrf" value=(ctx.csrf);
            input type="hidden" name="ceremony" value="";
            input type="hidden" name="credential" value="";
            @if let Some(to) = return_to {
                input type="hidden" name="return_to" value=(to);
            }
            button.secondary type="submit" { "Sign in with a passkey" }
            p.hint role="status" data-passkey-status {}
        }
        script src=(SCRIPT_PATH) defer {}
    }
}

/// The code page's passkey form: "Use a passkey" instead of the code, for
/// an account with one (the script shows it where WebAuthn works).
pub fn second_factor_form(ctx: &Ctx, return_to: Option<String>) -> Markup {
    html! {
        form #passkey-mfa method="post" action=(SECOND_FACTOR_PATH) novalidate {
            input type="hidden" name="csrf" value=(ctx.csrf);
            input type="hidden" name="credential" value="";
            @if let Some(to) = return_to {
                input type="hidden" name="return_to" value=(to);
            }
            button.secondary type="submit" { "Use a passkey instead" }
            p.hint role="status" data-passkey-status {}
        }
        script src=(SCRIPT_PATH) defer {}
    }
}

fn when(instant: Timestamp) -> String {
    let text = mongodb::bson::DateTime::from_millis(instant.as_millis())
        .try_to_rfc3339_string()
        .unwrap_or_default();
    format!(
        "{} UTC",
        text.get(..16).unwrap_or_default().replace('T', " ")
    )
}

fn notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "added" => "The passkey was added: it signs you in without your password.",
        "renamed" => "The passkey was renamed.",
        "removed" => "The passkey was removed: it no longer signs in.",
        _ => return None,
    })
}

fn passkeys_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    visit: &Visit,
    ctx: &Ctx,
    passkeys: &[PasskeyRecord],
    problem: Option<&str>,
) -> Markup {
    layout(
        p.site,
        "Passkeys",
        true,
        html! {
            (views::notice(notice(visit.query("notice"))))
            (views::alert(problem))
            p { "A passkey signs you in with your device's screen lock instead of your password. Your password, and its reset by mail, keep working." }
            @if passkeys.is_empty() {
                p { "You have no passkeys yet." }
            }
            ul.devices {
                @for passkey in passkeys {
                    li {
                        strong { (passkey.name) }
                        br;
                        @if passkey.backup_eligible { "Synced across your devices" } @else { "On one device only" }
                        br;
                        "Added: " (when(passkey.created_at)) ", last used: "
                        @match passkey.last_used_at {
                            Some(at) => { (when(at)) }
                            None => { "never" }
                        }
                        (form(ACCOUNT_PATH, &ctx.csrf, html! {
                            input type="hidden" name="action" value="rename";
                            input type="hidden" name="passkey" value=(passkey.id.to_hex());
                            @let id = format!("name-{}", passkey.id.to_hex());
                            label for=(id) { "New name" }
                            input id=(id) type="text" name="name" value=(passkey.name) autocomplete="off" maxlength="64";
                            button.secondary type="submit" aria-label={ "Rename " (passkey.name) } { "Rename" }
                        }))
                        (form(ACCOUNT_PATH, &ctx.csrf, html! {
                            input type="hidden" name="action" value="remove";
                            input type="hidden" name="passkey" value=(passkey.id.to_hex());
                            button.danger type="submit" aria-label={ "Remove " (passkey.name) } { "Remove" }
                        }))
                    }
                }
            }
            h2 { "Add a passkey" }
            p #passkey-unsupported hidden { "This browser cannot make passkeys." }
            form #passkey-add method="post" action=(ADD_PATH) novalidate {
                input type="hidden" name="csrf" value=(ctx.csrf);
                input type="hidden" name="ceremony" value="";
                input type="hidden" name="credential" value="";
                (views::field(&Field::new("name", "Name", "text", "off")
                    .value("Passkey")
                    .hint("To tell it from your others, such as the device it is on.")))
                button type="submit" { "Add a passkey" }
                p.hint role="status" data-passkey-status {}
            }
            p { a href="/account" { "Back to your account" } }
            script src=(SCRIPT_PATH) defer {}
        },
    )
}

/// `/account/passkeys`: the list; renaming (`action=rename`) and removing
/// (`action=remove`, after a recent sign-in) one.
pub async fn account_page<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let failed = |error| {
        answer_error(p.site, visit, error, |status, problems| {
            problem_page(p.site, status, &problems)
        })
    };
    let Some(caller) = holder.caller() else {
        return failed(DomainError::SessionEnded);
    };
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let now = Timestamp::now();
    let mut problem = None;
    if visit.method == Method::POST {
        let Ok(passkey) = PasskeyId::parse(visit.field("passkey")) else {
            return redirect(p.site, ACCOUNT_PATH, &[]);
        };
        let done = match visit.field("action") {
            "rename" => stored::rename(p.store, caller, passkey, visit.field("name"), now)
                .await
                .map(|_| "renamed"),
            "remove" => stored::remove(
                p.store,
                p.queue,
                p.mfa.step_up_max_age,
                caller,
                passkey,
                now,
            )
            .await
            .map(|()| "removed"),
            _ => return redirect(p.site, ACCOUNT_PATH, &[]),
        };
        match done {
            Ok(code) => return redirect(p.site, &format!("{ACCOUNT_PATH}?notice={code}"), &[]),
            Err(DomainError::Invalid(_)) => {
                problem = Some("A name is 1 to 64 characters.");
            }
            Err(DomainError::PasskeyNotFound) => return redirect(p.site, ACCOUNT_PATH, &[]),
            Err(error) => return failed(error),
        }
    }
    let passkeys = match stored::list(p.store, caller, now).await {
        Ok(passkeys) => passkeys,
        Err(error) => return failed(error),
    };
    let status = if problem.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let markup = passkeys_page(p, visit, &ctx, &passkeys, problem);
    page(p.site, status, markup, &ctx.cookies)
}

#[cfg(feature = "passkeys")]
pub use ceremonies::serve;

/// The passkey-pages function: the POSTs that carry WebAuthn.
#[cfg(feature = "passkeys")]
mod ceremonies {
    use lambda_http::{Error, Request};
    use serde_json::json;

    use super::*;
    use crate::http::problem::json_response;
    use crate::pages::session::signed_in;
    use crate::pages::web::{check_post, refused, MFA_COOKIE};
    use crate::passkeys::{self as webauthn, RelyingParty};

    /// Answers one of the passkey POSTs; every failure is a page (or JSON
    /// for the script's options request), never an `Err`.
    pub async fn serve<S: Store, Q: MailRequests>(
        pages: &Pages<'_, S, Q>,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        let visit = Visit::read(&request, pages.site);
        Ok(route(pages, rp, &visit).await)
    }

    async fn route<S: Store, Q: MailRequests>(
        p: &Pages<'_, S, Q>,
        rp: &RelyingParty,
        visit: &Visit,
    ) -> Response<Body> {
        let failed = |error| {
            answer_error(p.site, visit, error, |status, problems| {
                problem_page(p.site, status, &problems)
            })
        };
        if visit.method != Method::POST {
            return page(
                p.site,
                StatusCode::METHOD_NOT_ALLOWED,
                views::not_found(p.site),
                &[],
            );
        }
        let issuer = p.keys.issuer().await;
        let holder = match Holder::of(p.store, &issuer.policy.secrets, visit).await {
            Ok(holder) => holder,
            Err(error) => return failed(error),
        };
        if let Err(refusal) = check_post(p.site, &issuer.policy.secrets, visit, &holder) {
            return refused(p.site, refusal);
        }
        let now = Timestamp::now();
        match visit.path.as_str() {
            OPTIONS_PATH => {
                let Some(caller) = holder.caller() else {
                    let to = format!("/signin?return_to={ACCOUNT_PATH}");
                    return json_response(StatusCode::UNAUTHORIZED, &json!({ "signin": to }));
                };
                match webauthn::begin_registration(p.store, rp, caller, &visit.source_ip, now).await
                {
                    Ok(begun) => json_response(
                        StatusCode::OK,
                        &json!({ "publicKey": begun.options.public_key, "ceremony": begun.ceremony }),
                    ),
                    Err(DomainError::ReauthenticationRequired) => {
                        let to = format!("/signin?again=1&return_to={ACCOUNT_PATH}");
                        json_response(StatusCode::UNAUTHORIZED, &json!({ "signin": to }))
                    }
                    Err(error) => {
                        let message = match super::super::web::says(&error) {
                            super::super::web::Said::Form(text) => text,
                            _ => "The passkey could not be added; try again.".into(),
                        };
                        json_response(StatusCode::CONFLICT, &json!({ "message": message }))
                    }
                }
            }
            ADD_PATH => {
                let Some(caller) = holder.caller() else {
                    return failed(DomainError::SessionEnded);
                };
                let Ok(credential) = serde_json::from_str(visit.field("credential")) else {
                    return redirect(p.site, ACCOUNT_PATH, &[]);
                };
                let added = webauthn::finish_registration(
                    p.store,
                    p.queue,
                    rp,
                    caller,
                    visit.field("ceremony"),
                    visit.field("name"),
                    credential,
                    now,
                )
                .await;
                match added {
                    Ok(_) => redirect(p.site, &format!("{ACCOUNT_PATH}?notice=added"), &[]),
                    Err(error) => failed(error),
                }
            }
            SIGNIN_PATH => {
                let Ok(credential) = serde_json::from_str(visit.field("credential")) else {
                    return redirect(p.site, "/signin", &[]);
                };
                let opened = webauthn::finish_sign_in(
                    p.store,
                    &issuer,
                    rp,
                    visit.field("ceremony"),
                    credential,
                    visit.client.clone(),
                    now,
                )
                .await;
                match opened {
                    Ok(pair) => signed_in(p, visit, &holder, &issuer, pair).await,
                    Err(error) => failed(error),
                }
            }
            SECOND_FACTOR_OPTIONS_PATH => {
                let Some(mfa_token) = visit.cookie(MFA_COOKIE).filter(|token| !token.is_empty())
                else {
                    return json_response(
                        StatusCode::UNAUTHORIZED,
                        &json!({ "signin": "/signin" }),
                    );
                };
                match webauthn::begin_second_factor(p.store, rp, mfa_token, &visit.source_ip, now)
                    .await
                {
                    Ok(begun) => json_response(
                        StatusCode::OK,
                        &json!({ "publicKey": begun.options.public_key }),
                    ),
                    Err(DomainError::InvalidMfaToken) => {
                        json_response(StatusCode::UNAUTHORIZED, &json!({ "signin": "/signin" }))
                    }
                    Err(DomainError::PasskeyNotFound) => json_response(
                        StatusCode::CONFLICT,
                        &json!({ "message": "This account has no passkey: enter a code." }),
                    ),
                    Err(error) => {
                        let message = match super::super::web::says(&error) {
                            super::super::web::Said::Form(text) => text,
                            _ => "The passkey could not be asked for; enter a code.".into(),
                        };
                        json_response(StatusCode::CONFLICT, &json!({ "message": message }))
                    }
                }
            }
            SECOND_FACTOR_PATH => {
                let Some(mfa_token) = visit.cookie(MFA_COOKIE).filter(|token| !token.is_empty())
                else {
                    return redirect(p.site, "/signin", &[]);
                };
                let mut code_page = "/signin/code".to_string();
                if let Some(to) = visit.return_to() {
                    code_page.push_str("?return_to=");
                    code_page.extend(form_urlencoded::byte_serialize(to.as_bytes()));
                }
                let Ok(credential) = serde_json::from_str(visit.field("credential")) else {
                    return redirect(p.site, &code_page, &[]);
                };
                let opened = webauthn::finish_second_factor(
                    p.store,
                    &issuer,
                    rp,
                    mfa_token,
                    credential,
                    visit.client.clone(),
                    now,
                )
                .await;
                match opened {
                    Ok(pair) => signed_in(p, visit, &holder, &issuer, pair).await,
                    // The code page again, saying so: its code still works.
                    Err(DomainError::PasskeyRefused) => {
                        let glue = if code_page.contains('?') { '&' } else { '?' };
                        redirect(p.site, &format!("{code_page}{glue}{REFUSED_QUERY}"), &[])
                    }
                    Err(error) => failed(error),
                }
            }
            _ => page(p.site, StatusCode::NOT_FOUND, views::not_found(p.site), &[]),
        }
    }
}
