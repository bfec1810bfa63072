//! The pages' edge, as `http::edge` is the API's: what the page routes share
//! and nothing route-specific. Reading a visit (cookies, the form, the
//! query), who holds it (a browser session, a pre-session, nobody), the CSRF
//! and origin checks of every POST, the answers (a page with its headers, a
//! redirect) and what each domain error says to a person. It imports the
//! views and the site, never a route file.

use std::collections::BTreeMap;

use lambda_http::http::{header, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use maud::Markup;
use serde_json::{Map, Value};

use super::site::Site;
use super::views;
use crate::domain::error::retry_after_seconds;
use crate::domain::linking::LinkVerification;
use crate::domain::login::LoginPolicy;
use crate::domain::mfa::MfaSettings;
use crate::domain::ports::{
    Accounts, AuthorizationCodes, Consents, Deletions, DynamicClients, Exports, LoginAttempts,
    MfaStore, OneTimeTokens, Sessions, Users,
};
use crate::domain::records::ClientInfo;
use crate::domain::recovery::MailRequestPolicy;
use crate::domain::refresh::{new_pre_session, SessionSecrets};
use crate::domain::sessions::browser_caller;
use crate::domain::tokens::Caller;
use crate::domain::values::Timestamp;
use crate::domain::{DomainError, FieldError};
use crate::http::request::source_ip;
use crate::keystore::{RegisteredClients, SigningKeys};

/// Largest form body read. The largest real form is well under 2 KiB; a
/// larger one gets its form back with a message (413), never a 500.
pub const MAX_FORM_BYTES: usize = 16 * 1024;

/// How long a pre-session cookie (what binds the CSRF token of a form shown
/// before sign-in) lives.
pub const PRE_SESSION_SECONDS: u64 = 3600;

/// The longest `return_to`: an authorization request with its PKCE
/// challenge, nonce, state and redirect URI comes back through the sign-in
/// whole (each authorization parameter is at most 2 KiB, most far less).
pub const MAX_RETURN_TO_BYTES: usize = 8192;

pub const SESSION_COOKIE: &str = "session";
pub const PRE_SESSION_COOKIE: &str = "presession";
/// The `mfa_token` between a sign-in's password and its code step: in an
/// HttpOnly cookie, so that no page ever shows it.
pub const MFA_COOKIE: &str = "mfa";

/// What the pages need of the store: every use case they call (the
/// provider's authorization and consent pages among them).
pub trait Store:
    Users
    + Deletions
    + Exports
    + Sessions
    + LoginAttempts
    + MfaStore
    + Accounts
    + OneTimeTokens
    + AuthorizationCodes
    + Consents
    + crate::domain::passkeys::PasskeyStore
    + DynamicClients
    + crate::domain::activity::SecurityActivity
{
}

impl<
        S: Users
            + Deletions
            + Exports
            + Sessions
            + LoginAttempts
            + MfaStore
            + Accounts
            + OneTimeTokens
            + AuthorizationCodes
            + Consents
            + crate::domain::passkeys::PasskeyStore
            + DynamicClients
            + crate::domain::activity::SecurityActivity,
    > Store for S
{
}

/// Everything the pages use, built once at start-up (`runtime::pages`).
pub struct Pages<'a, S, Q> {
    pub store: &'a S,
    pub queue: &'a Q,
    pub keys: &'a SigningKeys,
    pub mfa: &'a MfaSettings,
    pub login: LoginPolicy,
    pub mail_policy: &'a MailRequestPolicy,
    pub forgot_per_source: i64,
    pub links: LinkVerification,
    pub site: &'a Site,
    /// The OpenID Provider's registered clients (authorize, consent, logout).
    pub clients: &'a RegisteredClients,
    /// `DELETION_GRACE_DAYS` (issue #24): the account page's delete.
    pub deletion_grace: crate::domain::deletion::GracePeriod,
}

