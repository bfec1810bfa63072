//! The OpenID Provider's JSON endpoints: `POST /oauth2/token` (RFC 6749
//! §3.2, form-encoded in, JSON out) and `GET|POST /oauth2/userinfo`
//! (OpenID Connect Core §5.3, RFC 6750). Their errors are OAuth's own, not
//! problem+json: relying-party libraries read `error`. `oauth_error` is the
//! one place an `OAuthError` becomes a response.
//!
//! Browser apps call both from their own origin: these answer `OPTIONS` and
//! the CORS headers for the registered clients' origins only (`http::cors`).

use lambda_http::http::header::{self, HeaderValue};
use lambda_http::http::{HeaderMap, Method, StatusCode};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde_json::{json, Value};
use tracing::Instrument;

use super::cors::Cors;
use super::edge::client_info;
use super::problem::{refused, HttpError};
use super::request::{media_type, source_ip, MAX_BODY_BYTES};
use std::sync::Arc;

use crate::domain::clients::{Client, ClientRegistry, Scope, Scopes};
use crate::domain::oauth::{self, ClientCredentials, CodeGrant, OAuthError, OAuthLimits, Tokens};
use crate::domain::ports::{Accounts, AuthorizationCodes, DynamicClients, LoginAttempts, Sessions};
use crate::domain::registration::{self, RegistrationError, RegistrationPolicy};
use crate::domain::sessions::ensure_session_open;
use crate::domain::values::{RefreshToken, Timestamp};
use crate::domain::DomainError;
use crate::domain::{activity, grants};
use crate::keystore::{PublishedKeys, RegisteredClients, SigningKeys};

/// `POST /oauth2/token`.
pub async fn token<S: AuthorizationCodes + Sessions + LoginAttempts + DynamicClients>(
    store: &S,
    keys: &SigningKeys,
    clients: &RegisteredClients,
    limits: OAuthLimits,
    request: Request,
) -> Result<Response<Body>, Error> {
    let registry = clients.registry().await;
    let cors = Cors::of(&request, "POST, OPTIONS", |origin| {
        registry.allows_origin(origin)
    });
    let answering = async {
        match *request.method() {
            Method::OPTIONS => cors.preflight(),
            Method::POST => match grant(store, keys, Arc::clone(&registry), limits, &request).await
            {
                Ok(tokens) => token_response(tokens),
                Err(error) => oauth_error(&error),
            },
            _ => refused(&HttpError::MethodNotAllowed {
                allow: Method::POST,
            }),
        }
    }
    .instrument(request_span(&request));
    let answering = Box::pin(answering);
    // A code replayed ends the session it opened: its activity names this client.
    let response = activity::from_client(client_info(&request), answering).await;
    Ok(cors.apply(response))
}

