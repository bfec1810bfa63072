//! The OpenID Provider's pages (issue #21): the authorization endpoint, the
//! consent page and RP-Initiated Logout. They live with the other pages
//! because they need the browser session: the sign-in behind an
//! authorization is the sign-in page itself (second factor included), and
//! its `return_to` brings the browser back here.
//!
//! `domain::authorize` judges the request; this file only decides what the
//! browser sees: an error page when the client or its redirect URI cannot
//! be trusted, a redirect to the client otherwise.

use std::sync::Arc;

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Response};
use maud::{html, Markup};

use super::views::{self, form, layout};
use super::web::{
    page, page_for, redirect, redirect_to_client, Ctx, Holder, Pages, Store, Visit, SESSION_COOKIE,
};
use crate::domain::authorize::{
    self, with_query, AuthorizationRequest, AuthorizeErrorCode, AuthorizeOutcome, PageError,
};
use crate::domain::clients::{Client, ClientRegistry, Scope};
use crate::domain::oauth::{self, SignedIn};
use crate::domain::ports::MailRequests;
use crate::domain::registration;
use crate::domain::sessions;
use crate::domain::tokens::Caller;
use crate::domain::values::Timestamp;
use crate::domain::{consent, DomainError};

pub const AUTHORIZE: &str = "/oauth2/authorize";
pub const CONSENT: &str = "/oauth2/consent";
pub const LOGOUT: &str = "/oauth2/logout";
pub const LOGOUT_CONFIRM: &str = "/oauth2/logout/confirm";

/// POSTs a relying party's own page sends (cross-site, without our CSRF
/// token): they only ask. Nothing acts on them without the session's own
/// state (a code for a session that exists; a sign-out only with a hint
/// naming the session's user), as their GETs.
pub const OPEN_POSTS: [&str; 2] = [AUTHORIZE, LOGOUT];

/// The marker the authorize endpoint adds to the `return_to` of a sign-in it
/// asked for (`prompt=login`, `max_age`): the time it asked. A session that
/// signed in at or after it is fresh, so the request does not loop.
const LOGIN_AFTER: &str = "login_after";
/// How old a `login_after` may be: a sign-in's time, no more (the browser
/// can write it, so it must not stretch a `max_age`).
const LOGIN_AFTER_WINDOW_SECONDS: u64 = 600;

/// `GET|POST /oauth2/authorize`.
pub async fn authorize<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let parameters = if visit.method == Method::POST {
        visit.form_pairs()
    } else {
        visit.query_pairs()
    };
    let registry = clients_for(p, parameters).await;
    let issuer = p.keys.issuer().await;
    let request = match authorize::validate(parameters, &registry) {
        AuthorizeOutcome::Valid(request) => request,
        AuthorizeOutcome::Page(error) => return error_page(p, error),
        AuthorizeOutcome::Redirect(error) => {
            return redirect_to_client(
                p.site,
                StatusCode::FOUND,
                &error.location(issuer.signer.issuer()),
                &[],
            )
        }
    };
    let Some(client) = registry.find(&request.client_id) else {
        return error_page(p, PageError::UnknownClient);
    };
    let iss = issuer.signer.issuer();
    let now = Timestamp::now();
    let refuse = |code, description| {
        redirect_to_client(
            p.site,
            StatusCode::FOUND,
            &request.error(code, description).location(iss),
            &[],
        )
    };
    let fresh = |caller: &Caller| is_fresh(&request, parameters, caller.auth.auth_time, now);
    let caller = match holder.caller() {
        Some(caller) if fresh(caller) => caller,
        _ if request.prompt.none => {
            return refuse(
                AuthorizeErrorCode::LoginRequired,
                "the person is not signed in",
            )
        }
        signed_in => return to_sign_in(p, &request, parameters, signed_in.is_some(), now),
    };
    // A hint naming someone else: that person must sign in, not this one.
    if let Some(hint) = &request.id_token_hint {
        let named = issuer.verifier.id_token_hint(hint).ok();
        if named.is_some_and(|named| named.user_id != caller.user_id) {
            if request.prompt.none {
                return refuse(
                    AuthorizeErrorCode::LoginRequired,
                    "another person is signed in",
                );
            }
            return to_sign_in(p, &request, parameters, true, now);
        }
    }
    let asks = match consent::needed(
        p.store,
        caller.user_id,
        client,
        &request.scopes,
        request.prompt.consent,
    )
    .await
    {
        Ok(asks) => asks,
        Err(error) => return failed(p, &request, iss, error, StatusCode::FOUND),
    };
    if !asks {
        return issue(p, caller, &request, iss, StatusCode::FOUND).await;
    }
    if request.prompt.none {
        return refuse(
            AuthorizeErrorCode::ConsentRequired,
            "the person has not allowed this client",
        );
    }
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let lifetime = issuer.signer.access_token_ttl().as_secs();
    let markup = consent_page(p, &ctx, client, &request, parameters, lifetime);
    page_for(
        p.site,
        StatusCode::OK,
        markup,
        &ctx.cookies,
        origin_of(&request.redirect_uri).as_deref(),
    )
}