/// One request, read.
pub struct Visit {
    pub method: Method,
    /// The path without a trailing slash.
    pub path: String,
    cookies: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
    form: BTreeMap<String, String>,
    /// The query's and the form's pairs in order, repeats kept: an
    /// authorization request must see a repeated parameter to refuse it.
    query_pairs: Vec<(String, String)>,
    form_pairs: Vec<(String, String)>,
    /// The body was over `MAX_FORM_BYTES`: the form is empty.
    pub too_large: bool,
    pub source_ip: String,
    /// The raw `User-Agent`, for a login's `Credentials`.
    pub user_agent: Option<Vec<u8>>,
    pub client: ClientInfo,
    sec_fetch_site: Option<String>,
    origin: Option<String>,
}

impl Visit {
    pub fn read(request: &Request, site: &Site) -> Self {
        let path = request.uri().path();
        let path = match path.strip_suffix('/') {
            Some(trimmed) if !trimmed.is_empty() => trimmed,
            _ => path,
        };
        let header = |name: header::HeaderName| {
            request
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string)
        };
        let mut cookies = BTreeMap::new();
        for value in request.headers().get_all(header::COOKIE) {
            for pair in value.to_str().unwrap_or_default().split(';') {
                if let Some((name, value)) = pair.trim().split_once('=') {
                    // The plain name is read over https only as `__Host-`.
                    let plain = if site.https {
                        match name.strip_prefix("__Host-") {
                            Some(plain) => plain,
                            None => continue,
                        }
                    } else {
                        name
                    };
                    cookies
                        .entry(plain.to_string())
                        .or_insert_with(|| value.to_string());
                }
            }
        }
        let query = request
            .query_string_parameters_ref()
            .map(|parameters| {
                parameters
                    .iter()
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let query_pairs =
            form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes())
                .into_owned()
                .collect();
        let bytes: &[u8] = request.body().as_ref();
        let too_large = bytes.len() > MAX_FORM_BYTES;
        let mut form = BTreeMap::new();
        let mut form_pairs = Vec::new();
        if !too_large {
            form_pairs = form_urlencoded::parse(bytes).into_owned().collect();
            for (name, value) in &form_pairs {
                form.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        let source_ip = source_ip(request);
        let user_agent = crate::http::edge::user_agent(request);
        Self {
            method: request.method().clone(),
            path: path.to_string(),
            cookies,
            query,
            form,
            query_pairs,
            form_pairs,
            too_large,
            client: ClientInfo::new(user_agent.as_deref(), &source_ip),
            user_agent,
            source_ip,
            sec_fetch_site: header(header::HeaderName::from_static("sec-fetch-site")),
            origin: header(header::ORIGIN),
        }
    }

    /// What a form shows before anything was sent: nothing, or that the
    /// body sent was too large to read.
    pub fn problems(&self) -> Problems {
        if self.too_large {
            Problems::form(format!(
                "That form was larger than the {} KB this site accepts, so nothing was saved. Try again with shorter entries.",
                MAX_FORM_BYTES / 1024
            ))
        } else {
            Problems::default()
        }
    }

    /// The query's pairs, in order, repeats kept.
    pub fn query_pairs(&self) -> &[(String, String)] {
        &self.query_pairs
    }

    /// The form's pairs, in order, repeats kept.
    pub fn form_pairs(&self) -> &[(String, String)] {
        &self.form_pairs
    }

    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }

    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// A form field as typed ("" when absent).
    pub fn field(&self, name: &str) -> &str {
        self.form.get(name).map(String::as_str).unwrap_or_default()
    }

    /// A field as it may be shown again: no control characters, at most 256
    /// characters (the markup is escaped by the templates).
    pub fn echo(&self, name: &str) -> String {
        self.field(name)
            .chars()
            .filter(|c| !c.is_control())
            .take(256)
            .collect()
    }

    /// The named fields as the JSON object `http::bodies` reads, so that a
    /// form is judged by exactly the API's rules.
    pub fn fields_as_json(&self, names: &[&str]) -> Map<String, Value> {
        names
            .iter()
            .filter_map(|name| {
                self.form
                    .get(*name)
                    .map(|value| (name.to_string(), Value::String(value.clone())))
            })
            .collect()
    }

    /// `return_to`, from the query or the form, when it is a path on this
    /// site: never an open redirect.
    pub fn return_to(&self) -> Option<String> {
        self.form
            .get("return_to")
            .or_else(|| self.query.get("return_to"))
            .and_then(|raw| local_path(raw))
    }
}

/// `raw` if it is a path of this site: one leading `/`, not `//` or `/\`
/// (which browsers read as another host), no backslash, control character
/// or scheme anywhere, at most `MAX_RETURN_TO_BYTES`.
pub fn local_path(raw: &str) -> Option<String> {
    let local = raw.starts_with('/')
        && !raw.starts_with("//")
        && !raw.contains('\\')
        && !raw.contains("://")
        && raw.len() <= MAX_RETURN_TO_BYTES
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
    local.then(|| raw.to_string())
}

/// Who holds the visit.
pub enum Holder {
    /// An open browser session.
    Session {
        caller: Caller,
        cookie: String,
    },
    /// No session; a pre-session cookie of an earlier page.
    PreSession {
        cookie: String,
    },
    Nobody,
}

impl Holder {
    pub async fn of<S: Sessions>(
        store: &S,
        secrets: &SessionSecrets,
        visit: &Visit,
    ) -> Result<Self, DomainError> {
        if let Some(cookie) = visit.cookie(SESSION_COOKIE) {
            if let Some(caller) = browser_caller(store, secrets, cookie, Timestamp::now()).await? {
                return Ok(Self::Session {
                    caller,
                    cookie: cookie.to_string(),
                });
            }
        }
        Ok(match visit.cookie(PRE_SESSION_COOKIE) {
            Some(cookie) if cookie.len() == 43 => Self::PreSession {
                cookie: cookie.to_string(),
            },
            _ => Self::Nobody,
        })
    }