async fn grant<S: AuthorizationCodes + Sessions + LoginAttempts + DynamicClients>(
    store: &S,
    keys: &SigningKeys,
    registry: Arc<ClientRegistry>,
    limits: OAuthLimits,
    request: &Request,
) -> Result<Tokens, OAuthError> {
    let now = Timestamp::now();
    oauth::admit_source(store, limits, &source_ip(request), now).await?;
    let form = form(request)?;
    let credentials = credentials(request.headers(), &form)?;
    let grant_type = form
        .one("grant_type")
        .ok_or(OAuthError::InvalidRequest("grant_type is missing"))?;
    let registry =
        registration::with_registered(store, registry, Some(credentials.client_id()), now).await?;
    let client = oauth::authenticate(store, &registry, &credentials, now).await?;
    // Counted once authenticated: nobody spends a confidential client's budget.
    oauth::admit_client(store, limits, &client.id, now).await?;
    let issuer = keys.issuer().await;
    let tokens = match grant_type {
        "authorization_code" => {
            let grant = CodeGrant {
                code: form
                    .one("code")
                    .ok_or(OAuthError::InvalidRequest("code is missing"))?
                    .to_string(),
                redirect_uri: form
                    .one("redirect_uri")
                    .ok_or(OAuthError::InvalidRequest("redirect_uri is missing"))?
                    .to_string(),
                code_verifier: form.one("code_verifier").map(str::to_string),
                resources: form.resources(),
            };
            oauth::exchange_code(store, &issuer, client, &grant, client_info(request), now).await
        }
        "refresh_token" => {
            let raw = form
                .one("refresh_token")
                .ok_or(OAuthError::InvalidRequest("refresh_token is missing"))?;
            let refresh_token = RefreshToken::parse(raw.to_string())
                .map_err(|_| OAuthError::InvalidGrant("the refresh token is invalid"))?;
            let scope = form.scope()?;
            let from = client_info(request);
            oauth::refresh_grant(
                store,
                &issuer,
                client,
                &refresh_token,
                scope.as_ref(),
                &form.resources(),
                &from,
                now,
            )
            .await
        }
        "client_credentials" => {
            let scope = form.scope()?;
            grants::client_credentials(&issuer, client, scope.as_ref(), &form.resources(), now)
        }
        _ => Err(OAuthError::UnsupportedGrantType),
    }?;
    // A registered client in use is kept; failing to note it costs no token.
    if let Err(error) = registration::used(store, client, now).await {
        tracing::warn!(%error, client_id = %client.id, "a registered client's use was not recorded");
    }
    Ok(tokens)
}

fn token_response(tokens: Tokens) -> Response<Body> {
    let mut body = json!({
        "access_token": tokens.pair.access.token,
        "token_type": "Bearer",
        "expires_in": tokens.pair.access.expires_in,
        "scope": tokens.scope.to_string(),
    });
    if tokens.refresh {
        body["refresh_token"] = json!(tokens.pair.refresh_token);
    }
    if let Some(id_token) = tokens.id_token {
        body["id_token"] = json!(id_token);
    }
    no_store(StatusCode::OK, &body)
}

/// `POST /oauth2/revoke` (RFC 7009): `200` with an empty body whether or
/// not the token was known, so that nobody learns which tokens exist.
pub async fn revoke<S: Sessions + LoginAttempts + DynamicClients>(
    store: &S,
    keys: &PublishedKeys,
    clients: &RegisteredClients,
    limits: OAuthLimits,
    request: Request,
) -> Result<Response<Body>, Error> {
    let registry = clients.registry().await;
    let cors = Cors::of(&request, "POST, OPTIONS", |origin| {
        registry.allows_origin(origin)
    });
    let response = async {
        match *request.method() {
            Method::OPTIONS => cors.preflight(),
            Method::POST => {
                let revoked = async {
                    let (client, token) = token_request(store, &registry, limits, &request).await?;
                    let verifier = keys.verifier().await;
                    grants::revoke(store, &verifier, &client, &token, Timestamp::now()).await
                };
                match revoked.await {
                    Ok(()) => no_store(StatusCode::OK, &json!({})),
                    Err(error) => oauth_error(&error),
                }
            }
            _ => refused(&HttpError::MethodNotAllowed {
                allow: Method::POST,
            }),
        }
    }
    .instrument(request_span(&request))
    .await;
    Ok(cors.apply(response))
}

/// `POST /oauth2/introspect` (RFC 7662), for confidential clients: no CORS,
/// since no browser holds a client secret.
pub async fn introspect<S: Sessions + LoginAttempts + DynamicClients>(
    store: &S,
    keys: &PublishedKeys,
    clients: &RegisteredClients,
    limits: OAuthLimits,
    request: Request,
) -> Result<Response<Body>, Error> {
    let registry = clients.registry().await;
    let response = async {
        match *request.method() {
            Method::POST => {
                let answer = async {
                    let (client, token) = token_request(store, &registry, limits, &request).await?;
                    let verifier = keys.verifier().await;
                    let now = Timestamp::now();
                    grants::introspect(store, &verifier, keys.issuer(), &client, &token, now).await
                };
                match answer.await {
                    Ok(answer) => no_store(StatusCode::OK, &answer),
                    Err(error) => oauth_error(&error),
                }
            }
            _ => refused(&HttpError::MethodNotAllowed {
                allow: Method::POST,
            }),
        }
    }
    .instrument(request_span(&request))
    .await;
    Ok(response)
}

