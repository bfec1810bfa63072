//! The pages without a session: sign in (and its code step), sign up,
//! forgotten password, the mailed links, sign out. Each GET only shows; each
//! POST (checked by `web::check_post` first) acts. A mailed link's GET never
//! spends its token: mail scanners open links before people do.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

use super::deletion;
use super::oauth::return_origin;
use super::session::signed_in;
use super::views::{self, field, form, layout, Field};
use super::web::{
    answer_error, page, page_for, redirect, Ctx, Holder, Pages, Problems, Store, Visit, MFA_COOKIE,
    SESSION_COOKIE,
};
use crate::domain::login::{Credentials, LoginOutcome, LoginPolicy};
use crate::domain::mfa::{self, Proof};
use crate::domain::ports::{MailRequest, MailRequests};
use crate::domain::recovery::{self, EmailConfirmed, MailToken};
use crate::domain::sessions;
use crate::domain::values::Timestamp;
use crate::domain::DomainError;
use crate::domain::{accounts, login};
use crate::http::bodies;
use crate::http::recovery::FORGOT_ANSWER;

/// The fixed messages a redirect to the sign-in page may ask for.
fn sign_in_notice(code: Option<&str>) -> Option<&'static str> {
    Some(match code? {
        "signed-out" => "You are signed out.",
        "everywhere" => "You are signed out on every device.",
        "deleted" => "Your account and everything linked to it were deleted.",
        "scheduled" => "Your account is scheduled for deletion and every device was signed out. The link we mailed you keeps it.",
        "reset" => "Your password was changed: sign in with the new one.",
        "password" => "Your password was changed: every other device was signed out.",
        _ => return None,
    })
}

fn hidden_return_to(visit: &Visit, again: bool) -> Markup {
    html! {
        @if let Some(to) = visit.return_to() {
            input type="hidden" name="return_to" value=(to);
        }
        @if again {
            input type="hidden" name="again" value="1";
        }
    }
}

fn signin_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    visit: &Visit,
    ctx: &Ctx,
    again: bool,
    problems: &Problems,
) -> Markup {
    let notice = if again
        && visit
            .return_to()
            .is_some_and(|to| to.starts_with("/oauth2/"))
    {
        Some("The app that sent you here asks you to sign in again.")
    } else if again {
        Some("For this change, sign in again first.")
    } else {
        sign_in_notice(visit.query("notice"))
    };
    let mut email = visit.echo("email");
    if email.is_empty() {
        // An app's `login_hint`, passed on by the authorization endpoint.
        email = visit
            .query("login_hint")
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect();
    }
    layout(
        p.site,
        "Sign in",
        ctx.signed_in,
        html! {
            (views::notice(notice))
            (views::alert(problems.form.as_deref()))
            (form("/signin", &ctx.csrf, html! {
                (hidden_return_to(visit, again))
                (field(&Field::new("email", "E-mail address", "email", "username webauthn").value(&email).error(problems.field("email"))))
                (field(&Field::new("password", "Password", "password", "current-password").error(problems.field("password"))))
                button type="submit" { "Sign in" }
            }))
            (super::passkeys::signin_form(ctx, visit.return_to()))
            p { a href="/forgot-password" { "Forgot your password?" } }
            p { "No account yet? " a href="/signup" { "Create one" } }
            @if problems.restore_offer { (deletion::restore_offer(visit, ctx)) }
        },
    )
}

