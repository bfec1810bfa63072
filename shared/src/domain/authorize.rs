//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1,
//! RFC 7636), checked as a pure function of its parameters and the
//! registered clients. The outcome says how the edge answers: a request to
//! go on with, an error page (the client or its redirect URI cannot be
//! trusted, so nothing may be sent there), or an error redirect.

use super::clients::{Client, ClientRegistry, Scopes, CLIENT_ID_MAX_CHARS};

/// The longest value of any parameter but `id_token_hint` (a JWT).
pub const MAX_VALUE_CHARS: usize = 2048;
const MAX_ID_TOKEN_HINT_CHARS: usize = 8192;
/// More parameters than any valid request has.
const MAX_PARAMETERS: usize = 64;
/// An S256 challenge is a SHA-256 in base64url: 43 characters.
const S256_CHALLENGE_CHARS: usize = 43;

/// The parameters that may not be repeated (RFC 6749 §3.1): all we read.
const SINGLE: [&str; 16] = [
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "login_hint",
    "id_token_hint",
    "request",
    "request_uri",
    "response_mode",
    "registration",
];

/// The error codes of an authorization error response (RFC 6749 §4.1.2.1,
/// OpenID Connect Core §3.1.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthorizeErrorCode {
    InvalidRequest,
    UnauthorizedClient,
    AccessDenied,
    UnsupportedResponseType,
    InvalidScope,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    RegistrationNotSupported,
    /// RFC 8707 §2: a `resource` that is malformed or not served.
    InvalidTarget,
}

impl AuthorizeErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::AccessDenied => "access_denied",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
            Self::RequestNotSupported => "request_not_supported",
            Self::RequestUriNotSupported => "request_uri_not_supported",
            Self::RegistrationNotSupported => "registration_not_supported",
            Self::InvalidTarget => "invalid_target",
        }
    }
}

/// Why no redirect can be made: shown to the person as a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("the request names no client, or one that is not registered")]
    UnknownClient,
    #[error("the request has no redirect_uri")]
    MissingRedirectUri,
    #[error("the redirect_uri is not one the client registered")]
    UnregisteredRedirectUri,
    #[error("client_id or redirect_uri is repeated or too long")]
    MalformedRequest,
}

/// An error sent back to the client's (registered) redirect URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub error: AuthorizeErrorCode,
    pub description: &'static str,
    pub state: Option<String>,
}

impl ErrorRedirect {
    /// The `Location` to send the browser to, with `iss` (RFC 9207).
    pub fn location(&self, issuer: &str) -> String {
        let mut pairs = vec![
            ("error", self.error.as_str()),
            ("error_description", self.description),
        ];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        with_query(&self.redirect_uri, &pairs)
    }
}

/// `prompt` (OpenID Connect Core §3.1.2.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// No page may be shown: answer `login_required` / `consent_required`.
    pub none: bool,
    pub login: bool,
    pub consent: bool,
}

/// A valid authorization request: what sign-in and consent go on with,
/// and what the code is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub state: Option<String>,
    pub nonce: Option<String>,
    /// S256 only; required of public clients.
    pub code_challenge: Option<String>,
    pub prompt: Prompt,
    /// Seconds; a sign-in older than this must be repeated.
    pub max_age: Option<u64>,
    /// Prefills the e-mail on the sign-in page.
    pub login_hint: Option<String>,
    /// Read by the authorize endpoint (which may accept an expired one).
    pub id_token_hint: Option<String>,
    /// RFC 8707 resources (normalised, configured ones only): the
    /// audiences the grant's access tokens may have.
    pub resources: Vec<String>,
}

impl AuthorizationRequest {
    /// The success redirect carrying `code` (RFC 6749 §4.1.2, RFC 9207).
    pub fn code_location(&self, code: &str, issuer: &str) -> String {
        let mut pairs = vec![("code", code)];
        if let Some(state) = &self.state {
            pairs.push(("state", state));
        }
        pairs.push(("iss", issuer));
        with_query(&self.redirect_uri, &pairs)
    }

    /// An error redirect for this request (login_required, access_denied…).
    pub fn error(&self, error: AuthorizeErrorCode, description: &'static str) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            error,
            description,
            state: self.state.clone(),
        }
    }
}

/// How the authorize endpoint answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeOutcome {
    Valid(AuthorizationRequest),
    Page(PageError),
    Redirect(ErrorRedirect),
}

/// `redirect_uri` with `pairs` added to its query (keeping what it has).
pub fn with_query(redirect_uri: &str, pairs: &[(&str, &str)]) -> String {
    let mut encoded = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        encoded.append_pair(name, value);
    }
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    format!("{redirect_uri}{separator}{}", encoded.finish())
}

