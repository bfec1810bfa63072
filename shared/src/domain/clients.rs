//! OAuth clients as configuration: a JSON document (a Secrets Manager
//! secret in AWS, `.local/oauth-clients.json` under `make dev`) read and
//! re-read like the key sets, never stored in the database or in code.
//!
//! ```json
//! {"clients": [{"id": "demo-server", "name": "Demo server", "type": "confidential",
//!   "secret_sha256": "<hex>", "redirect_uris": ["https://app.example/cb"],
//!   "post_logout_redirect_uris": [], "scopes": ["openid", "email"],
//!   "grants": ["authorization_code", "refresh_token"], "first_party": false}]}
//! ```
//!
//! A secret is 256 random bits, so its SHA-256 is all that is kept: a slow
//! hash protects guessable passwords, which these are not.

use std::collections::BTreeSet;
use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::resources::normalise;
use super::totp::constant_time_eq;
use super::values::hex;

/// The scopes this provider knows. `phone` and `address` are not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    OpenId,
    Profile,
    Email,
    OfflineAccess,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Self::OpenId,
        Self::Profile,
        Self::Email,
        Self::OfflineAccess,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenId => "openid",
            Self::Profile => "profile",
            Self::Email => "email",
            Self::OfflineAccess => "offline_access",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == raw)
    }
}

/// A set of known scopes, written in one canonical order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<Scope>);

impl Scopes {
    /// A space-separated list (RFC 6749 §3.3); `None` when it names a scope
    /// this provider does not know, or is empty.
    pub fn parse(raw: &str) -> Option<Self> {
        let mut scopes = BTreeSet::new();
        for token in raw.split(' ').filter(|token| !token.is_empty()) {
            scopes.insert(Scope::parse(token)?);
        }
        (!scopes.is_empty()).then_some(Self(scopes))
    }

    pub fn contains(&self, scope: Scope) -> bool {
        self.0.contains(&scope)
    }

    pub fn is_subset(&self, of: &Scopes) -> bool {
        self.0.is_subset(&of.0)
    }

    pub fn iter(&self) -> impl Iterator<Item = Scope> + '_ {
        self.0.iter().copied()
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientType {
    /// Cannot keep a secret (an SPA, a native app): PKCE instead.
    Public,
    Confidential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    AuthorizationCode,
    RefreshToken,
    /// A machine token for the client itself (RFC 6749 §4.4, issue #22):
    /// confidential clients with resources only.
    ClientCredentials,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }
}

/// One registered client.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    pub id: String,
    /// Shown to people: on the consent page and in their device list.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ClientType,
    /// Hex SHA-256 of the secret; confidential clients only.
    #[serde(default)]
    pub secret_sha256: Option<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(deserialize_with = "scope_list")]
    pub scopes: Scopes,
    pub grants: BTreeSet<GrantType>,
    /// Ours (skips consent, may use the `/users/*` routes).
    #[serde(default)]
    pub first_party: bool,
    /// The resources (RFC 8707) of its machine tokens (`client_credentials`),
    /// among the document's `resources`; normal forms once parsed. A
    /// confidential client also introspects the tokens meant for these.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Registered dynamically (RFC 7591), not configured: nobody vouched
    /// for it, and the consent page says so.
    #[serde(skip)]
    pub registered: bool,
}

fn scope_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Scopes, D::Error> {
    let names = Vec::<String>::deserialize(deserializer)?;
    names
        .iter()
        .map(|name| {
            Scope::parse(name)
                .ok_or_else(|| serde::de::Error::custom(format!("unknown scope {name:?}")))
        })
        .collect()
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.kind == ClientType::Public
    }

    pub fn allows(&self, grant: GrantType) -> bool {
        self.grants.contains(&grant)
    }

    /// Whether `presented` is this client's secret, in constant time over
    /// the digests (a public client has none, so never).
    pub fn secret_matches(&self, presented: &str) -> bool {
        let Some(expected) = &self.secret_sha256 else {
            return false;
        };
        let digest = secret_digest(presented);
        constant_time_eq(digest.as_bytes(), expected.to_ascii_lowercase().as_bytes())
    }

    /// The registered redirect URI `presented` matches: exactly, or for a
    /// public client's loopback URI on any port (RFC 8252 §7.3: a native app
    /// listens on whatever port the system gives it).
    pub fn redirect_uri_matches(&self, presented: &str) -> bool {
        self.redirect_uris.iter().any(|registered| {
            registered == presented || (self.is_public() && loopback_match(registered, presented))
        })
    }

    pub fn post_logout_uri_matches(&self, presented: &str) -> bool {
        self.post_logout_redirect_uris
            .iter()
            .any(|registered| registered == presented)
    }

    /// The origins of its redirect URIs: where its browser code runs, and
    /// so what CORS allows.
    pub fn origins(&self) -> impl Iterator<Item = String> + '_ {
        self.redirect_uris.iter().filter_map(|uri| {
            let url = url::Url::parse(uri).ok()?;
            let origin = url.origin();
            origin.is_tuple().then(|| origin.ascii_serialization())
        })
    }
}