/// `/signin`: e-mail and password; then the code step for an account with a
/// second factor. `again=1` (step-up) shows the form to a signed-in visitor.
pub async fn signin<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let issuer = p.keys.issuer().await;
    let again = visit.query("again").is_some() || visit.field("again") == "1";
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let app = return_origin(p, visit.return_to().as_deref()).await;
    if visit.method == Method::GET {
        if holder.caller().is_some() && !again {
            let to = visit.return_to().unwrap_or_else(|| "/account".into());
            return redirect(p.site, &to, &[]);
        }
        let markup = signin_page(p, visit, &ctx, again, &visit.problems());
        return page_for(p.site, StatusCode::OK, markup, &ctx.cookies, app.as_deref());
    }
    let rerender = |status, problems: Problems| {
        page_for(
            p.site,
            status,
            signin_page(p, visit, &ctx, again, &problems),
            &ctx.cookies,
            app.as_deref(),
        )
    };
    let body = visit.fields_as_json(&["email", "password"]);
    let credentials = match bodies::credentials(&body, visit.source_ip.clone()) {
        Ok(credentials) => Credentials {
            user_agent: visit.user_agent.clone(),
            ..credentials
        },
        Err(errors) => {
            return rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                Problems::of_fields(errors),
            )
        }
    };
    let now = Timestamp::now();
    let policy = LoginPolicy {
        restore_scheduled_deletion: deletion::restoring(visit),
        ..p.login
    };
    match login::login_with(p.store, &issuer, credentials, policy, now).await {
        Ok(LoginOutcome::Tokens(pair)) => signed_in(p, visit, holder, &issuer, pair).await,
        Ok(LoginOutcome::MfaRequired(pending)) => {
            let mut to = "/signin/code".to_string();
            if let Some(return_to) = visit.return_to() {
                to.push_str("?return_to=");
                to.extend(form_urlencoded::byte_serialize(return_to.as_bytes()));
            }
            let cookie = p
                .site
                .set_cookie(MFA_COOKIE, &pending.mfa_token, pending.expires_in);
            redirect(p.site, &to, &[cookie])
        }
        Err(error @ DomainError::AccountScheduledForDeletion { .. }) => {
            answer_error(p.site, visit, error, |status, problems| {
                rerender(status, problems.offering_restore())
            })
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}

fn code_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    visit: &Visit,
    ctx: &Ctx,
    problems: &Problems,
) -> Markup {
    layout(
        p.site,
        "Enter your code",
        false,
        html! {
            @let refused = visit.query("passkey") == Some("refused");
            (views::alert(problems.form.as_deref().or(refused.then_some(
                "The passkey was not accepted: try again, or enter a code.",
            ))))
            (form("/signin/code", &ctx.csrf, html! {
                (hidden_return_to(visit, false))
                (field(&Field::new("code", "Code", "text", "one-time-code")
                    .error(problems.field("code"))
                    .hint("The 6-digit code of your authenticator app, or one of your recovery codes.")))
                button type="submit" { "Continue" }
            }))
            (super::passkeys::second_factor_form(ctx, visit.return_to()))
            p { a href="/signin" { "Start again" } }
        },
    )
}

/// `/signin/code`: the second step, with the `mfa_token` of the first in
/// its HttpOnly cookie.
pub async fn signin_code<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let Some(mfa_token) = visit.cookie(MFA_COOKIE).filter(|token| !token.is_empty()) else {
        return redirect(p.site, "/signin", &[]);
    };
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let app = return_origin(p, visit.return_to().as_deref()).await;
    if visit.method == Method::GET {
        let markup = code_page(p, visit, &ctx, &visit.problems());
        return page_for(p.site, StatusCode::OK, markup, &ctx.cookies, app.as_deref());
    }
    let rerender = |status, problems: Problems| {
        page_for(
            p.site,
            status,
            code_page(p, visit, &ctx, &problems),
            &ctx.cookies,
            app.as_deref(),
        )
    };
    let Some(proof) = proof(visit.field("code")) else {
        let mut problems = Problems::default();
        problems.fields.insert(
            "code".into(),
            "Enter the 6 digits of your app, or a recovery code (xxxx-xxxx-xxxx-xxxx).".into(),
        );
        return rerender(StatusCode::UNPROCESSABLE_ENTITY, problems);
    };
    let now = Timestamp::now();
    match mfa::verify(
        p.store,
        &issuer,
        p.mfa,
        mfa_token,
        proof,
        visit.client.clone(),
        now,
    )
    .await
    {
        Ok(pair) => signed_in(p, visit, holder, &issuer, pair).await,
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}

