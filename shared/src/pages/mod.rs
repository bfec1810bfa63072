//! Pages for people (issue #20): server-rendered HTML over the same use
//! cases as the API, a second edge beside `http`. One Lambda function serves
//! them all (`functions/src/bin/pages.rs`); `serve` routes by path.
//!
//! `site` (branding, stylesheet, policy, cookies) and `views` (templates)
//! are leaves; `web` is what every page shares (the visit, its holder, the
//! CSRF and origin checks, answers, error wording); `anonymous` and
//! `account` are the pages. docs/pages.md has the model.

pub mod account;
pub mod anonymous;
pub mod apps;
pub mod deletion;
pub mod export;
pub mod oauth;
pub mod passkeys;
pub mod session;
pub mod site;
pub mod views;
pub mod web;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};

use self::anonymous::Link;
use self::web::{check_post, page, refused, Holder, Pages, Store, Visit};
use crate::domain::activity;
use crate::domain::ports::MailRequests;

/// The paths the pages function serves (and `functions.yaml` routes to it).
pub const PATHS: [&str; 23] = [
    "/signin",
    "/signin/code",
    "/signup",
    "/forgot-password",
    "/reset-password",
    "/verify-email",
    "/confirm-email-change",
    "/cancel-email-change",
    "/signout",
    "/account",
    "/account/password",
    "/account/email",
    "/account/mfa",
    "/account/sessions",
    "/account/delete",
    passkeys::ACCOUNT_PATH,
    apps::APPS,
    oauth::AUTHORIZE,
    oauth::CONSENT,
    oauth::LOGOUT,
    oauth::LOGOUT_CONFIRM,
    deletion::RESTORE,
    export::EXPORT,
];

/// Answers one page request: every failure is a page, never an `Err`.
pub async fn serve<S: Store, Q: MailRequests>(
    pages: &Pages<'_, S, Q>,
    request: Request,
) -> Result<Response<Body>, Error> {
    use tracing::Instrument;
    let span = tracing::info_span!("page", source_ip = %crate::http::request::source_ip(&request));
    // The security activity a page's change writes names this browser.
    let client = crate::http::edge::client_info(&request);
    let answering = Box::pin(route(pages, &request).instrument(span));
    Ok(activity::from_client(client, answering).await)
}

async fn route<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    request: &Request,
) -> Response<Body> {
    let mut visit = Visit::read(request, p.site);
    if visit.method != Method::GET && visit.method != Method::POST {
        return page(
            p.site,
            StatusCode::METHOD_NOT_ALLOWED,
            views::not_found(p.site),
            &[],
        );
    }
    let issuer = p.keys.issuer().await;
    let holder = match Holder::of(p.store, &issuer.policy.secrets, &visit).await {
        Ok(holder) => holder,
        Err(error) => {
            return web::answer_error(p.site, &visit, error, |status, problems| {
                web::problem_page(p.site, status, &problems)
            })
        }
    };
    if visit.method == Method::POST {
        if visit.too_large {
            // The page's form again, empty, with what happened (413).
            tracing::info!(path = %visit.path, "form body too large");
            visit.method = Method::GET;
            let mut response = dispatch(p, &visit, &holder).await;
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            }
            return response;
        }
        let open = oauth::OPEN_POSTS.contains(&visit.path.as_str());
        if open {
            // A relying party's form: an authorization or logout request,
            // judged as its GET is.
        } else if let Err(refusal) = check_post(p.site, &issuer.policy.secrets, &visit, &holder) {
            return refused(p.site, refusal);
        }
    }
    dispatch(p, &visit, &holder).await
}

async fn dispatch<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    match visit.path.as_str() {
        "/signin" => anonymous::signin(p, visit, holder).await,
        "/signin/code" => anonymous::signin_code(p, visit, holder).await,
        "/signup" => anonymous::signup(p, visit, holder).await,
        "/forgot-password" => anonymous::forgot_password(p, visit, holder).await,
        "/reset-password" => anonymous::reset_password(p, visit, holder).await,
        "/verify-email" => anonymous::mailed_link(p, visit, holder, Link::Verify).await,
        "/confirm-email-change" => {
            anonymous::mailed_link(p, visit, holder, Link::ConfirmChange).await
        }
        "/cancel-email-change" => {
            anonymous::mailed_link(p, visit, holder, Link::CancelChange).await
        }
        "/signout" => anonymous::signout(p, visit, holder).await,
        "/account" => account::account(p, visit, holder).await,
        apps::APPS => apps::apps_page(p, visit, holder).await,
        "/account/password" => account::password(p, visit, holder).await,
        "/account/email" => account::email(p, visit, holder).await,
        "/account/mfa" => account::mfa(p, visit, holder).await,
        "/account/sessions" => account::sessions_page(p, visit, holder).await,
        "/account/delete" => account::delete(p, visit, holder).await,
        passkeys::ACCOUNT_PATH => passkeys::account_page(p, visit, holder).await,
        passkeys::SCRIPT_PATH => passkeys::script(),
        oauth::AUTHORIZE => oauth::authorize(p, visit, holder).await,
        oauth::CONSENT => oauth::consent_answer(p, visit, holder).await,
        oauth::LOGOUT => oauth::logout(p, visit, holder).await,
        oauth::LOGOUT_CONFIRM => oauth::logout_confirm(p, visit, holder).await,
        deletion::RESTORE => deletion::restore(p, visit, holder).await,
        export::EXPORT => export::export_page_or_file(p, visit, holder).await,
        _ => page(p.site, StatusCode::NOT_FOUND, views::not_found(p.site), &[]),
    }
}