/// The authenticated client and the `token` of a revocation or
/// introspection request (`token_type_hint` is a hint: the token's form
/// says what it is).
async fn token_request<S: LoginAttempts + DynamicClients>(
    store: &S,
    registry: &Arc<ClientRegistry>,
    limits: OAuthLimits,
    request: &Request,
) -> Result<(Client, String), OAuthError> {
    let now = Timestamp::now();
    oauth::admit_source(store, limits, &source_ip(request), now).await?;
    let form = form(request)?;
    let credentials = credentials(request.headers(), &form)?;
    let registry = registration::with_registered(
        store,
        Arc::clone(registry),
        Some(credentials.client_id()),
        now,
    )
    .await?;
    let client = oauth::authenticate(store, &registry, &credentials, now)
        .await?
        .clone();
    oauth::admit_client(store, limits, &client.id, now).await?;
    let token = form
        .one("token")
        .ok_or(OAuthError::InvalidRequest("token is missing"))?;
    if token.len() > MAX_TOKEN_CHARS {
        return Err(OAuthError::InvalidRequest("token is too long"));
    }
    Ok((client, token.to_string()))
}

/// `POST /oauth2/register` (RFC 7591): a JSON body of client metadata;
/// `201` with the new public client, RFC 7591 §3.2.2's errors, `403` when
/// registration is off, `429` past the source address's hourly budget.
pub async fn register<S: DynamicClients + LoginAttempts>(
    store: &S,
    policy: RegistrationPolicy,
    request: Request,
) -> Result<Response<Body>, Error> {
    let response = async {
        if request.method() != Method::POST {
            return refused(&HttpError::MethodNotAllowed {
                allow: Method::POST,
            });
        }
        let registered = async {
            if policy.mode == registration::RegistrationMode::Off {
                return Err(RegistrationError::Off);
            }
            let metadata = metadata(&request)?;
            registration::register(
                store,
                policy,
                &metadata,
                &source_ip(&request),
                Timestamp::now(),
            )
            .await
        };
        match registered.await {
            Ok(client) => no_store(StatusCode::CREATED, &registration::response(&client)),
            Err(error) => registration_error(error),
        }
    }
    .instrument(request_span(&request))
    .await;
    Ok(response)
}