    pub fn caller(&self) -> Option<&Caller> {
        match self {
            Self::Session { caller, .. } => Some(caller),
            _ => None,
        }
    }

    /// The cookie the forms' CSRF token is bound to.
    fn bound_cookie(&self) -> Option<&str> {
        match self {
            Self::Session { cookie, .. } | Self::PreSession { cookie } => Some(cookie),
            Self::Nobody => None,
        }
    }
}

/// What a page's forms carry, and the cookies its answer sets.
pub struct Ctx {
    pub csrf: String,
    pub cookies: Vec<String>,
    pub signed_in: bool,
}

impl Ctx {
    /// The CSRF token for the holder; a visitor without any cookie gets a new
    /// pre-session cookie to bind it to.
    pub fn new(site: &Site, secrets: &SessionSecrets, holder: &Holder) -> Self {
        match holder.bound_cookie() {
            Some(cookie) => Self {
                csrf: secrets.csrf_token(cookie),
                cookies: Vec::new(),
                signed_in: holder.caller().is_some(),
            },
            None => {
                let cookie = new_pre_session();
                Self {
                    csrf: secrets.csrf_token(&cookie),
                    cookies: vec![site.set_cookie(
                        PRE_SESSION_COOKIE,
                        &cookie,
                        PRE_SESSION_SECONDS,
                    )],
                    signed_in: false,
                }
            }
        }
    }
}

/// Why a POST is refused before it is read: a 403 page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `Sec-Fetch-Site` or `Origin` says another site sent it.
    CrossSite,
    /// No CSRF token, or not the one of this browser's cookie.
    Csrf,
}