/// Whether the session's sign-in is recent enough for `request`.
fn is_fresh(
    request: &AuthorizationRequest,
    parameters: &[(String, String)],
    auth_time: u64,
    now: Timestamp,
) -> bool {
    let now = now.as_secs();
    let login_after = parameters
        .iter()
        .find(|(name, _)| name == LOGIN_AFTER)
        .and_then(|(_, value)| value.parse::<u64>().ok())
        .filter(|at| *at <= now && now - at <= LOGIN_AFTER_WINDOW_SECONDS);
    if let Some(at) = login_after {
        // The sign-in this endpoint asked for: done once is enough.
        return auth_time >= at;
    }
    !request.prompt.login
        && request
            .max_age
            .is_none_or(|max_age| now.saturating_sub(auth_time) <= max_age)
}

/// To the sign-in page, coming back to this request; with `again`, the
/// sign-in form is shown to a signed-in visitor too (`prompt=login`,
/// `max_age`, another person's hint).
fn to_sign_in<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    request: &AuthorizationRequest,
    parameters: &[(String, String)],
    again: bool,
    now: Timestamp,
) -> Response<Body> {
    let mut back = form_urlencoded::Serializer::new(String::new());
    for (name, value) in parameters {
        if name == LOGIN_AFTER {
            continue;
        }
        back.append_pair(name, value);
    }
    back.append_pair(LOGIN_AFTER, &now.as_secs().to_string());
    let return_to = format!("{AUTHORIZE}?{}", back.finish());
    let mut to = form_urlencoded::Serializer::new(String::new());
    if again {
        to.append_pair("again", "1");
    }
    to.append_pair("return_to", &return_to);
    if let Some(hint) = &request.login_hint {
        to.append_pair("login_hint", hint);
    }
    redirect(p.site, &format!("/signin?{}", to.finish()), &[])
}

/// The code, and back to the client.
async fn issue<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    caller: &Caller,
    request: &AuthorizationRequest,
    iss: &str,
    status: StatusCode,
) -> Response<Body> {
    let signed_in = SignedIn {
        user_id: caller.user_id,
        auth: caller.auth,
    };
    match oauth::issue_code(p.store, signed_in, request, Timestamp::now()).await {
        Ok(code) => redirect_to_client(p.site, status, &request.code_location(&code, iss), &[]),
        Err(error) => failed(p, request, iss, error, status),
    }
}

/// A failure of ours while answering a valid request: the client hears
/// `temporarily_unavailable` (its state kept), the log hears why.
fn failed<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    request: &AuthorizationRequest,
    iss: &str,
    error: DomainError,
    status: StatusCode,
) -> Response<Body> {
    tracing::error!(cause = error.cause().unwrap_or_default(), %error, "authorization failed");
    let refusal = request.error(
        AuthorizeErrorCode::TemporarilyUnavailable,
        "try again in a moment",
    );
    redirect_to_client(p.site, status, &refusal.location(iss), &[])
}