/// Checks the request's parameters (query or form, in order).
pub fn validate(parameters: &[(String, String)], clients: &ClientRegistry) -> AuthorizeOutcome {
    let all = |name: &str| -> Vec<&str> {
        parameters
            .iter()
            .filter(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
            .collect()
    };
    // The client and its redirect URI first: until both are known good,
    // any error is a page.
    let client = match all("client_id").as_slice() {
        [id] if id.len() <= CLIENT_ID_MAX_CHARS => match clients.find(id) {
            Some(client) => client,
            None => return AuthorizeOutcome::Page(PageError::UnknownClient),
        },
        [] => return AuthorizeOutcome::Page(PageError::UnknownClient),
        _ => return AuthorizeOutcome::Page(PageError::MalformedRequest),
    };
    let redirect_uri = match all("redirect_uri").as_slice() {
        [uri] if uri.len() <= MAX_VALUE_CHARS => *uri,
        [] => return AuthorizeOutcome::Page(PageError::MissingRedirectUri),
        _ => return AuthorizeOutcome::Page(PageError::MalformedRequest),
    };
    if !client.redirect_uri_matches(redirect_uri) {
        return AuthorizeOutcome::Page(PageError::UnregisteredRedirectUri);
    }
    // `state` goes back only when it is one value of a sane length.
    let state = match all("state").as_slice() {
        [state] if state.len() <= MAX_VALUE_CHARS => Some(state.to_string()),
        _ => None,
    };
    let refuse = |error, description| {
        AuthorizeOutcome::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.to_string(),
            error,
            description,
            state: state.clone(),
        })
    };
    match checked(parameters, client, clients.resources(), &all) {
        Ok(checked) => AuthorizeOutcome::Valid(AuthorizationRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.to_string(),
            state: state.clone(),
            ..checked
        }),
        Err((error, description)) => refuse(error, description),
    }
}

type Refusal = (AuthorizeErrorCode, &'static str);

/// Everything after the client and its redirect URI.
fn checked<'a>(
    parameters: &'a [(String, String)],
    client: &Client,
    known_resources: &[String],
    all: &impl Fn(&str) -> Vec<&'a str>,
) -> Result<AuthorizationRequest, Refusal> {
    use AuthorizeErrorCode as E;
    if parameters.len() > MAX_PARAMETERS {
        return Err((E::InvalidRequest, "too many parameters"));
    }
    for name in SINGLE {
        if all(name).len() > 1 {
            return Err((E::InvalidRequest, "a parameter is repeated"));
        }
    }
    let too_long = parameters.iter().any(|(name, value)| {
        let limit = if name == "id_token_hint" {
            MAX_ID_TOKEN_HINT_CHARS
        } else {
            MAX_VALUE_CHARS
        };
        value.len() > limit
    });
    if too_long {
        return Err((E::InvalidRequest, "a parameter is too long"));
    }
    let one = |name: &str| all(name).first().map(|value| value.to_string());
    if one("request").is_some() {
        return Err((E::RequestNotSupported, "request objects are not supported"));
    }
    if one("request_uri").is_some() {
        return Err((E::RequestUriNotSupported, "request_uri is not supported"));
    }
    if one("registration").is_some() {
        return Err((
            E::RegistrationNotSupported,
            "the registration parameter is not supported",
        ));
    }
    match one("response_type").as_deref() {
        None | Some("") => return Err((E::InvalidRequest, "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err((
                E::UnsupportedResponseType,
                "only response_type=code is supported",
            ))
        }
    }
    if !matches!(one("response_mode").as_deref(), None | Some("query")) {
        return Err((E::InvalidRequest, "only response_mode=query is supported"));
    }
    let scopes = match one("scope").as_deref() {
        None | Some("") => return Err((E::InvalidRequest, "scope is missing")),
        Some(raw) => Scopes::parse(raw).ok_or((E::InvalidScope, "a scope is not supported"))?,
    };
    if !scopes.is_subset(&client.scopes) {
        return Err((E::InvalidScope, "a scope is not allowed for this client"));
    }
    let code_challenge = match (
        one("code_challenge"),
        one("code_challenge_method").as_deref(),
    ) {
        (None, None) if client.is_public() => {
            return Err((
                E::InvalidRequest,
                "public clients must send a PKCE code_challenge",
            ))
        }
        (None, None) => None,
        (None, Some(_)) => return Err((E::InvalidRequest, "code_challenge is missing")),
        (Some(challenge), Some("S256")) => {
            let well_formed = challenge.len() == S256_CHALLENGE_CHARS
                && challenge
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err((E::InvalidRequest, "code_challenge is not an S256 challenge"));
            }
            Some(challenge)
        }
        // Without a method RFC 7636 means `plain`, which is refused too.
        (Some(_), _) => {
            return Err((
                E::InvalidRequest,
                "only code_challenge_method=S256 is supported",
            ))
        }
    };
    let prompt = match one("prompt") {
        None => Prompt::default(),
        Some(raw) => parse_prompt(&raw).ok_or((E::InvalidRequest, "prompt is not valid"))?,
    };
    let max_age = match one("max_age") {
        None => None,
        Some(raw) => Some(
            raw.parse::<u64>()
                .ok()
                .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
                .ok_or((E::InvalidRequest, "max_age must be a number of seconds"))?,
        ),
    };
    // Repeatable (RFC 8707 §2); each must be a resource we issue for.
    let resources = super::resources::select(&all("resource"), known_resources)
        .map_err(|_| (E::InvalidTarget, "a resource is not one this server serves"))?;
    Ok(AuthorizationRequest {
        resources,
        client_id: String::new(),
        redirect_uri: String::new(),
        scopes,
        state: None,
        nonce: one("nonce").filter(|nonce| !nonce.is_empty()),
        code_challenge,
        prompt,
        max_age,
        login_hint: one("login_hint").filter(|hint| !hint.is_empty()),
        id_token_hint: one("id_token_hint").filter(|hint| !hint.is_empty()),
    })
}

