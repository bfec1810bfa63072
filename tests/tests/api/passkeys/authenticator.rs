//! The browser's part of WebAuthn, played by the tests over 1Password's
//! software CTAP2 authenticator (`passkey-authenticator`): the tests write
//! the client data themselves, so they can also send what a browser never
//! would (another origin, another RP ID, an old counter).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use passkey_authenticator::{Authenticator, UiHint, UserCheck, UserValidationMethod};
use passkey_crypto::coset::iana::{self, EnumI64};
use passkey_types::ctap2::{self, Aaguid, Ctap2Error};
use passkey_types::webauthn::{
    PublicKeyCredentialDescriptor, PublicKeyCredentialParameters, PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
};
use passkey_types::Passkey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The origin and RP ID the handler tests' relying party expects
/// (`PUBLIC_BASE_URL` http://127.0.0.1:9000: a loopback address is no RP ID,
/// so `localhost`).
pub const ORIGIN: &str = "http://localhost:9000";
pub const RP_ID: &str = "localhost";

/// A person at the authenticator: present, and verified if `verifies`.
pub struct Person {
    pub verifies: bool,
}

#[async_trait::async_trait]
impl UserValidationMethod for Person {
    type PasskeyItem = Passkey;

    async fn check_user<'a>(
        &self,
        _hint: UiHint<'a, Self::PasskeyItem>,
        presence: bool,
        verification: bool,
    ) -> Result<UserCheck, Ctap2Error> {
        Ok(UserCheck {
            presence,
            verification: verification && self.verifies,
        })
    }

    fn is_presence_enabled(&self) -> bool {
        true
    }

    fn is_verification_enabled(&self) -> Option<bool> {
        Some(self.verifies)
    }
}

/// One software authenticator holding (at most) one passkey.
pub struct SoftKey {
    inner: Authenticator<Option<Passkey>, Person, passkey_crypto::AvailableBackend>,
    verifies: bool,
}

/// What the browser sends: origin and RP ID, normally the right ones.
#[derive(Clone, Copy)]
pub struct Browser<'a> {
    pub origin: &'a str,
    pub rp_id: &'a str,
}

impl Default for Browser<'static> {
    fn default() -> Self {
        Self {
            origin: ORIGIN,
            rp_id: RP_ID,
        }
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(value: &Value) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(value.as_str().expect("a base64url string"))
        .expect("base64url")
}

fn client_data(kind: &str, challenge: &Value, origin: &str) -> (Vec<u8>, Vec<u8>) {
    let json = json!({
        "type": kind,
        "challenge": challenge,
        "origin": origin,
        "crossOrigin": false,
    })
    .to_string()
    .into_bytes();
    let hash = Sha256::digest(&json).to_vec();
    (json, hash)
}

impl SoftKey {
    pub fn new(verifies: bool) -> Self {
        let mut inner = Authenticator::new(
            Aaguid::new_empty(),
            None,
            Person { verifies },
            passkey_crypto::AvailableBackend,
        );
        // A counter, so that a clone's going back can be seen.
        inner.set_make_credentials_with_signature_counter(true);
        Self { inner, verifies }
    }

    /// The passkey as the authenticator holds it (its key and counter).
    pub fn passkey(&self) -> Passkey {
        self.inner.store().clone().expect("a passkey was made")
    }

    /// Its credential's id, base64url (as `allowCredentials` lists it).
    pub fn credential_id(&self) -> String {
        b64(&self.passkey().credential_id)
    }

    /// Puts a saved passkey back: a clone of the authenticator as it was.
    pub fn restore(&mut self, passkey: Passkey) {
        *self.inner.store_mut() = Some(passkey);
    }

    /// `navigator.credentials.create()` on the options (`{"publicKey": …}`):
    /// the credential as `toJSON()` gives it.
    pub async fn create(&mut self, options: &Value, browser: Browser<'_>) -> Value {
        let options = &options["publicKey"];
        let (client_data_json, hash) =
            client_data("webauthn.create", &options["challenge"], browser.origin);
        let user = &options["user"];
        let params = options["pubKeyCredParams"]
            .as_array()
            .expect("pubKeyCredParams")
            .iter()
            .filter_map(|param| {
                let alg = param["alg"].as_i64()?;
                Some(PublicKeyCredentialParameters {
                    ty: PublicKeyCredentialType::PublicKey,
                    alg: iana::Algorithm::from_i64(alg)?,
                })
            })
            .collect();
        let exclude: Vec<PublicKeyCredentialDescriptor> = options["excludeCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|descriptor| PublicKeyCredentialDescriptor {
                        ty: PublicKeyCredentialType::PublicKey,
                        id: unb64(&descriptor["id"]).into(),
                        transports: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let uv = options["authenticatorSelection"]["userVerification"] != "discouraged";
        let request = ctap2::make_credential::Request {
            client_data_hash: hash.into(),
            rp: ctap2::make_credential::PublicKeyCredentialRpEntity {
                id: browser.rp_id.to_string(),
                name: options["rp"]["name"].as_str().map(str::to_string),
            },
            user: PublicKeyCredentialUserEntity {
                id: unb64(&user["id"]).into(),
                name: user["name"].as_str().unwrap_or_default().to_string(),
                display_name: user["displayName"].as_str().unwrap_or_default().to_string(),
            },
            pub_key_cred_params: params,
            exclude_list: (!exclude.is_empty()).then_some(exclude),
            extensions: None,
            options: ctap2::make_credential::Options {
                rk: true,
                up: true,
                uv: uv && self.verifies,
            },
            pin_auth: None,
            pin_protocol: None,
        };
        let response = self
            .inner
            .make_credential(request)
            .await
            .expect("the authenticator makes a credential");
        let id = response
            .auth_data
            .attested_credential_data
            .as_ref()
            .expect("attested credential data")
            .credential_id()
            .to_vec();
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data_json),
                "attestationObject": b64(&response.as_webauthn_bytes()),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// `navigator.credentials.get()` on the options: the assertion as `toJSON()` gives it.
    pub async fn get(&mut self, options: &Value, browser: Browser<'_>) -> Value {
        let options = &options["publicKey"];
        let (client_data_json, hash) =
            client_data("webauthn.get", &options["challenge"], browser.origin);
        let allow: Vec<PublicKeyCredentialDescriptor> = options["allowCredentials"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|descriptor| PublicKeyCredentialDescriptor {
                        ty: PublicKeyCredentialType::PublicKey,
                        id: unb64(&descriptor["id"]).into(),
                        transports: None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let uv = options["userVerification"] != "discouraged";
        let request = ctap2::get_assertion::Request {
            rp_id: browser.rp_id.to_string(),
            client_data_hash: hash.into(),
            allow_list: (!allow.is_empty()).then_some(allow),
            extensions: None,
            options: ctap2::get_assertion::Options {
                up: true,
                uv: uv && self.verifies,
            },
            pin_auth: None,
            pin_protocol: None,
        };
        let response = self
            .inner
            .get_assertion(request)
            .await
            .expect("the authenticator signs");
        let id = response.credential.expect("a credential").id.to_vec();
        json!({
            "id": b64(&id),
            "rawId": b64(&id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data_json),
                "authenticatorData": b64(&response.auth_data.to_vec()),
                "signature": b64(&response.signature),
                "userHandle": response.user.map(|user| b64(&user.id)),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }
}