/// What a person is told when the request cannot go back to the client.
fn error_page<S: Store, Q: MailRequests>(p: &Pages<'_, S, Q>, error: PageError) -> Response<Body> {
    tracing::info!(%error, "authorization request refused with a page");
    let text = match error {
        PageError::UnknownClient => {
            "The app that sent you here is not registered with this site, so you cannot sign in to it from here."
        }
        PageError::MissingRedirectUri | PageError::UnregisteredRedirectUri => {
            "The app that sent you here asked to be answered at an address it did not register, so this site will not send you there."
        }
        PageError::MalformedRequest => "The app that sent you here sent a malformed request.",
    };
    let markup = views::message(
        p.site,
        false,
        "This sign-in link is not valid",
        text,
        ("/account", "Go to your account"),
    );
    page(p.site, StatusCode::BAD_REQUEST, markup, &[])
}

/// `scheme://host[:port]` of a URL, for `form-action`.
fn origin_of(uri: &str) -> Option<String> {
    let origin = url::Url::parse(uri).ok()?.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// The clients an authorization request's `parameters` may name: the
/// configured ones, and the registered client (RFC 7591) its `client_id`
/// names, if any; a database failure leaves the configured ones.
async fn clients_for<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    parameters: &[(String, String)],
) -> Arc<ClientRegistry> {
    let base = p.clients.registry().await;
    let client_id = parameters
        .iter()
        .find(|(name, _)| name == "client_id")
        .map(|(_, value)| value.as_str());
    match registration::with_registered(p.store, Arc::clone(&base), client_id, Timestamp::now())
        .await
    {
        Ok(registry) => registry,
        Err(error) => {
            tracing::error!(%error, "reading a registered client failed");
            base
        }
    }
}

/// The origin a sign-in's `return_to` leads to in the end: the validated
/// redirect URI's, when `return_to` is an authorization request (the
/// sign-in page's CSP must let its POST's redirects end there).
pub async fn return_origin<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    return_to: Option<&str>,
) -> Option<String> {
    let query = return_to?.strip_prefix(AUTHORIZE)?.strip_prefix('?')?;
    let parameters: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let clients = clients_for(p, &parameters).await;
    match authorize::validate(&parameters, &clients) {
        AuthorizeOutcome::Valid(request) => origin_of(&request.redirect_uri),
        AuthorizeOutcome::Redirect(error) => origin_of(&error.redirect_uri),
        AuthorizeOutcome::Page(_) => None,
    }
}

/// What each scope lets the client do, in words.
fn scope_in_words(scope: Scope) -> &'static str {
    match scope {
        Scope::OpenId => "Know that it is you (an identifier of your account that never changes)",
        Scope::Profile => "See your username",
        Scope::Email => "See your e-mail address and whether you confirmed it",
        Scope::OfflineAccess => {
            "Keep this access while you are away, until you sign out everywhere or remove it from your devices"
        }
    }
}

fn consent_page<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    ctx: &Ctx,
    client: &Client,
    request: &AuthorizationRequest,
    parameters: &[(String, String)],
    access_seconds: u64,
) -> Markup {
    let minutes = access_seconds.div_ceil(60);
    let lasts = if request.scopes.contains(Scope::OfflineAccess) {
        format!(
            "Each access lasts {minutes} minutes and is renewed without asking you again, until you sign out everywhere or remove “{}” from your devices.",
            client.name
        )
    } else {
        format!(
            "The access lasts {minutes} minutes; after that, “{}” has to send you here again.",
            client.name
        )
    };
    // The request itself travels in the form, and is validated again when
    // it comes back: nothing in it is taken on trust.
    let mut carried = form_urlencoded::Serializer::new(String::new());
    for (name, value) in parameters {
        carried.append_pair(name, value);
    }
    let carried = carried.finish();
    layout(
        p.site,
        &format!("Allow {}?", client.name),
        true,
        html! {
            @if client.registered {
                p class="alert" role="alert" {
                    strong { "Unverified app. " }
                    "“" (client.name) "” registered itself; nobody here checked who runs it or whether its name is true. Allow it only if you started this from an app you trust."
                }
            }
            p { strong { (client.name) } " asks to:" }
            ul {
                @for scope in request.scopes.iter() {
                    li { (scope_in_words(scope)) }
                }
            }
            p { (lasts) }
            @if !request.resources.is_empty() {
                p { "The access is only for:" }
                ul { @for resource in &request.resources { li { code { (resource) } } } }
            }
            p { "It will be sent back to " code { (origin_of(&request.redirect_uri).unwrap_or_default()) } "." }
            (form(CONSENT, &ctx.csrf, html! {
                input type="hidden" name="authorization" value=(carried);
                button type="submit" name="decision" value="allow" { "Allow" }
                " "
                button type="submit" name="decision" value="deny" { "Deny" }
            }))
        },
    )
}

