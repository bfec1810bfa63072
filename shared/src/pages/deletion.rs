//! The pages of a deletion with a grace period (issue #24): the mailed
//! restore link (GET shows a button, POST spends the token) and the sign-in
//! page's offer to restore, after the password, of an account scheduled for
//! deletion. `anonymous` and `account` call in here with one line each.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

use super::views::{self, field, form, layout, Field};
use super::web::{answer_error, page, Ctx, Holder, Pages, Problems, Store, Visit};
use crate::domain::deletion::{self, GracePeriod};
use crate::domain::mail_token::MailToken;
use crate::domain::ports::MailRequests;
use crate::domain::values::Timestamp;

/// The path of the mailed link (`mail::render`'s `restore-account`).
pub const RESTORE: &str = "/restore-account";

/// A date as people read it: `2026-12-14 at 10:00:00 UTC`.
pub fn day_and_time(instant: Timestamp) -> String {
    let text = instant.to_rfc3339().replace('T', " at ");
    format!("{} UTC", text.trim_end_matches('Z'))
}

/// What the account page's delete form says will happen.
pub fn delete_warning(grace: GracePeriod) -> Markup {
    let days = grace.duration().as_secs() / 86_400;
    html! {
        @if grace.is_immediate() {
            p { "This deletes your account for good: your username, e-mail address, password, two-step sign-in and recovery codes, every signed-in device, and the data linked to the account. It cannot be undone." }
        } @else {
            p { "Every device is signed out at once and the account cannot be used. It is deleted for good after " (days) " days: your username, e-mail address, password, two-step sign-in and recovery codes, and the data linked to the account. Until then, the link we mail you keeps it." }
        }
    }
}

fn token_of(visit: &Visit) -> Option<MailToken> {
    let raw = if visit.method == Method::GET {
        visit.query("token").unwrap_or_default()
    } else {
        visit.field("token")
    };
    MailToken::parse(raw.to_string()).ok()
}

fn restore_page(
    p: &Pages<'_, impl Store, impl MailRequests>,
    ctx: &Ctx,
    token: &MailToken,
    problems: &Problems,
) -> Markup {
    layout(
        p.site,
        "Keep your account",
        ctx.signed_in,
        html! {
            p { "The deletion of your account was asked for. Keep the account, and sign in again afterwards." }
            (views::alert(problems.form.as_deref()))
            (form(RESTORE, &ctx.csrf, html! {
                input type="hidden" name="token" value=(token.expose());
                button type="submit" { "Keep my account" }
            }))
        },
    )
}

/// `/restore-account?token=…`: GET shows the button; POST restores.
pub async fn restore<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let Some(token) = token_of(visit) else {
        let markup = views::message(
            p.site,
            ctx.signed_in,
            "This link does not work",
            "The link is incomplete or not valid any more: it was used, or the account was deleted.",
            ("/signin", "Go to sign-in"),
        );
        return page(p.site, StatusCode::BAD_REQUEST, markup, &ctx.cookies);
    };
    if visit.method == Method::GET {
        let markup = restore_page(p, &ctx, &token, &visit.problems());
        return page(p.site, StatusCode::OK, markup, &ctx.cookies);
    }
    match deletion::restore_by_link(p.store, &token, Timestamp::now()).await {
        Ok(_) => {
            let markup = views::message(
                p.site,
                ctx.signed_in,
                "Your account is kept",
                "The deletion was called off. Sign in again: every device was signed out.",
                ("/signin", "Sign in"),
            );
            page(p.site, StatusCode::OK, markup, &ctx.cookies)
        }
        Err(error) => answer_error(p.site, visit, error, |status, problems| {
            page(
                p.site,
                status,
                restore_page(p, &ctx, &token, &problems),
                &ctx.cookies,
            )
        }),
    }
}

/// The sign-in page's offer, under its form, once the password showed the
/// account is scheduled for deletion: the password again and the button
/// restore it and sign in (`LoginPolicy::restore_scheduled_deletion`).
pub fn restore_offer(visit: &Visit, ctx: &Ctx) -> Markup {
    html! {
        h2 { "Keep this account" }
        (form("/signin", &ctx.csrf, html! {
            input type="hidden" name="restore" value="1";
            @if let Some(to) = visit.return_to() {
                input type="hidden" name="return_to" value=(to);
            }
            (field(&Field::new("email", "E-mail address", "email", "username").value(&visit.echo("email"))))
            (field(&Field::new("password", "Password", "password", "current-password")))
            button type="submit" { "Keep my account and sign in" }
        }))
    }
}

/// Whether the sign-in form is the restore offer's.
pub fn restoring(visit: &Visit) -> bool {
    visit.method == Method::POST && visit.field("restore") == "1"
}