/// Every POST: from this site (`Sec-Fetch-Site`, `Origin` when sent) with
/// the CSRF token of the holder's cookie, compared in constant time.
pub fn check_post(
    site: &Site,
    secrets: &SessionSecrets,
    visit: &Visit,
    holder: &Holder,
) -> Result<(), Refusal> {
    if let Some(fetch_site) = visit.sec_fetch_site.as_deref() {
        if !matches!(fetch_site, "same-origin" | "none") {
            return Err(Refusal::CrossSite);
        }
    }
    // Under `Referrer-Policy: no-referrer` browsers send `Origin: null` with
    // their own forms' POSTs, so `null` tells nothing (`Sec-Fetch-Site`,
    // which no page can set, does); any other origin must be ours.
    if let Some(origin) = visit.origin.as_deref() {
        if origin != "null" && !origin.eq_ignore_ascii_case(&site.origin) {
            return Err(Refusal::CrossSite);
        }
    }
    let cookie = holder.bound_cookie().ok_or(Refusal::Csrf)?;
    if secrets.csrf_matches(cookie, visit.field("csrf")) {
        Ok(())
    } else {
        Err(Refusal::Csrf)
    }
}

/// A page, with the headers every page response carries.
pub fn page(site: &Site, status: StatusCode, markup: Markup, cookies: &[String]) -> Response<Body> {
    page_for(site, status, markup, cookies, None)
}

/// `page`, whose form's POST ends in a redirect to `form_action` (an app's
/// validated origin): Chromium checks `form-action` on every redirect after
/// a form is sent, so the policy must name where the chain ends.
pub fn page_for(
    site: &Site,
    status: StatusCode,
    markup: Markup,
    cookies: &[String],
    form_action: Option<&str>,
) -> Response<Body> {
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Body::Text(markup.into_string()))
        .expect("static headers are valid");
    secure_headers(site, &mut response, cookies, form_action);
    response
}

/// A redirect to a registered client URI (`location` is built from one the
/// caller validated): `302 Found` after a GET, `303 See Other` after a POST.
pub fn redirect_to_client(
    site: &Site,
    status: StatusCode,
    location: &str,
    cookies: &[String],
) -> Response<Body> {
    let Ok(value) = HeaderValue::from_str(location) else {
        // A registered URI is ASCII; anything else is no place to send anyone.
        return page(
            site,
            StatusCode::BAD_REQUEST,
            views::not_found(site),
            cookies,
        );
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::LOCATION, value)
        .body(Body::Empty)
        .expect("static headers are valid");
    secure_headers(site, &mut response, cookies, None);
    response
}

/// `303 See Other` to a local path, with the same headers.
pub fn redirect(site: &Site, location: &str, cookies: &[String]) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::SEE_OTHER)
        .header(
            header::LOCATION,
            HeaderValue::from_str(location).unwrap_or(HeaderValue::from_static("/account")),
        )
        .body(Body::Empty)
        .expect("static headers are valid");
    secure_headers(site, &mut response, cookies, None);
    response
}

/// A text file to save (the recovery codes), with the same headers.
pub fn download(site: &Site, name: &'static str, text: String) -> Response<Body> {
    let mut response = Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        )
        .body(Body::Text(text))
        .expect("static headers are valid");
    secure_headers(site, &mut response, &[], None);
    response
}

fn secure_headers(
    site: &Site,
    response: &mut Response<Body>,
    cookies: &[String],
    form_action: Option<&str>,
) {
    let headers = response.headers_mut();
    let policy = site.content_security_policy(form_action);
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(&policy).expect("the policy is ASCII"),
    );
    // A token in a page's URL (the mailed links) must not travel onwards.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // Every page is personal or carries a CSRF token: none is stored.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if site.https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            headers.append(header::SET_COOKIE, value);
        }
    }
}

/// The 403 page of a refused POST.
pub fn refused(site: &Site, refusal: Refusal) -> Response<Body> {
    tracing::info!(?refusal, "form refused");
    page(
        site,
        StatusCode::FORBIDDEN,
        views::refused(site, refusal == Refusal::CrossSite),
        &[],
    )
}