fn parse_prompt(raw: &str) -> Option<Prompt> {
    let mut prompt = Prompt::default();
    for value in raw.split(' ').filter(|value| !value.is_empty()) {
        match value {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            // select_account has no meaning with one account per browser.
            "select_account" => {}
            _ => return None,
        }
    }
    // `none` with anything else is an error (Core §3.1.2.1).
    if prompt.none && (prompt.login || prompt.consent) {
        return None;
    }
    Some(prompt)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clients::secret_digest;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn clients() -> ClientRegistry {
        ClientRegistry::parse(&format!(
            r#"{{"clients": [
              {{"id": "spa", "name": "SPA", "type": "public",
                "redirect_uris": ["http://localhost:8765/callback"],
                "scopes": ["openid", "profile", "email", "offline_access"],
                "grants": ["authorization_code", "refresh_token"]}},
              {{"id": "server", "name": "Server", "type": "confidential",
                "secret_sha256": "{}", "redirect_uris": ["https://app.example/cb?x=1"],
                "scopes": ["openid", "email"], "grants": ["authorization_code"]}}]}}"#,
            secret_digest("secret")
        ))
        .unwrap()
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spa(extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = params(&[
            ("response_type", "code"),
            ("client_id", "spa"),
            ("redirect_uri", "http://localhost:8765/callback"),
            ("scope", "openid email"),
            ("state", "s1"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]);
        for (name, value) in extra {
            all.retain(|(key, _)| key != name);
            if !value.is_empty() || *name == "response_type" || *name == "scope" {
                all.push((name.to_string(), value.to_string()));
            }
        }
        all
    }

    fn refused(parameters: &[(String, String)]) -> (AuthorizeErrorCode, Option<String>) {
        match validate(parameters, &clients()) {
            AuthorizeOutcome::Redirect(redirect) => (redirect.error, redirect.state),
            other => panic!("expected a redirect, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_request_is_read_whole() {
        let AuthorizeOutcome::Valid(request) = validate(
            &spa(&[
                ("nonce", "n-0S6"),
                ("prompt", "login consent"),
                ("max_age", "10000"),
                ("login_hint", "ada@example.com"),
                ("ui_locales", "fr"),
                ("display", "page"),
                ("claims", "{}"),
                ("acr_values", "x"),
            ]),
            &clients(),
        ) else {
            panic!("valid");
        };
        assert_eq!(request.client_id, "spa");
        assert_eq!(request.scopes.to_string(), "openid email");
        assert_eq!(request.nonce.as_deref(), Some("n-0S6"));
        assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
        assert!(request.prompt.login && request.prompt.consent && !request.prompt.none);
        assert_eq!(request.max_age, Some(10000));
        assert_eq!(request.login_hint.as_deref(), Some("ada@example.com"));
        assert_eq!(
            request.code_location("abc", "http://localhost:3000"),
            "http://localhost:8765/callback?code=abc&state=s1&iss=http%3A%2F%2Flocalhost%3A3000"
        );
    }

    #[test]
    fn an_unknown_client_or_redirect_uri_is_a_page_never_a_redirect() {
        let page = |parameters: Vec<(String, String)>| validate(&parameters, &clients());
        assert_eq!(
            page(spa(&[("client_id", "nobody")])),
            AuthorizeOutcome::Page(PageError::UnknownClient)
        );
        assert_eq!(
            page(spa(&[("client_id", "")])),
            AuthorizeOutcome::Page(PageError::UnknownClient)
        );
        for uri in [
            "http://localhost:8765/callback/extra",
            "http://localhost:8765/callback?next=https://evil.example",
            "https://evil.example/callback",
        ] {
            assert_eq!(
                page(spa(&[("redirect_uri", uri)])),
                AuthorizeOutcome::Page(PageError::UnregisteredRedirectUri),
                "{uri}"
            );
        }
        assert_eq!(
            page(spa(&[("redirect_uri", "")])),
            AuthorizeOutcome::Page(PageError::MissingRedirectUri)
        );
        let mut twice = spa(&[]);
        twice.push(("client_id".into(), "spa".into()));
        assert_eq!(
            page(twice),
            AuthorizeOutcome::Page(PageError::MalformedRequest)
        );
    }

    #[test]
    fn every_other_error_redirects_with_state() {
        use AuthorizeErrorCode as E;
        let long = "x".repeat(MAX_VALUE_CHARS + 1);
        let cases: Vec<(Vec<(String, String)>, E)> = vec![
            (spa(&[("response_type", "")]), E::InvalidRequest),
            (
                spa(&[("response_type", "token")]),
                E::UnsupportedResponseType,
            ),
            (
                spa(&[("response_type", "code id_token")]),
                E::UnsupportedResponseType,
            ),
            (spa(&[("scope", "")]), E::InvalidRequest),
            (spa(&[("scope", "openid phone")]), E::InvalidScope),
            (
                spa(&[("code_challenge", ""), ("code_challenge_method", "")]),
                E::InvalidRequest,
            ),
            (
                spa(&[("code_challenge_method", "plain")]),
                E::InvalidRequest,
            ),
            (spa(&[("code_challenge_method", "")]), E::InvalidRequest),
            (spa(&[("code_challenge", "short")]), E::InvalidRequest),
            (spa(&[("prompt", "none login")]), E::InvalidRequest),
            (spa(&[("prompt", "sometimes")]), E::InvalidRequest),
            (spa(&[("max_age", "-1")]), E::InvalidRequest),
            (spa(&[("max_age", "+5")]), E::InvalidRequest),
            (spa(&[("request", "eyJ...")]), E::RequestNotSupported),
            (
                spa(&[("request_uri", "https://x")]),
                E::RequestUriNotSupported,
            ),
            (spa(&[("nonce", &long)]), E::InvalidRequest),
            (spa(&[("response_mode", "fragment")]), E::InvalidRequest),
        ];
        for (parameters, expected) in cases {
            assert_eq!(
                refused(&parameters),
                (expected, Some("s1".to_string())),
                "{parameters:?}"
            );
        }
        let mut repeated = spa(&[]);
        repeated.push(("scope".into(), "openid".into()));
        assert_eq!(refused(&repeated).0, E::InvalidRequest);
        // A repeated state is not sent back.
        let mut two_states = spa(&[]);
        two_states.push(("state".into(), "s2".into()));
        assert_eq!(refused(&two_states), (E::InvalidRequest, None));
    }

    #[test]
    fn a_confidential_client_may_skip_pkce_and_its_scopes_are_its_own() {
        let server = |extra: &[(&str, &str)]| {
            let mut all = params(&[
                ("response_type", "code"),
                ("client_id", "server"),
                ("redirect_uri", "https://app.example/cb?x=1"),
                ("scope", "openid email"),
            ]);
            all.extend(params(extra));
            validate(&all, &clients())
        };
        let AuthorizeOutcome::Valid(request) = server(&[]) else {
            panic!("valid without PKCE");
        };
        assert_eq!(request.code_challenge, None);
        assert_eq!(
            request.code_location("c", "https://id.example"),
            "https://app.example/cb?x=1&code=c&iss=https%3A%2F%2Fid.example"
        );
        let AuthorizeOutcome::Redirect(redirect) = server(&[("scope", "openid offline_access")])
        else {
            panic!("refused");
        };
        // (the duplicate scope parameter is the first refusal here)
        assert_eq!(redirect.error, AuthorizeErrorCode::InvalidRequest);
        let mut all = params(&[
            ("response_type", "code"),
            ("client_id", "server"),
            ("redirect_uri", "https://app.example/cb?x=1"),
            ("scope", "openid offline_access"),
        ]);
        all.push(("state".into(), "a b&c".into()));
        let AuthorizeOutcome::Redirect(redirect) = validate(&all, &clients()) else {
            panic!("refused");
        };
        assert_eq!(redirect.error, AuthorizeErrorCode::InvalidScope);
        assert_eq!(
            redirect.location("https://id.example"),
            "https://app.example/cb?x=1&error=invalid_scope&error_description=a+scope+is+not+allowed+for+this+client&state=a+b%26c&iss=https%3A%2F%2Fid.example"
        );
    }
}
