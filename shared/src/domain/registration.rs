//! Dynamic client registration (RFC 7591, issue #22), off unless
//! `DYNAMIC_CLIENT_REGISTRATION=open`. Anyone may register, so what they get
//! is the least: a public client (PKCE, no secret), third-party (consent
//! every time it asks for more, with a warning that nobody checked it), its
//! redirect URIs https or loopback only, its scopes among ours. Each source
//! address has an hourly budget of registrations; a client unused for 30
//! days is forgotten (a TTL index on its expiry, moved on each token grant).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::clients::{Client, ClientRegistry, ClientType, GrantType, Scope, Scopes};
use super::error::DomainError;
use super::ports::{DynamicClients, LoginAttempts, RegisteredClient};
use super::throttle;
use super::values::Timestamp;

/// A registered client is forgotten this long after its last use.
pub const UNUSED_LIFETIME: Duration = Duration::from_secs(30 * 86_400);
/// Every registered client's id starts so: no configured client is looked
/// for in the database, and no registered one can shadow a configured one.
pub const ID_PREFIX: &str = "dyn_";
/// The name shown when a client gives none.
const UNNAMED: &str = "Unnamed app";
const MAX_REDIRECT_URIS: usize = 5;
const MAX_URI_CHARS: usize = 2048;
const MAX_NAME_CHARS: usize = 100;
const HOUR: Duration = Duration::from_secs(3600);

/// `DYNAMIC_CLIENT_REGISTRATION`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RegistrationMode {
    /// The default: `POST /oauth2/register` refuses, discovery omits it.
    #[default]
    Off,
    /// Anyone may register a public, third-party client.
    Open,
}

impl RegistrationMode {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "off" => Some(Self::Off),
            "open" => Some(Self::Open),
            _ => None,
        }
    }
}

/// How registration is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistrationPolicy {
    pub mode: RegistrationMode,
    /// Registrations per source address per hour.
    pub per_source_per_hour: i64,
}

/// RFC 7591 §3.2.2's errors, and refusals of ours.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("dynamic client registration is off")]
    Off,
    #[error("{0}")]
    InvalidRedirectUri(&'static str),
    #[error("{0}")]
    InvalidClientMetadata(&'static str),
    #[error(transparent)]
    Domain(#[from] DomainError),
}

impl From<super::records::StoreError> for RegistrationError {
    fn from(error: super::records::StoreError) -> Self {
        Self::Domain(error.into())
    }
}

/// Registers the client `metadata` describes, for `source` (its address).
pub async fn register<S: DynamicClients + LoginAttempts>(
    store: &S,
    policy: RegistrationPolicy,
    metadata: &Value,
    source: &str,
    now: Timestamp,
) -> Result<RegisteredClient, RegistrationError> {
    if policy.mode == RegistrationMode::Off {
        return Err(RegistrationError::Off);
    }
    // Checked first: a malformed request spends nothing.
    let mut client = validate(metadata)?;
    let key = format!("register|{source}");
    if let Some(retry_after) =
        throttle::count_in_window(store, &key, Some(policy.per_source_per_hour), HOUR, now).await?
    {
        tracing::warn!(audit = "client_registration_throttled", "audit");
        return Err(DomainError::TooManyRequests { retry_after }.into());
    }
    client.created_at = now;
    client.expires_at = now.plus(UNUSED_LIFETIME);
    store.insert_registered_client(&client).await?;
    tracing::info!(audit = "client_registered", client_id = %client.client_id, "audit");
    Ok(client)
}

/// The client RFC 7591 §2 metadata describes, with a new id; only the
/// members this provider honours are read, the rest ignored (§3.1).
pub fn validate(metadata: &Value) -> Result<RegisteredClient, RegistrationError> {
    use RegistrationError::{InvalidClientMetadata as Bad, InvalidRedirectUri as BadUri};
    let metadata = metadata
        .as_object()
        .ok_or(Bad("the body must be a JSON object"))?;
    let strings = |name: &str| -> Result<Option<Vec<String>>, RegistrationError> {
        match metadata.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .map(Some)
                .ok_or(Bad("a list member is not a string")),
            // `null` too: the member is there, of the wrong type.
            Some(_) => Err(Bad("a list member is not a list")),
        }
    };
    let text = |name: &str| -> Result<Option<&str>, RegistrationError> {
        match metadata.get(name) {
            None => Ok(None),
            Some(Value::String(value)) => Ok(Some(value.as_str())),
            Some(_) => Err(Bad("a text member is not a string")),
        }
    };
    let redirect_uris = strings("redirect_uris")?.unwrap_or_default();
    if redirect_uris.is_empty() {
        return Err(BadUri("redirect_uris is required"));
    }
    if redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err(BadUri("at most 5 redirect URIs"));
    }
    for uri in &redirect_uris {
        check_redirect_uri(uri).map_err(BadUri)?;
    }
    if !matches!(text("token_endpoint_auth_method")?, None | Some("none")) {
        return Err(Bad(
            "registered clients are public: token_endpoint_auth_method must be none",
        ));
    }
    let grants = strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
    let mut refresh = false;
    for grant in &grants {
        match grant.as_str() {
            "authorization_code" => {}
            "refresh_token" => refresh = true,
            _ => {
                return Err(Bad(
                    "grant_types may be authorization_code and refresh_token",
                ))
            }
        }
    }
    if !grants.iter().any(|grant| grant == "authorization_code") {
        return Err(Bad("grant_types must include authorization_code"));
    }
    let responses = strings("response_types")?.unwrap_or_else(|| vec!["code".into()]);
    if responses.iter().any(|response| response != "code") {
        return Err(Bad("response_types may only be code"));
    }
    let name = match text("client_name")? {
        None => UNNAMED.to_string(),
        Some(name) => {
            let name = name.trim();
            let ok = !name.is_empty()
                && name.chars().count() <= MAX_NAME_CHARS
                && !name.chars().any(char::is_control);
            if !ok {
                return Err(Bad("client_name must be 1 to 100 printable characters"));
            }
            name.to_string()
        }
    };
    let scope = match text("scope")? {
        None => Scope::ALL.into_iter().collect::<Scopes>(),
        Some(raw) => Scopes::parse(raw).ok_or(Bad("a scope is not supported"))?,
    };
    let now = Timestamp::now();
    Ok(RegisteredClient {
        client_id: new_client_id(),
        name,
        redirect_uris,
        scope: scope.to_string(),
        refresh,
        created_at: now,
        expires_at: now.plus(UNUSED_LIFETIME),
    })
}