/// Six digits are a TOTP code; anything else must be a recovery code.
pub fn proof(raw: &str) -> Option<Proof> {
    let raw = raw.trim();
    if raw.len() == 6 && raw.bytes().all(|b| b.is_ascii_digit()) {
        Some(Proof::Totp(raw.to_string()))
    } else {
        mfa::normalise_recovery_code(raw).map(Proof::Recovery)
    }
}

fn signup_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    visit: &Visit,
    ctx: &Ctx,
    problems: &Problems,
) -> Markup {
    let (username, email) = (visit.echo("username"), visit.echo("email"));
    layout(
        p.site,
        "Create an account",
        ctx.signed_in,
        html! {
            (views::alert(problems.form.as_deref()))
            (form("/signup", &ctx.csrf, html! {
                (field(&Field::new("username", "Username", "text", "username").value(&username)
                    .error(problems.field("username"))
                    .hint("3 to 50 letters, digits, dots, dashes or underscores.")))
                (field(&Field::new("email", "E-mail address", "email", "email").value(&email)
                    .error(problems.field("email"))))
                (field(&Field::new("password", "Password", "password", "new-password")
                    .error(problems.field("password"))
                    .hint("At least 8 characters; a few unusual words make a strong one.")))
                button type="submit" { "Create the account" }
            }))
            p { "Have an account? " a href="/signin" { "Sign in" } }
        },
    )
}

/// `/signup`: the API's registration rules; then "check your mail".
pub async fn signup<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    if visit.method == Method::GET {
        let markup = signup_page(p, visit, &ctx, &visit.problems());
        return page(p.site, StatusCode::OK, markup, &ctx.cookies);
    }
    let rerender = |status, problems: Problems| {
        page(
            p.site,
            status,
            signup_page(p, visit, &ctx, &problems),
            &ctx.cookies,
        )
    };
    let body = visit.fields_as_json(&["username", "email", "password"]);
    let registration = match bodies::registration(&body) {
        Ok(registration) => registration,
        Err(errors) => {
            return rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                Problems::of_fields(errors),
            )
        }
    };
    match accounts::register(p.store, registration, Timestamp::now()).await {
        Ok(user_id) => {
            let mail = MailRequest::EmailVerification { user_id };
            if let Err(cause) = p.queue.request_mail(&mail).await {
                tracing::error!(user_id = %user_id, cause, "verification mail not requested");
            }
            let markup = views::message(
                p.site,
                false,
                "Check your mail",
                "Your account is ready. We sent a link to your e-mail address: follow it to confirm the address.",
                ("/signin", "Sign in"),
            );
            page(p.site, StatusCode::CREATED, markup, &ctx.cookies)
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}

fn forgot_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    visit: &Visit,
    ctx: &Ctx,
    problems: &Problems,
) -> Markup {
    let email = visit.echo("email");
    layout(
        p.site,
        "Forgot your password?",
        ctx.signed_in,
        html! {
            p { "Enter the e-mail address of your account: we will mail you a link to choose a new password." }
            (views::alert(problems.form.as_deref()))
            (form("/forgot-password", &ctx.csrf, html! {
                (field(&Field::new("email", "E-mail address", "email", "email").value(&email).error(problems.field("email"))))
                button type="submit" { "Send the link" }
            }))
        },
    )
}