/// `POST /oauth2/consent` (CSRF checked by the router): Allow or Deny.
pub async fn consent_answer<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    if visit.method != Method::POST {
        return redirect(p.site, "/account", &[]);
    }
    let carried = visit.field("authorization");
    let Some(caller) = holder.caller() else {
        let mut to = form_urlencoded::Serializer::new(String::new());
        to.append_pair("return_to", &format!("{AUTHORIZE}?{carried}"));
        return redirect(p.site, &format!("/signin?{}", to.finish()), &[]);
    };
    let parameters: Vec<(String, String)> = form_urlencoded::parse(carried.as_bytes())
        .into_owned()
        .collect();
    let registry = clients_for(p, &parameters).await;
    let issuer = p.keys.issuer().await;
    let iss = issuer.signer.issuer();
    let request = match authorize::validate(&parameters, &registry) {
        AuthorizeOutcome::Valid(request) => request,
        AuthorizeOutcome::Page(error) => return error_page(p, error),
        AuthorizeOutcome::Redirect(error) => {
            return redirect_to_client(p.site, StatusCode::SEE_OTHER, &error.location(iss), &[])
        }
    };
    if visit.field("decision") != "allow" {
        let denied = request.error(
            AuthorizeErrorCode::AccessDenied,
            "the person did not allow it",
        );
        return redirect_to_client(p.site, StatusCode::SEE_OTHER, &denied.location(iss), &[]);
    }
    let now = Timestamp::now();
    if let Err(error) = consent::remember(
        p.store,
        caller.user_id,
        &request.client_id,
        &request.scopes,
        now,
    )
    .await
    {
        return failed(p, &request, iss, error, StatusCode::SEE_OTHER);
    }
    issue(p, caller, &request, iss, StatusCode::SEE_OTHER).await
}

/// A logout request's parameters, checked: where it may go back to.
struct LogoutRequest {
    /// The registered `post_logout_redirect_uri` (exact match for the
    /// client named by `client_id` or the hint), with `state`.
    back_to: Option<String>,
    client_name: Option<String>,
    /// Whom a valid `id_token_hint` names.
    hinted: Option<crate::domain::values::UserId>,
}

fn first<'a>(parameters: &'a [(String, String)], name: &str) -> Option<&'a str> {
    parameters
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
        .filter(|value| !value.is_empty() && value.len() <= authorize::MAX_VALUE_CHARS * 4)
}

fn logout_request(
    parameters: &[(String, String)],
    registry: &ClientRegistry,
    verifier: &crate::domain::tokens::TokenVerifier,
) -> LogoutRequest {
    let hint =
        first(parameters, "id_token_hint").and_then(|hint| verifier.id_token_hint(hint).ok());
    let named = first(parameters, "client_id");
    // The hint's audience and `client_id` must agree when both are sent.
    let client_id = match (named, &hint) {
        (Some(named), Some(hint)) if named != hint.client_id => None,
        (Some(named), _) => Some(named.to_string()),
        (None, Some(hint)) => Some(hint.client_id.clone()),
        (None, None) => None,
    };
    let client = client_id.as_deref().and_then(|id| registry.find(id));
    let back_to = first(parameters, "post_logout_redirect_uri")
        .filter(|uri| client.is_some_and(|client| client.post_logout_uri_matches(uri)))
        .map(|uri| match first(parameters, "state") {
            Some(state) if state.len() <= authorize::MAX_VALUE_CHARS => {
                with_query(uri, &[("state", state)])
            }
            _ => uri.to_string(),
        });
    LogoutRequest {
        back_to,
        client_name: client.map(|client| client.name.clone()),
        hinted: hint.map(|hint| hint.user_id),
    }
}