/// The JSON object of a registration request.
fn metadata(request: &Request) -> Result<Value, RegistrationError> {
    let essence = media_type(request);
    if essence.as_deref() != Some("application/json") {
        return Err(RegistrationError::InvalidClientMetadata(
            "the body must be application/json",
        ));
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(RegistrationError::InvalidClientMetadata(
            "the body is too large",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|_| RegistrationError::InvalidClientMetadata("the body is not JSON"))
}

fn registration_error(error: RegistrationError) -> Response<Body> {
    use StatusCode as S;
    let description = error.to_string();
    let (status, code) = match error {
        RegistrationError::Off => (S::FORBIDDEN, "access_denied"),
        RegistrationError::InvalidRedirectUri(_) => (S::BAD_REQUEST, "invalid_redirect_uri"),
        RegistrationError::InvalidClientMetadata(_) => (S::BAD_REQUEST, "invalid_client_metadata"),
        RegistrationError::Domain(domain) => return oauth_error(&OAuthError::Domain(domain)),
    };
    tracing::info!(error = %description, code, "registration refused");
    no_store(
        status,
        &json!({ "error": code, "error_description": description }),
    )
}

/// Longer than any token of ours.
const MAX_TOKEN_CHARS: usize = 8192;

/// The one table of what each token-endpoint error means over HTTP
/// (RFC 6749 §5.2; throttles and outages as the API answers them).
pub fn oauth_error(error: &OAuthError) -> Response<Body> {
    use StatusCode as S;
    let (status, code) = match error {
        OAuthError::InvalidRequest(_) => (S::BAD_REQUEST, "invalid_request"),
        OAuthError::InvalidClient(_) => (S::UNAUTHORIZED, "invalid_client"),
        OAuthError::InvalidGrant(_) => (S::BAD_REQUEST, "invalid_grant"),
        OAuthError::UnauthorizedClient(_) => (S::BAD_REQUEST, "unauthorized_client"),
        OAuthError::UnsupportedGrantType => (S::BAD_REQUEST, "unsupported_grant_type"),
        OAuthError::InvalidScope(_) => (S::BAD_REQUEST, "invalid_scope"),
        OAuthError::InvalidTarget(_) => (S::BAD_REQUEST, "invalid_target"),
        OAuthError::UnsupportedTokenType => (S::BAD_REQUEST, "unsupported_token_type"),
        OAuthError::Domain(domain) => match domain {
            DomainError::TooManyAttempts { .. } | DomainError::TooManyRequests { .. } => {
                (S::TOO_MANY_REQUESTS, "temporarily_unavailable")
            }
            DomainError::Internal { .. } => (S::INTERNAL_SERVER_ERROR, "server_error"),
            _ if domain.is_failure() => (S::SERVICE_UNAVAILABLE, "temporarily_unavailable"),
            _ => (S::BAD_REQUEST, "invalid_request"),
        },
    };
    match error {
        OAuthError::Domain(domain) if domain.is_failure() => {
            tracing::error!(cause = domain.cause().unwrap_or_default(), error = %domain, "token request failed");
        }
        _ => tracing::info!(%error, code, "token request refused"),
    }
    let description = match error {
        // A failure's cause is for the log only.
        OAuthError::Domain(domain) if domain.is_failure() => "try again shortly".to_string(),
        other => other.to_string(),
    };
    let mut response = no_store(
        status,
        &json!({ "error": code, "error_description": description }),
    );
    let headers = response.headers_mut();
    match error {
        OAuthError::InvalidClient(_) => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="oauth2", error="invalid_client""#),
            );
        }
        OAuthError::Domain(
            DomainError::TooManyAttempts { retry_after }
            | DomainError::TooManyRequests { retry_after },
        ) => {
            let seconds = crate::domain::error::retry_after_seconds(*retry_after);
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        OAuthError::Domain(domain) if domain.is_failure() => {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        _ => {}
    }
    response
}

/// JSON that no cache may keep (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::PRAGMA, "no-cache")
        .body(Body::Text(body.to_string()))
        .expect("static headers are valid")
}

/// A form body's parameters, in order.
struct Form(Vec<(String, String)>);

impl Form {
    /// The one value of `name`, if present and not empty (RFC 6749 §3.2:
    /// empty means absent).
    fn one(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, value)| key == name && !value.is_empty())
            .map(|(_, value)| value.as_str())
    }

    /// Every `resource` (RFC 8707 §2: the one repeatable parameter).
    fn resources(&self) -> Vec<String> {
        self.0
            .iter()
            .filter(|(key, value)| key == "resource" && !value.is_empty())
            .map(|(_, value)| value.clone())
            .collect()
    }

    /// `scope`, if present: known scopes only.
    fn scope(&self) -> Result<Option<Scopes>, OAuthError> {
        self.one("scope")
            .map(|raw| {
                Scopes::parse(raw).ok_or(OAuthError::InvalidScope("a scope is not supported"))
            })
            .transpose()
    }
}

/// `application/x-www-form-urlencoded`, at most `MAX_BODY_BYTES`, with no
/// parameter repeated (RFC 6749 §3.2) but `resource` (RFC 8707).
fn form(request: &Request) -> Result<Form, OAuthError> {
    let essence = media_type(request);
    if essence.as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let bytes: &[u8] = request.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(OAuthError::InvalidRequest("the body is too large"));
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
    for (index, (name, _)) in pairs.iter().enumerate() {
        if name != "resource" && pairs[..index].iter().any(|(earlier, _)| earlier == name) {
            return Err(OAuthError::InvalidRequest("a parameter is repeated"));
        }
    }
    Ok(Form(pairs))
}