/// `/forgot-password`: the same answer whether or not an account has the
/// address (the API's use case and throttle).
pub async fn forgot_password<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    if visit.method == Method::GET {
        let markup = forgot_page(p, visit, &ctx, &visit.problems());
        return page(p.site, StatusCode::OK, markup, &ctx.cookies);
    }
    let rerender = |status, problems: Problems| {
        page(
            p.site,
            status,
            forgot_page(p, visit, &ctx, &problems),
            &ctx.cookies,
        )
    };
    let email = match bodies::forgot(&visit.fields_as_json(&["email"])) {
        Ok(email) => email,
        Err(errors) => {
            return rerender(
                StatusCode::UNPROCESSABLE_ENTITY,
                Problems::of_fields(errors),
            )
        }
    };
    let asked = recovery::forgot_password(
        p.store,
        p.queue,
        email,
        &visit.source_ip,
        p.forgot_per_source,
        Timestamp::now(),
    )
    .await;
    match asked {
        Ok(()) => {
            let markup = views::message(
                p.site,
                ctx.signed_in,
                "Check your mail",
                FORGOT_ANSWER,
                ("/signin", "Back to sign-in"),
            );
            page(p.site, StatusCode::OK, markup, &ctx.cookies)
        }
        Err(error) => answer_error(p.site, visit, error, rerender),
    }
}

/// The token of a mailed link: the query's on GET, the form's on POST.
fn link_token(visit: &Visit) -> Option<MailToken> {
    let raw = if visit.method == Method::GET {
        visit.query("token").unwrap_or_default()
    } else {
        visit.field("token")
    };
    MailToken::parse(raw.to_string()).ok()
}

fn invalid_link(p: &Pages<'_, impl Store, impl MailRequests>, ctx: &Ctx) -> Response<Body> {
    let markup = views::message(
        p.site,
        ctx.signed_in,
        "This link does not work",
        "The link is incomplete or not valid any more: it was used, replaced or has expired. Ask for a new one.",
        ("/signin", "Go to sign-in"),
    );
    page(p.site, StatusCode::BAD_REQUEST, markup, &ctx.cookies)
}

fn reset_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    token: &MailToken,
    problems: &Problems,
) -> Markup {
    layout(
        p.site,
        "Choose a new password",
        ctx.signed_in,
        html! {
            p { "Every device signed in to the account will be signed out." }
            (views::alert(problems.form.as_deref()))
            (form("/reset-password", &ctx.csrf, html! {
                input type="hidden" name="token" value=(token.expose());
                (field(&Field::new("new_password", "New password", "password", "new-password")
                    .error(problems.field("new_password"))
                    .hint("At least 8 characters; a few unusual words make a strong one.")))
                button type="submit" { "Change the password" }
            }))
        },
    )
}

/// `/reset-password?token=`: the form; its POST spends the token.
pub async fn reset_password<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let Some(token) = link_token(visit) else {
        return invalid_link(p, &ctx);
    };
    if visit.method == Method::GET {
        let markup = reset_page(p, &ctx, &token, &visit.problems());
        return page(p.site, StatusCode::OK, markup, &ctx.cookies);
    }
    let password = visit.field("new_password").to_string();
    match recovery::reset_password(p.store, p.queue, &token, password, Timestamp::now()).await {
        Ok(()) => redirect(
            p.site,
            "/signin?notice=reset",
            &[p.site.set_cookie(SESSION_COOKIE, "", 0)],
        ),
        Err(error) => answer_error(p.site, visit, error, |status, problems| {
            page(
                p.site,
                status,
                reset_page(p, &ctx, &token, &problems),
                &ctx.cookies,
            )
        }),
    }
}

/// Which mailed link a confirmation page is.
#[derive(Clone, Copy)]
pub enum Link {
    /// `/verify-email`: a new account's address, or a new address.
    Verify,
    /// `/confirm-email-change`: the current address agrees to a change.
    ConfirmChange,
    /// `/cancel-email-change`: the current address cancels a change.
    CancelChange,
}