/// `GET|POST /oauth2/logout` (OpenID Connect RP-Initiated Logout 1.0):
/// signs out at once only when a valid `id_token_hint` names the session's
/// user; otherwise asks (a bare link must not sign anyone out).
pub async fn logout<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    let parameters = if visit.method == Method::POST {
        visit.form_pairs()
    } else {
        visit.query_pairs()
    };
    let registry = p.clients.registry().await;
    let issuer = p.keys.issuer().await;
    let request = logout_request(parameters, &registry, &issuer.verifier);
    let Some(caller) = holder.caller() else {
        return signed_out(p, request.back_to.as_deref(), StatusCode::FOUND);
    };
    if request.hinted == Some(caller.user_id) {
        return sign_out(p, caller, request.back_to.as_deref(), StatusCode::FOUND).await;
    }
    let ctx = Ctx::new(p.site, &issuer.policy.secrets, holder);
    let question = match &request.client_name {
        Some(name) => format!("“{name}” asks you to sign out of this site. Sign out?"),
        None => "Sign out of this site?".to_string(),
    };
    let markup = layout(
        p.site,
        "Sign out",
        true,
        html! {
            p { (question) }
            (form(LOGOUT_CONFIRM, &ctx.csrf, html! {
                @for (name, value) in parameters.iter().filter(|(name, _)| {
                    matches!(name.as_str(), "client_id" | "post_logout_redirect_uri" | "state")
                }) {
                    input type="hidden" name=(name) value=(value);
                }
                button type="submit" name="decision" value="signout" { "Sign out" }
                " "
                button type="submit" name="decision" value="stay" { "Stay signed in" }
            }))
        },
    );
    let back_origin = request.back_to.as_deref().and_then(origin_of);
    page_for(
        p.site,
        StatusCode::OK,
        markup,
        &ctx.cookies,
        back_origin.as_deref(),
    )
}

/// `POST /oauth2/logout/confirm` (CSRF checked by the router): the
/// confirmation's answer, its parameters checked again.
pub async fn logout_confirm<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    visit: &Visit,
    holder: &Holder,
) -> Response<Body> {
    if visit.method != Method::POST {
        return redirect(p.site, LOGOUT, &[]);
    }
    let registry = p.clients.registry().await;
    let issuer = p.keys.issuer().await;
    // The hint is not carried: the person's own click stands for it.
    let parameters: Vec<(String, String)> = visit
        .form_pairs()
        .iter()
        .filter(|(name, _)| name != "id_token_hint")
        .cloned()
        .collect();
    let request = logout_request(&parameters, &registry, &issuer.verifier);
    let Some(caller) = holder.caller() else {
        return signed_out(p, request.back_to.as_deref(), StatusCode::SEE_OTHER);
    };
    if visit.field("decision") != "signout" {
        return redirect(p.site, "/account", &[]);
    }
    sign_out(p, caller, request.back_to.as_deref(), StatusCode::SEE_OTHER).await
}

async fn sign_out<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    caller: &Caller,
    back_to: Option<&str>,
    status: StatusCode,
) -> Response<Body> {
    if let Err(error) = sessions::logout(p.store, caller, Timestamp::now()).await {
        tracing::info!(%error, "signing out a session that had ended");
    }
    signed_out(p, back_to, status)
}

/// Back to the client's registered page, or a page saying so.
fn signed_out<S: Store, Q: MailRequests>(
    p: &Pages<'_, S, Q>,
    back_to: Option<&str>,
    status: StatusCode,
) -> Response<Body> {
    let cookies = [p.site.set_cookie(SESSION_COOKIE, "", 0)];
    match back_to {
        Some(location) => redirect_to_client(p.site, status, location, &cookies),
        None => page(
            p.site,
            StatusCode::OK,
            views::message(
                p.site,
                false,
                "Signed out",
                "You are signed out of this site.",
                ("/signin", "Sign in again"),
            ),
            &cookies,
        ),
    }
}