/// `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-encoded, then
/// Basic), `client_secret_post`, or `none` with a `client_id`; more than
/// one method is refused.
fn credentials(headers: &HeaderMap, form: &Form) -> Result<ClientCredentials, OAuthError> {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    let basic = match headers.get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| OAuthError::InvalidClient("malformed Authorization header"))?;
            let (scheme, encoded) = value
                .trim()
                .split_once(' ')
                .ok_or(OAuthError::InvalidClient("malformed Authorization header"))?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::InvalidClient("use HTTP Basic authentication"));
            }
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or(OAuthError::InvalidClient("malformed Basic credentials"))?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or(OAuthError::InvalidClient("malformed Basic credentials"))?;
            let decode = |part: &str| -> String {
                form_urlencoded::parse(format!("x={part}").as_bytes())
                    .next()
                    .map(|(_, value)| value.into_owned())
                    .unwrap_or_default()
            };
            Some((decode(id), decode(secret)))
        }
    };
    match (basic, form.one("client_id"), form.one("client_secret")) {
        (Some(_), _, Some(_)) => Err(OAuthError::InvalidRequest(
            "use one client authentication method",
        )),
        (Some((id, _)), Some(body_id), None) if id != body_id => Err(OAuthError::InvalidRequest(
            "client_id differs from the authenticated client",
        )),
        (Some((client_id, secret)), _, None) => Ok(ClientCredentials::Secret { client_id, secret }),
        (None, Some(client_id), Some(secret)) => Ok(ClientCredentials::Secret {
            client_id: client_id.to_string(),
            secret: secret.to_string(),
        }),
        (None, Some(client_id), None) => Ok(ClientCredentials::None {
            client_id: client_id.to_string(),
        }),
        (None, None, _) => Err(OAuthError::InvalidClient(
            "client authentication is required",
        )),
    }
}

/// `GET|POST /oauth2/userinfo`: claims of the token's user, by its scope.
pub async fn userinfo<S: Accounts + Sessions>(
    store: &S,
    keys: &PublishedKeys,
    clients: &RegisteredClients,
    request: Request,
) -> Result<Response<Body>, Error> {
    let registry = clients.registry().await;
    let cors = Cors::of(&request, "GET, POST, OPTIONS", |origin| {
        registry.allows_origin(origin)
    });
    let response = async {
        match *request.method() {
            Method::OPTIONS => cors.preflight(),
            Method::GET | Method::POST => match claims(store, keys, &request).await {
                Ok(claims) => no_store(StatusCode::OK, &claims),
                Err(error) => bearer_error(&error),
            },
            _ => {
                let mut response = refused(&HttpError::MethodNotAllowed { allow: Method::GET });
                response
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, POST"));
                response
            }
        }
    }
    .instrument(request_span(&request))
    .await;
    Ok(cors.apply(response))
}

/// RFC 6750 §3.1's errors.
#[derive(Debug, thiserror::Error)]
enum BearerError {
    /// No token at all: a bare challenge.
    #[error("a bearer token is required")]
    Missing,
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("the access token is invalid, expired or revoked")]
    InvalidToken,
    #[error("the token was not granted the openid scope")]
    InsufficientScope,
    #[error(transparent)]
    Domain(DomainError),
}

