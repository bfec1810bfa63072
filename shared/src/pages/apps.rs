//! `/account/apps` (issue #22): the apps with access to the account (each
//! OAuth client with the scopes it holds and when it last used them), and a
//! button per app that ends its grants and forgets the consent. The rules
//! are `domain::apps`'; this file only draws them.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::html;

use super::views::{form, layout};
use super::web::{answer_error, page, problem_page, redirect, Ctx, Holder, Pages, Store, Visit};
use crate::domain::apps;
use crate::domain::clients::{Scope, Scopes};
use crate::domain::ports::MailRequests;
use crate::domain::registration::ID_PREFIX;
use crate::domain::values::Timestamp;
use crate::domain::DomainError;

pub const APPS: &str = "/account/apps";

/// The account page's link here.
pub fn link() -> maud::Markup {
    html! { li { a href=(APPS) { "Apps with access" } } }
}

fn scope_words(scope: &str) -> String {
    let Some(scopes) = Scopes::parse(scope) else {
        return "nothing".into();
    };
    let words: Vec<&str> = scopes
        .iter()
        .map(|scope| match scope {
            Scope::OpenId => "who you are",
            Scope::Profile => "your username",
            Scope::Email => "your e-mail address",
            Scope::OfflineAccess => "access while you are away",
        })
        .collect();
    words.join(", ")
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

/// `GET|POST /account/apps`: the list; `POST` (`client`) revokes one.
pub async fn apps_page<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let fail = |error: DomainError| {
        answer_error(p.site, visit, error, |status, problems| {
            problem_page(p.site, status, &problems)
        })
    };
    let Some(caller) = holder.caller() else {
        return fail(DomainError::SessionEnded);
    };
    let issuer = p.keys.issuer().await;
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let now = Timestamp::now();
    if visit.method == Method::POST {
        let client = visit.field("client");
        if client.is_empty() || client.len() > 128 {
            return redirect(p.site, APPS, &[]);
        }
        return match apps::revoke(p.store, caller.user_id, client, now).await {
            Ok(_) => redirect(p.site, &format!("{APPS}?notice=revoked"), &[]),
            Err(error) => fail(error),
        };
    }
    let listed = match apps::list(p.store, caller.user_id, now).await {
        Ok(listed) => listed,
        Err(error) => return fail(error),
    };
    let registry = p.clients.registry().await;
    let mut named = Vec::with_capacity(listed.len());
    for app in listed {
        let name = match (&app.name, registry.find(&app.client_id)) {
            (Some(name), _) => name.clone(),
            (None, Some(client)) => client.name.clone(),
            (None, None) if app.client_id.starts_with(ID_PREFIX) => p
                .store
                .find_registered_client(&app.client_id, now)
                .await
                .ok()
                .flatten()
                .map(|client| client.name)
                .unwrap_or_else(|| app.client_id.clone()),
            (None, None) => app.client_id.clone(),
        };
        named.push((name, app));
    }
    let notice = (visit.query("notice") == Some("revoked"))
        .then_some("The app's access was removed; it has to ask you again.");
    let markup = layout(
        p.site,
        "Apps with access",
        true,
        html! {
            (super::views::notice(notice))
            @if named.is_empty() {
                p { "No app has access to your account." }
            } @else {
                p { "Apps you allowed to use your account, and those signed in with it." }
                ul.devices {
                    @for (name, app) in &named {
                        li {
                            strong { (name) }
                            br;
                            "May see: " (scope_words(&app.scope))
                            br;
                            @match app.last_used {
                                Some(at) => { "Last used: " (when(at)) }
                                None => { "Not signed in now" }
                            }
                            (form(APPS, &ctx.csrf, html! {
                                input type="hidden" name="client" value=(app.client_id);
                                button.danger type="submit" aria-label={ "Remove access of " (name) } { "Remove access" }
                            }))
                        }
                    }
                }
            }
            p { a href="/account" { "Back to your account" } }
        },
    );
    page(p.site, StatusCode::OK, markup, &ctx.cookies)
}