fn link_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    link: Link,
    token: &MailToken,
    problems: &Problems,
) -> Markup {
    let (title, text, action, button) = match link {
        Link::Verify => ("Confirm your e-mail address", "Confirm that this address is yours.", "/verify-email", "Confirm the address"),
        Link::ConfirmChange => (
            "Confirm the change of address",
            "A change of your account's e-mail address was asked for. Confirm it if it was you.",
            "/confirm-email-change",
            "Confirm the change",
        ),
        Link::CancelChange => (
            "Cancel the change of address",
            "A change of your account's e-mail address was asked for. If it was not you, cancel it, then change your password: whoever asked knew it.",
            "/cancel-email-change",
            "Cancel the change",
        ),
    };
    layout(
        p.site,
        title,
        ctx.signed_in,
        html! {
            p { (text) }
            (views::alert(problems.form.as_deref()))
            (form(action, &ctx.csrf, html! {
                input type="hidden" name="token" value=(token.expose());
                @if matches!(link, Link::CancelChange) {
                    p {
                        input type="checkbox" id="end_sessions" name="end_sessions" value="1";
                        " "
                        label for="end_sessions" .inline { "Also sign out every device" }
                    }
                }
                button type="submit" { (button) }
            }))
        },
    )
}

/// The mailed links of verification and e-mail change: GET shows what will
/// happen; POST spends the token.
pub async fn mailed_link<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
    link: Link,
) -> Response<Body> {
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let Some(token) = link_token(visit) else {
        return invalid_link(p, &ctx);
    };
    if visit.method == Method::GET {
        let markup = link_page(p, &ctx, link, &token, &visit.problems());
        return page(p.site, StatusCode::OK, markup, &ctx.cookies);
    }
    let now = Timestamp::now();
    let done = match link {
        Link::Verify | Link::ConfirmChange => {
            recovery::verify_email(p.store, p.queue, &token, now)
                .await
                .map(|confirmed| match confirmed {
                    EmailConfirmed::AddressVerified => "Your e-mail address is confirmed.",
                    EmailConfirmed::ChangeApplied => "Your e-mail address is changed and confirmed.",
                    EmailConfirmed::ChangeWaiting => {
                        "Confirmed. The address changes once the link mailed to the other address is followed too."
                    }
                })
        }
        Link::CancelChange => {
            let end = visit.field("end_sessions") == "1";
            recovery::cancel_email_change_by_link(p.store, &token, end, now)
                .await
                .map(|ended| match ended {
                    Some(_) => "The change was cancelled and every device signed out. Change your password now.",
                    None => "The change was cancelled. If it was not you, change your password now.",
                })
        }
    };
    match done {
        Ok(text) => {
            let (to, label) = if ctx.signed_in {
                ("/account", "Go to your account")
            } else {
                ("/signin", "Sign in")
            };
            let markup = views::message(p.site, ctx.signed_in, "Done", text, (to, label));
            page(p.site, StatusCode::OK, markup, &ctx.cookies)
        }
        Err(error) => answer_error(p.site, visit, error, |status, problems| {
            page(
                p.site,
                status,
                link_page(p, &ctx, link, &token, &problems),
                &ctx.cookies,
            )
        }),
    }
}

/// `/signout`: GET asks, POST ends this browser's session.
pub async fn signout<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let Some(caller) = holder.caller() else {
        return redirect(
            p.site,
            "/signin",
            &[p.site.set_cookie(SESSION_COOKIE, "", 0)],
        );
    };
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    if visit.method == Method::GET {
        let markup = layout(
            p.site,
            "Sign out",
            true,
            html! {
                p { "Sign out on this device?" }
                (form("/signout", &ctx.csrf, html! { button type="submit" { "Sign out" } }))
            },
        );
        return page(p.site, StatusCode::OK, markup, &ctx.cookies);
    }
    if let Err(error) = sessions::logout(p.store, caller, Timestamp::now()).await {
        tracing::info!(%error, "signing out a session that had ended");
    }
    redirect(
        p.site,
        "/signin?notice=signed-out",
        &[p.site.set_cookie(SESSION_COOKIE, "", 0)],
    )
}