async fn claims<S: Accounts + Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: &Request,
) -> Result<Value, BearerError> {
    let token = presented_token(request)?;
    let verified = keys
        .verify_access(&token)
        .await
        .map_err(|_| BearerError::InvalidToken)?;
    let scope = verified
        .client
        .as_ref()
        .and_then(|client| Scopes::parse(&client.scope))
        .filter(|scopes| scopes.contains(Scope::OpenId))
        .ok_or(BearerError::InsufficientScope)?;
    let now = Timestamp::now();
    ensure_session_open(store, &verified.caller, now)
        .await
        .map_err(|error| match error {
            DomainError::SessionEnded => BearerError::InvalidToken,
            other => BearerError::Domain(other),
        })?;
    let account = store
        .find_account(verified.caller.user_id)
        .await
        .map_err(|error| BearerError::Domain(error.into()))?
        .ok_or(BearerError::InvalidToken)?;
    // `sub` is the user id: it never changes, whatever the e-mail becomes.
    let mut claims = json!({ "sub": account.user_id.to_hex() });
    if scope.contains(Scope::Profile) {
        claims["preferred_username"] = json!(account.username);
    }
    if scope.contains(Scope::Email) {
        claims["email"] = json!(account.email);
        claims["email_verified"] = json!(account.email_verified);
    }
    Ok(claims)
}

/// The bearer from the header, or (POST only) from a form body's
/// `access_token` (RFC 6750 §2.2); both at once is refused.
fn presented_token(request: &Request) -> Result<String, BearerError> {
    let header = match request.headers().get(header::AUTHORIZATION) {
        None => None,
        Some(value) => {
            let value = value.to_str().map_err(|_| BearerError::InvalidToken)?;
            match value.trim().split_once(' ') {
                Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
                    Some(token.trim().to_string())
                }
                _ => return Err(BearerError::InvalidRequest("use the Bearer scheme")),
            }
        }
    };
    let in_body = if request.method() == Method::POST && !request.body().as_ref().is_empty() {
        match form(request) {
            Ok(form) => form.one("access_token").map(str::to_string),
            Err(_) => {
                return Err(BearerError::InvalidRequest(
                    "the body must be form-encoded, with access_token once",
                ))
            }
        }
    } else {
        None
    };
    match (header, in_body) {
        (Some(_), Some(_)) => Err(BearerError::InvalidRequest(
            "send the token in one place only",
        )),
        (Some(token), None) | (None, Some(token)) if !token.is_empty() => Ok(token),
        _ => Err(BearerError::Missing),
    }
}

fn bearer_error(error: &BearerError) -> Response<Body> {
    use StatusCode as S;
    let (status, challenge, code) = match error {
        BearerError::Missing => (S::UNAUTHORIZED, "Bearer".to_string(), "invalid_token"),
        BearerError::InvalidRequest(_) => (
            S::BAD_REQUEST,
            r#"Bearer error="invalid_request""#.to_string(),
            "invalid_request",
        ),
        BearerError::InvalidToken => (
            S::UNAUTHORIZED,
            r#"Bearer error="invalid_token""#.to_string(),
            "invalid_token",
        ),
        BearerError::InsufficientScope => (
            S::FORBIDDEN,
            r#"Bearer error="insufficient_scope", scope="openid""#.to_string(),
            "insufficient_scope",
        ),
        BearerError::Domain(domain) => {
            tracing::error!(cause = domain.cause().unwrap_or_default(), error = %domain, "userinfo failed");
            let status = if domain.is_failure() {
                S::SERVICE_UNAVAILABLE
            } else {
                S::BAD_REQUEST
            };
            (status, "Bearer".to_string(), "temporarily_unavailable")
        }
    };
    if !matches!(error, BearerError::Domain(_)) {
        tracing::info!(%error, "userinfo refused");
    }
    let description = match error {
        BearerError::Domain(_) => "try again shortly".to_string(),
        other => other.to_string(),
    };
    let mut response = no_store(
        status,
        &json!({ "error": code, "error_description": description }),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&challenge).expect("static challenges are header values"),
    );
    response
}

/// Every line logged while answering carries the request id and the
/// client's address, as `edge::answer`'s do.
fn request_span(request: &Request) -> tracing::Span {
    let request_id = request
        .lambda_context_ref()
        .map(|context| context.request_id.clone())
        .unwrap_or_default();
    tracing::info_span!("request", request_id, source_ip = %source_ip(request))
}
