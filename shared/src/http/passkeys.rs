//! The passkey routes. Listing and removal need no WebAuthn; the begin and
//! finish of a ceremony do, and are compiled only with the `passkeys`
//! feature (functions/passkeys).

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::{json, Map, Value};

use super::edge::{answer, authorized_caller};
use super::problem::{json_response, HttpError};
use super::request::path_parameter;
use crate::domain::passkeys::{self, PasskeyRecord, PasskeyStore};
use crate::domain::ports::{MailRequests, Sessions};
use crate::domain::values::{PasskeyId, Timestamp};
use crate::domain::{DomainError, FieldError};
use crate::keystore::PublishedKeys;

/// `GET /users/{user_id}/passkeys`: the user's passkeys, oldest first.
pub async fn list<S: PasskeyStore + Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::GET, async {
        let caller = authorized_caller(keys, &request).await?;
        let listed = passkeys::list(store, &caller, Timestamp::now()).await?;
        let listed: Vec<Value> = listed.iter().map(passkey_json).collect();
        Ok(json_response(
            StatusCode::OK,
            &json!({ "passkeys": listed }),
        ))
    })
    .await
}

/// `DELETE /users/{user_id}/passkeys/{passkey_id}`: after a recent login.
pub async fn remove<S: PasskeyStore + Sessions, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    step_up_max_age: std::time::Duration,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::DELETE, async {
        let caller = authorized_caller(keys, &request).await?;
        let passkey = path_passkey_id(&request)?;
        passkeys::remove(
            store,
            queue,
            step_up_max_age,
            &caller,
            passkey,
            Timestamp::now(),
        )
        .await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Passkey removed", "passkey_id": passkey.to_hex() }),
        ))
    })
    .await
}

/// `PATCH /users/{user_id}/passkeys/{passkey_id}` `{"name"}`: the owner's
/// new name for it (no step-up: a name is no credential).
pub async fn rename<S: PasskeyStore + Sessions>(
    store: &S,
    keys: &PublishedKeys,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::PATCH, async {
        let caller = authorized_caller(keys, &request).await?;
        let passkey = path_passkey_id(&request)?;
        let body = super::request::json_object(&request)?;
        let mut errors = Vec::new();
        let Some(name) = string(&body, "name", 256, &mut errors) else {
            return Err(DomainError::Invalid(errors).into());
        };
        let renamed = passkeys::rename(store, &caller, passkey, name, Timestamp::now()).await?;
        Ok(json_response(StatusCode::OK, &passkey_json(&renamed)))
    })
    .await
}

/// A passkey as listed: never its key or credential id.
pub fn passkey_json(passkey: &PasskeyRecord) -> Value {
    json!({
        "id": passkey.id.to_hex(),
        "name": passkey.name,
        "created_at": rfc3339(passkey.created_at),
        "last_used_at": passkey.last_used_at.map(rfc3339),
        "synced": passkey.backup_eligible,
        "backed_up": passkey.backup_state,
    })
}

fn rfc3339(instant: Timestamp) -> String {
    mongodb::bson::DateTime::from_millis(instant.as_millis())
        .try_to_rfc3339_string()
        .unwrap_or_default()
}

fn path_passkey_id(request: &Request) -> Result<PasskeyId, HttpError> {
    let raw = path_parameter(request, "passkey_id", "passkeys").ok_or(HttpError::NotFound)?;
    PasskeyId::parse(&raw).map_err(|error| DomainError::invalid(error).into())
}

fn string<'b>(
    body: &'b Map<String, Value>,
    field: &str,
    max: usize,
    errors: &mut Vec<FieldError>,
) -> Option<&'b str> {
    match body.get(field) {
        Some(Value::String(value)) if (1..=max).contains(&value.len()) => Some(value.as_str()),
        Some(Value::String(_)) => {
            errors.push(FieldError::new(
                field,
                format!("must be 1 to {max} characters"),
            ));
            None
        }
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, "field required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new(field, "must be a string"));
            None
        }
    }
}