/// https, or http on a loopback address (RFC 8252 §7.3); absolute, no
/// fragment, no user information.
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.len() > MAX_URI_CHARS {
        return Err("a redirect URI is too long");
    }
    let url = url::Url::parse(uri).map_err(|_| "a redirect URI is not an absolute URL")?;
    if url.fragment().is_some() {
        return Err("a redirect URI has a fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a redirect URI has user information");
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(address)) => address.is_loopback(),
        Some(url::Host::Ipv6(address)) => address.is_loopback(),
        None => return Err("a redirect URI has no host"),
    };
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err("a redirect URI must be https, or http on a loopback address"),
    }
}

fn new_client_id() -> String {
    use rand_core::{OsRng, RngCore};
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    format!("{ID_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// The registered client as the provider's other parts see clients.
pub fn client_of(registered: &RegisteredClient) -> Client {
    let mut grants = BTreeSet::from([GrantType::AuthorizationCode]);
    if registered.refresh {
        grants.insert(GrantType::RefreshToken);
    }
    Client {
        id: registered.client_id.clone(),
        name: registered.name.clone(),
        kind: ClientType::Public,
        secret_sha256: None,
        redirect_uris: registered.redirect_uris.clone(),
        post_logout_redirect_uris: Vec::new(),
        scopes: Scopes::parse(&registered.scope).unwrap_or_default(),
        grants,
        first_party: false,
        resources: Vec::new(),
        registered: true,
    }
}

/// RFC 7591 §3.2.1's answer.
pub fn response(registered: &RegisteredClient) -> Value {
    let mut grant_types = vec!["authorization_code"];
    if registered.refresh {
        grant_types.push("refresh_token");
    }
    json!({
        "client_id": registered.client_id,
        "client_id_issued_at": registered.created_at.as_secs(),
        "client_name": registered.name,
        "redirect_uris": registered.redirect_uris,
        "grant_types": grant_types,
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "scope": registered.scope,
    })
}

/// `base`, with the registered client `client_id` names when it is one
/// (and still kept): what the authorize, consent and token endpoints look
/// clients up in.
pub async fn with_registered<S: DynamicClients>(
    store: &S,
    base: Arc<ClientRegistry>,
    client_id: Option<&str>,
    now: Timestamp,
) -> Result<Arc<ClientRegistry>, DomainError> {
    let Some(client_id) = client_id.filter(|id| id.starts_with(ID_PREFIX) && id.len() <= 64) else {
        return Ok(base);
    };
    if base.find(client_id).is_some() {
        return Ok(base);
    }
    Ok(match store.find_registered_client(client_id, now).await? {
        Some(registered) => Arc::new(base.with_client(client_of(&registered))),
        None => base,
    })
}

/// A registered client was used (a token granted): it is kept 30 more days.
pub async fn used<S: DynamicClients>(
    store: &S,
    client: &Client,
    now: Timestamp,
) -> Result<(), DomainError> {
    if client.registered {
        store
            .touch_registered_client(&client.id, now.plus(UNUSED_LIFETIME))
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::MemoryStore;

    fn policy(limit: i64) -> RegistrationPolicy {
        RegistrationPolicy {
            mode: RegistrationMode::Open,
            per_source_per_hour: limit,
        }
    }

    #[test]
    fn metadata_is_checked() {
        let ok = validate(&json!({
            "redirect_uris": ["http://127.0.0.1:33418/callback", "https://app.example/cb"],
            "client_name": "Claude", "grant_types": ["authorization_code", "refresh_token"],
            "token_endpoint_auth_method": "none", "logo_uri": "ignored",
        }))
        .unwrap();
        assert!(ok.client_id.starts_with(ID_PREFIX));
        assert!(ok.refresh);
        assert_eq!(ok.scope, "openid profile email offline_access");
        let client = client_of(&ok);
        assert!(client.is_public() && !client.first_party && client.registered);
        // A loopback redirect URI matches on any port (RFC 8252 §7.3).
        assert!(client.redirect_uri_matches("http://127.0.0.1:5555/callback"));
        for (bad, uri_error) in [
            (json!({}), true),
            (json!({"redirect_uris": []}), true),
            (json!({"redirect_uris": ["http://app.example/cb"]}), true),
            (json!({"redirect_uris": ["https://app.example/cb#x"]}), true),
            (json!({"redirect_uris": ["https://u@app.example/cb"]}), true),
            (json!({"redirect_uris": ["javascript:alert(1)"]}), true),
            (json!({"redirect_uris": ["/cb"]}), true),
            (json!({"redirect_uris": "https://app.example/cb"}), false),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["refresh_token"]}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "scope": "openid phone"}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": ""}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": "a\nb"}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": 7}),
                false,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "scope": null}),
                false,
            ),
            (json!({"redirect_uris": null}), false),
            (json!([]), false),
        ] {
            match validate(&bad) {
                Err(RegistrationError::InvalidRedirectUri(_)) if uri_error => {}
                Err(RegistrationError::InvalidClientMetadata(_)) if !uri_error => {}
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn registration_is_off_by_default_and_limited_per_source() {
        let store = MemoryStore::default();
        let metadata = json!({"redirect_uris": ["https://app.example/cb"]});
        let now = Timestamp::now();
        let off = RegistrationPolicy {
            mode: RegistrationMode::default(),
            per_source_per_hour: 10,
        };
        assert!(matches!(
            register(&store, off, &metadata, "192.0.2.1", now).await,
            Err(RegistrationError::Off)
        ));
        for _ in 0..2 {
            register(&store, policy(2), &metadata, "192.0.2.1", now)
                .await
                .unwrap();
        }
        assert!(matches!(
            register(&store, policy(2), &metadata, "192.0.2.1", now).await,
            Err(RegistrationError::Domain(
                DomainError::TooManyRequests { .. }
            ))
        ));
        // Another address has its own budget.
        let other = register(&store, policy(2), &metadata, "192.0.2.2", now)
            .await
            .unwrap();
        let registry = with_registered(
            &store,
            Arc::new(ClientRegistry::default()),
            Some(&other.client_id),
            now,
        )
        .await
        .unwrap();
        assert_eq!(registry.find(&other.client_id).unwrap().name, UNNAMED);
        // Forgotten once unused past its expiry.
        let later = now.plus(UNUSED_LIFETIME + Duration::from_secs(1));
        let registry = with_registered(
            &store,
            Arc::new(ClientRegistry::default()),
            Some(&other.client_id),
            later,
        )
        .await
        .unwrap();
        assert!(registry.find(&other.client_id).is_none());
    }
}