/// The loopback hosts of RFC 8252 §7.3 (and `localhost`, §8.3 discourages
/// but browsers' apps use it).
fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(address) => address.is_loopback(),
        url::Host::Ipv6(address) => address.is_loopback(),
    }
}

/// Equal but for the port, both `http` on a loopback host.
fn loopback_match(registered: &str, presented: &str) -> bool {
    let (Ok(mut registered), Ok(mut presented)) =
        (url::Url::parse(registered), url::Url::parse(presented))
    else {
        return false;
    };
    let loopback =
        |url: &url::Url| url.scheme() == "http" && url.host().is_some_and(|h| is_loopback_host(&h));
    if !loopback(&registered) || !loopback(&presented) {
        return false;
    }
    // Userinfo in a redirect URI is never legitimate.
    if !presented.username().is_empty() || presented.password().is_some() {
        return false;
    }
    let _ = registered.set_port(None);
    let _ = presented.set_port(None);
    registered == presented
}

/// What a client secret is kept as.
pub fn secret_digest(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Why a clients document was refused (never quoting a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientsError {
    #[error("not a clients document: {0}")]
    Malformed(String),
    #[error("client {0:?} is listed twice")]
    Duplicate(String),
    #[error("client {id:?}: {reason}")]
    Invalid { id: String, reason: &'static str },
}

/// Every registered client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientRegistry {
    clients: Vec<Client>,
    /// The resources (RFC 8707) tokens may be issued for, normalised.
    resources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    clients: Vec<Client>,
    /// The APIs (MCP servers…) this provider issues tokens for, by URL.
    #[serde(default)]
    resources: Vec<String>,
}

/// Longest client id accepted anywhere.
pub const CLIENT_ID_MAX_CHARS: usize = 128;

impl ClientRegistry {
    pub fn parse(document: &str) -> Result<Self, ClientsError> {
        let mut document: Document = serde_json::from_str(document)
            .map_err(|error| ClientsError::Malformed(error.to_string()))?;
        let mut resources = Vec::new();
        for raw in &document.resources {
            let normal = normalise(raw).ok_or_else(|| {
                ClientsError::Malformed(format!("resource {raw:?} is not an absolute URL"))
            })?;
            if !resources.contains(&normal) {
                resources.push(normal);
            }
        }
        let mut seen = BTreeSet::new();
        for client in &mut document.clients {
            if !seen.insert(client.id.clone()) {
                return Err(ClientsError::Duplicate(client.id.clone()));
            }
            let invalid = |reason| ClientsError::Invalid {
                id: client.id.clone(),
                reason,
            };
            let raw: Vec<&str> = client.resources.iter().map(String::as_str).collect();
            let selected = super::resources::select(&raw, &resources)
                .map_err(|_| invalid("a resource is not among the document's resources"))?;
            client.resources = selected;
            check(client).map_err(invalid)?;
        }
        Ok(Self {
            clients: document.clients,
            resources,
        })
    }

    /// This registry and `client` (a registered client, for one request).
    pub fn with_client(&self, client: Client) -> Self {
        let mut extended = self.clone();
        extended.clients.push(client);
        extended
    }

    /// The configured resources, normalised.
    pub fn resources(&self) -> &[String] {
        &self.resources
    }

    pub fn find(&self, id: &str) -> Option<&Client> {
        self.clients.iter().find(|client| client.id == id)
    }

    /// Every registered client's origin, for CORS.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.clients
            .iter()
            .any(|client| client.origins().any(|allowed| allowed == origin))
    }
}

fn check(client: &Client) -> Result<(), &'static str> {
    let id_ok = !client.id.is_empty()
        && client.id.len() <= CLIENT_ID_MAX_CHARS
        && client.id.bytes().all(|b| b.is_ascii_graphic());
    if !id_ok {
        return Err("the id must be 1 to 128 printable ASCII characters");
    }
    match (client.kind, &client.secret_sha256) {
        (ClientType::Confidential, Some(digest))
            if digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()) => {}
        (ClientType::Confidential, _) => {
            return Err("a confidential client needs secret_sha256, 64 hex digits")
        }
        (ClientType::Public, Some(_)) => return Err("a public client has no secret"),
        (ClientType::Public, None) => {}
    }
    if client.grants.is_empty() {
        return Err("at least one grant is needed");
    }
    if client.allows(GrantType::AuthorizationCode) && client.redirect_uris.is_empty() {
        return Err("at least one redirect URI is needed");
    }
    if client.allows(GrantType::ClientCredentials)
        && (client.is_public() || client.resources.is_empty())
    {
        return Err("client_credentials is for confidential clients with resources");
    }
    for uri in client
        .redirect_uris
        .iter()
        .chain(&client.post_logout_redirect_uris)
    {
        // RFC 6749 §3.1.2: absolute, no fragment.
        let parsed = url::Url::parse(uri).map_err(|_| "a redirect URI is not an absolute URL")?;
        if parsed.fragment().is_some() {
            return Err("a redirect URI has a fragment");
        }
    }
    if client.allows(GrantType::RefreshToken) && !client.allows(GrantType::AuthorizationCode) {
        return Err("refresh_token comes with authorization_code");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(kind: &str, secret: Option<&str>) -> String {
        let secret = secret
            .map(|secret| format!(r#""secret_sha256": "{}","#, secret_digest(secret)))
            .unwrap_or_default();
        format!(
            r#"{{"clients": [{{"id": "app", "name": "App", "type": "{kind}", {secret}
              "redirect_uris": ["https://app.example/cb", "http://127.0.0.1:8765/callback",
                                "http://localhost:8765/callback", "http://[::1]:80/cb"],
              "scopes": ["openid", "email"], "grants": ["authorization_code"]}}]}}"#
        )
    }

    fn public() -> Client {
        ClientRegistry::parse(&document("public", None))
            .unwrap()
            .find("app")
            .unwrap()
            .clone()
    }

    #[test]
    fn redirect_uris_match_exactly_and_loopback_ones_of_public_clients_on_any_port() {
        let client = public();
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1:8765/callback",
            "http://127.0.0.1:49152/callback",
            "http://127.0.0.1/callback",
            "http://localhost:1234/callback",
            "http://[::1]:5000/cb",
        ] {
            assert!(client.redirect_uri_matches(ok), "{ok}");
        }
        for refused in [
            "https://app.example/cb/",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://app.example/cbx",
            "https://APP.example/cb",
            "https://app.example:444/cb",
            "http://app.example/cb",
            "http://127.0.0.1:8765/callback/extra",
            "http://127.0.0.1:8765/callback?x=1",
            "https://127.0.0.1:8765/callback",
            "http://127.0.0.2:8765/callback",
            "http://user@127.0.0.1:8765/callback",
            "http://localhost.evil.example:8765/callback",
            "",
        ] {
            assert!(!client.redirect_uri_matches(refused), "{refused}");
        }
        // A confidential client's loopback URI is exact, port included.
        let confidential = ClientRegistry::parse(&document("confidential", Some("s3cret")))
            .unwrap()
            .find("app")
            .unwrap()
            .clone();
        assert!(confidential.redirect_uri_matches("http://127.0.0.1:8765/callback"));
        assert!(!confidential.redirect_uri_matches("http://127.0.0.1:9999/callback"));
        assert!(confidential.secret_matches("s3cret"));
        assert!(!confidential.secret_matches("s3cret "));
        assert!(!public().secret_matches(""));
    }

    #[test]
    fn bad_documents_are_refused() {
        assert!(matches!(
            ClientRegistry::parse(&document("public", Some("x"))),
            Err(ClientsError::Invalid { .. })
        ));
        assert!(matches!(
            ClientRegistry::parse(&document("confidential", None)),
            Err(ClientsError::Invalid { .. })
        ));
        assert!(matches!(
            ClientRegistry::parse("{}"),
            Err(ClientsError::Malformed(_))
        ));
        let unknown_scope = document("public", None).replace("\"email\"", "\"phone\"");
        assert!(ClientRegistry::parse(&unknown_scope).is_err());
    }

    #[test]
    fn scopes_parse_known_names_only_in_canonical_order() {
        let scopes = Scopes::parse("email  openid").unwrap();
        assert_eq!(scopes.to_string(), "openid email");
        assert!(Scopes::parse("openid phone").is_none());
        assert!(Scopes::parse("").is_none());
        assert!(Scopes::parse("openid")
            .unwrap()
            .is_subset(&Scopes::parse("openid email").unwrap()));
    }

    #[test]
    fn origins_come_from_redirect_uris() {
        let registry = ClientRegistry::parse(&document("public", None)).unwrap();
        assert!(registry.allows_origin("https://app.example"));
        assert!(registry.allows_origin("http://127.0.0.1:8765"));
        assert!(!registry.allows_origin("https://evil.example"));
    }
}