/// The `credential` member: the browser's `PublicKeyCredential.toJSON()`.
fn credential<T: serde::de::DeserializeOwned>(
    body: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) -> Option<T> {
    match body.get("credential") {
        Some(value @ Value::Object(_)) => match serde_json::from_value(value.clone()) {
            Ok(credential) => Some(credential),
            Err(error) => {
                tracing::info!(%error, "malformed credential");
                errors.push(FieldError::new(
                    "credential",
                    "must be a PublicKeyCredential as its toJSON() gives it",
                ));
                None
            }
        },
        None | Some(Value::Null) => {
            errors.push(FieldError::new("credential", "field required"));
            None
        }
        Some(_) => {
            errors.push(FieldError::new("credential", "must be an object"));
            None
        }
    }
}

#[cfg(feature = "passkeys")]
pub use ceremonies::*;

#[cfg(feature = "passkeys")]
mod ceremonies {
    use super::*;
    use crate::domain::mfa::MfaSettings;
    use crate::domain::ports::{Accounts, LoginAttempts, MfaStore};
    use crate::domain::values::Email;
    use crate::http::edge::{client_info, token_response};
    use crate::http::request::{json_object, json_object_or_empty, source_ip};
    use crate::keystore::SigningKeys;
    use crate::passkeys::{self as webauthn, Begun, RelyingParty};

    /// The options under `publicKey` (as webauthn-rs serialises them), with
    /// the ceremony id the finish must bring back.
    fn begun(begun: Begun<impl serde::Serialize>) -> Result<Response<Body>, HttpError> {
        let mut body = match serde_json::to_value(&begun.options) {
            Ok(Value::Object(body)) => body,
            _ => {
                return Err(DomainError::Internal {
                    cause: "options are not an object".into(),
                }
                .into())
            }
        };
        body.insert("ceremony".into(), begun.ceremony.into());
        body.insert("expires_in".into(), begun.expires_in.into());
        Ok(json_response(StatusCode::OK, &Value::Object(body)))
    }

    /// `POST /users/{user_id}/passkeys/options`.
    pub async fn begin_registration<S: PasskeyStore + Sessions + MfaStore + LoginAttempts>(
        store: &S,
        keys: &PublishedKeys,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        answer(&request, Method::POST, async {
            let caller = authorized_caller(keys, &request).await?;
            // No body needed; one that is there must be a JSON object.
            json_object_or_empty(&request)?;
            let client = source_ip(&request);
            let started =
                webauthn::begin_registration(store, rp, &caller, &client, Timestamp::now()).await?;
            begun(started)
        })
        .await
    }

    /// `POST /users/{user_id}/passkeys`.
    pub async fn finish_registration<S: PasskeyStore + Sessions, Q: MailRequests>(
        store: &S,
        keys: &PublishedKeys,
        queue: &Q,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        answer(&request, Method::POST, async {
            let caller = authorized_caller(keys, &request).await?;
            let body = json_object(&request)?;
            let mut errors = Vec::new();
            let ceremony = string(&body, "ceremony", 128, &mut errors);
            let name = string(&body, "name", 256, &mut errors);
            let credential = credential(&body, &mut errors);
            let (Some(ceremony), Some(name), Some(credential)) = (ceremony, name, credential)
            else {
                return Err(DomainError::Invalid(errors).into());
            };
            let added = webauthn::finish_registration(
                store,
                queue,
                rp,
                &caller,
                ceremony,
                name,
                credential,
                Timestamp::now(),
            )
            .await?;
            Ok(json_response(StatusCode::CREATED, &passkey_json(&added)))
        })
        .await
    }