/// What an error says to the person, and where.
pub enum Said {
    /// Next to a field.
    Field(&'static str, String),
    /// Above the form.
    Form(String),
    /// The session is gone: to the sign-in page.
    SignIn,
    /// The change needs a recent sign-in: sign in again, then come back.
    SignInAgain,
    /// A failure of ours (logged), not the person's: a 503 page.
    Failure,
}

/// "try again in N minutes" for a wait.
fn minutes(wait: std::time::Duration) -> String {
    let minutes = retry_after_seconds(wait).div_ceil(60).max(1);
    if minutes == 1 {
        "try again in 1 minute".into()
    } else {
        format!("try again in {minutes} minutes")
    }
}

/// The one table of what each domain error says on a page. Every variant is
/// named (no `_` arm): a new error does not compile until it says something.
pub fn says(error: &DomainError) -> Said {
    use DomainError as E;
    match error {
        E::Invalid(errors) => match errors.first() {
            Some(FieldError { message, .. }) => Said::Form(message.clone()),
            None => Said::Form("Check the form.".into()),
        },
        E::EmailTaken => Said::Field(
            "email",
            "An account has this e-mail address already.".into(),
        ),
        E::UsernameTaken => Said::Field("username", "This username is taken.".into()),
        E::ExternalIdTaken | E::LinkCodeInvalid | E::Forbidden | E::ThirdPartyToken => {
            Said::Form("That is not allowed.".into())
        }
        E::InvalidCredentials => Said::Form("The e-mail address or the password is wrong.".into()),
        E::InvalidToken(_) | E::UnknownUser | E::SessionEnded => Said::SignIn,
        E::ReauthenticationRequired => Said::SignInAgain,
        E::InvalidRefreshToken | E::InvalidMfaToken => {
            Said::Form("This sign-in took too long: start again.".into())
        }
        E::InvalidMfaCode => Said::Field("code", "The code is wrong or was used already.".into()),
        E::TooManyAttempts { retry_after } => Said::Form(format!(
            "Too many failed attempts: {}.",
            minutes(*retry_after)
        )),
        E::TooManyRequests { retry_after } => {
            Said::Form(format!("Too many requests: {}.", minutes(*retry_after)))
        }
        E::MailTokenInvalid => Said::Form(
            "This link is not valid any more: it was used, replaced or has expired.".into(),
        ),
        E::EmailNotVerified => Said::Form(
            "Confirm your e-mail address first: follow the link we mailed you when you signed up."
                .into(),
        ),
        E::AccountScheduledForDeletion { until } => Said::Form(format!(
            "This account is scheduled for deletion on {} (UTC). The link we mailed to its address keeps it; for an account without two-step sign-in, so does the button below, with your password.",
            until.to_rfc3339().replace('T', " at ").trim_end_matches('Z')
        )),
        E::ExportTooLarge { .. } => Said::Form(
            "Your data is too large to download here: ask us for it.".into(),
        ),
        E::MfaAlreadyEnabled => Said::Form("Two-step sign-in is on already.".into()),
        E::MfaNotPending => {
            Said::Form("Start the set-up again: it was replaced or finished.".into())
        }
        E::MfaNotEnabled => Said::Form("Two-step sign-in is off.".into()),
        E::TooManyPasskeys => Said::Form("This account has 20 passkeys: remove one first.".into()),
        E::PasskeyNotFound => Said::Form("That passkey is removed already.".into()),
        E::PasskeyTaken => Said::Form("That passkey is registered already.".into()),
        E::PasskeyRefused => Said::Form("The passkey was not accepted: try again.".into()),
        E::SessionNotFound => Said::Form("That device is signed out already.".into()),
        E::MailUnavailable { .. } | E::Unavailable { .. } | E::Internal { .. } => Said::Failure,
    }
}

/// The answer to a domain error: the form again with what it says (`form`
/// renders it, with the status), a sign-in (again), or a failure page.
pub fn answer_error(
    site: &Site,
    visit: &Visit,
    error: DomainError,
    form: impl FnOnce(StatusCode, Problems) -> Response<Body>,
) -> Response<Body> {
    let status = match &error {
        DomainError::TooManyAttempts { .. } | DomainError::TooManyRequests { .. } => {
            StatusCode::TOO_MANY_REQUESTS
        }
        DomainError::InvalidCredentials | DomainError::InvalidMfaCode => StatusCode::UNAUTHORIZED,
        DomainError::EmailNotVerified | DomainError::AccountScheduledForDeletion { .. } => {
            StatusCode::FORBIDDEN
        }
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    match says(&error) {
        Said::Field(name, message) => {
            tracing::info!(%error, "form refused");
            let mut problems = Problems::default();
            problems.fields.insert(name.to_string(), message);
            form(status, problems)
        }
        Said::Form(message) => {
            tracing::info!(%error, "form refused");
            match error {
                DomainError::Invalid(errors) => form(status, Problems::of_fields(errors)),
                _ => form(status, Problems::form(message)),
            }
        }
        Said::SignIn => {
            let to = format!("/signin?return_to={}", return_path(visit));
            redirect(site, &to, &[site.set_cookie(SESSION_COOKIE, "", 0)])
        }
        Said::SignInAgain => {
            let to = format!("/signin?again=1&return_to={}", return_path(visit));
            redirect(site, &to, &[])
        }
        Said::Failure => {
            tracing::error!(cause = error.cause().unwrap_or_default(), %error, "page failed");
            page(
                site,
                StatusCode::SERVICE_UNAVAILABLE,
                views::failure(site),
                &[],
            )
        }
    }
}

/// Where no form applies: what went wrong, on a page of its own.
pub fn problem_page(site: &Site, status: StatusCode, problems: &Problems) -> Response<Body> {
    let text = problems
        .form
        .clone()
        .or_else(|| problems.fields.values().next().cloned())
        .unwrap_or_else(|| "That did not work.".into());
    let markup = views::message(
        site,
        false,
        "That did not work",
        &text,
        ("/account", "Back to your account"),
    );
    page(site, status, markup, &[])
}

/// Where to come back to after signing in: this page (its path only).
pub fn return_path(visit: &Visit) -> String {
    form_urlencoded::byte_serialize(visit.path.as_bytes()).collect()
}

/// Field errors, by field, from `http::bodies` or a domain error.
#[derive(Debug, Default)]
pub struct Problems {
    pub fields: BTreeMap<String, String>,
    pub form: Option<String>,
    /// The sign-in page offers to restore an account scheduled for deletion.
    pub restore_offer: bool,
}

impl Problems {
    pub fn offering_restore(self) -> Self {
        Self {
            restore_offer: true,
            ..self
        }
    }

    pub fn of_fields(errors: Vec<FieldError>) -> Self {
        let mut problems = Self::default();
        for error in errors {
            problems
                .fields
                .entry(error.field)
                .or_insert_with(|| sentence(&error.message));
        }
        problems
    }

    pub fn form(message: impl Into<String>) -> Self {
        Self {
            form: Some(message.into()),
            ..Self::default()
        }
    }

    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.get(name).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.form.is_none()
    }
}

/// A rule as the API words it ("field required"), as a sentence.
fn sentence(message: &str) -> String {
    let message = if message == "field required" {
        "This field is required"
    } else {
        message
    };
    let mut chars = message.chars();
    let mut out: String = match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    };
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_to_is_a_local_path_or_nothing() {
        for good in ["/account", "/account/mfa?x=1"] {
            assert_eq!(local_path(good).as_deref(), Some(good));
        }
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/x\\y",
            "evil.example",
            "javascript:alert(1)",
            "/redirect?to=https://evil.example",
            "/a\nb",
            "",
        ] {
            assert_eq!(local_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn waits_read_as_minutes() {
        use std::time::Duration;
        assert_eq!(minutes(Duration::from_secs(1)), "try again in 1 minute");
        assert_eq!(minutes(Duration::from_secs(61)), "try again in 2 minutes");
        assert_eq!(sentence("field required"), "This field is required.");
    }
}