    /// `POST /auth/passkey/options`: no body, or `{}`, for a discoverable
    /// credential; `{"email"}` for that account's passkeys.
    pub async fn begin_sign_in<S: PasskeyStore + LoginAttempts + Accounts>(
        store: &S,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        answer(&request, Method::POST, async {
            let body = json_object_or_empty(&request)?.unwrap_or_default();
            // Absent, not null: a member that is there must be an address.
            let email = match body.get("email") {
                None => None,
                Some(Value::String(raw)) => {
                    Some(Email::parse_for_login(raw).map_err(DomainError::invalid)?)
                }
                Some(_) => {
                    let error = FieldError::new("email", "must be a string");
                    return Err(DomainError::invalid(error).into());
                }
            };
            let client = source_ip(&request);
            let started =
                webauthn::begin_sign_in(store, rp, email.as_ref(), &client, Timestamp::now())
                    .await?;
            begun(started)
        })
        .await
    }

    /// `POST /auth/passkey/verify`: answers as login does.
    pub async fn finish_sign_in<S: PasskeyStore + Sessions>(
        store: &S,
        keys: &SigningKeys,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        answer(&request, Method::POST, async {
            let body = json_object(&request)?;
            let mut errors = Vec::new();
            let ceremony = string(&body, "ceremony", 128, &mut errors);
            let credential = credential(&body, &mut errors);
            let (Some(ceremony), Some(credential)) = (ceremony, credential) else {
                return Err(DomainError::Invalid(errors).into());
            };
            let issuer = keys.issuer().await;
            let tokens = webauthn::finish_sign_in(
                store,
                &issuer,
                rp,
                ceremony,
                credential,
                client_info(&request),
                Timestamp::now(),
            )
            .await?;
            Ok(token_response(tokens))
        })
        .await
    }

    /// `POST /auth/mfa/passkey/options`: `{mfa_token}` of a login whose
    /// password was right; answers `{publicKey, expires_in}` (no ceremony
    /// id: the verify finds the ceremony by the `mfa_token`).
    pub async fn begin_second_factor<S: PasskeyStore + MfaStore + LoginAttempts>(
        store: &S,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        answer(&request, Method::POST, async {
            let body = json_object(&request)?;
            let mut errors = Vec::new();
            let Some(token) = crate::http::mfa::mfa_token(&body, &mut errors) else {
                return Err(DomainError::Invalid(errors).into());
            };
            let client = source_ip(&request);
            let started =
                webauthn::begin_second_factor(store, rp, &token, &client, Timestamp::now()).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "publicKey": started.options.public_key, "expires_in": started.expires_in }),
            ))
        })
        .await
    }

    /// `POST /auth/mfa/verify` (the verify-mfa function): with a
    /// `credential`, the passkey begun by `begin_second_factor`; with a
    /// `code` or `recovery_code`, as `http::mfa::verify`.
    pub async fn verify_mfa<S: PasskeyStore + MfaStore + Sessions + LoginAttempts>(
        store: &S,
        keys: &SigningKeys,
        settings: &MfaSettings,
        rp: &RelyingParty,
        request: Request,
    ) -> Result<Response<Body>, Error> {
        answer(&request, Method::POST, async {
            let body = json_object(&request)?;
            if matches!(body.get("credential"), None | Some(Value::Null)) {
                return crate::http::mfa::verify_code(store, keys, settings, &request, &body).await;
            }
            let mut errors = Vec::new();
            let token = crate::http::mfa::mfa_token(&body, &mut errors);
            let credential = credential(&body, &mut errors);
            for other in ["code", "recovery_code"] {
                if !matches!(body.get(other), None | Some(Value::Null)) {
                    errors.push(FieldError::new(
                        other,
                        "send one of code, recovery_code and credential",
                    ));
                }
            }
            let (Some(token), Some(credential), true) = (token, credential, errors.is_empty())
            else {
                return Err(DomainError::Invalid(errors).into());
            };
            let issuer = keys.issuer().await;
            let tokens = webauthn::finish_second_factor(
                store,
                &issuer,
                rp,
                &token,
                credential,
                client_info(&request),
                Timestamp::now(),
            )
            .await?;
            Ok(token_response(tokens))
        })
        .await
    }
}
