//! The second-factor routes, and the bodies they read.

use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Error, Request, Response};
use serde_json::{json, Map, Value};

use super::edge::{answer, authorized_caller, client_info, token_response, Answer};
use super::problem::json_response;
use super::request::json_object;
use crate::domain::mfa::{self, MfaSettings, Proof};
use crate::domain::ports::{LoginAttempts, MailRequests, MfaStore, Sessions};
use crate::domain::values::{Password, Timestamp};
use crate::domain::FieldError;
use crate::keystore::{PublishedKeys, SigningKeys};

/// `POST /auth/mfa/verify`: the second step of a login, with a code. The
/// verify-mfa function serves `http::passkeys::verify_mfa`, which also takes
/// a passkey (`credential`) and otherwise comes here.
pub async fn verify<S: MfaStore + Sessions + LoginAttempts>(
    store: &S,
    keys: &SigningKeys,
    settings: &MfaSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let body = json_object(&request)?;
        verify_code(store, keys, settings, &request, &body).await
    })
    .await
}

/// The code (TOTP or recovery) branch of `POST /auth/mfa/verify`.
pub(super) async fn verify_code<S: MfaStore + Sessions + LoginAttempts>(
    store: &S,
    keys: &SigningKeys,
    settings: &MfaSettings,
    request: &Request,
    body: &Map<String, Value>,
) -> Answer {
    let mut errors = Vec::new();
    let token = mfa_token(body, &mut errors);
    let proof = proof(body, &mut errors);
    let (Some(token), Some(proof)) = (token, proof) else {
        return Err(errors.into());
    };
    let issuer = keys.issuer().await;
    let client = client_info(request);
    let tokens = mfa::verify(
        store,
        &issuer,
        settings,
        &token,
        proof,
        client,
        Timestamp::now(),
    )
    .await?;
    Ok(token_response(tokens))
}

/// The `mfa_token` of a login's first step: URL-safe base64.
pub(super) fn mfa_token(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    string(body, "mfa_token", errors).filter(|token| {
        let fits = (1..=128).contains(&token.len())
            && token
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_'));
        if !fits {
            errors.push(FieldError::new(
                "mfa_token",
                "must be 1 to 128 URL-safe base64 characters",
            ));
        }
        fits
    })
}

/// `POST /users/{user_id}/mfa/totp`: enrol a TOTP factor (pending).
pub async fn enrol_totp<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    settings: &MfaSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = authorized_caller(keys, &request).await?;
        let body = json_object(&request)?;
        let mut errors = Vec::new();
        let Some(password) = password(&body, &mut errors) else {
            return Err(errors.into());
        };
        let enrolment =
            mfa::enrol(store, queue, settings, &caller, password, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({
                "secret": enrolment.secret_base32,
                "otpauth_uri": enrolment.otpauth_uri,
                "qr_svg": enrolment.qr_svg,
            }),
        ))
    })
    .await
}

/// `POST /users/{user_id}/mfa/totp/confirm`: the first code; answers the recovery codes.
pub async fn confirm_totp<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    settings: &MfaSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = authorized_caller(keys, &request).await?;
        let body = json_object(&request)?;
        let mut errors = Vec::new();
        let Some(code) = totp_code(&body, &mut errors) else {
            return Err(errors.into());
        };
        let codes = mfa::confirm(store, queue, settings, &caller, code, Timestamp::now()).await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "recovery_codes": codes }),
        ))
    })
    .await
}

/// `DELETE /users/{user_id}/mfa/totp`: needs a recent login, the password and a code.
pub async fn disable_totp<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    settings: &MfaSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::DELETE, async {
        let caller = authorized_caller(keys, &request).await?;
        let body = json_object(&request)?;
        let mut errors = Vec::new();
        let password = password(&body, &mut errors);
        let proof = proof(&body, &mut errors);
        let (Some(password), Some(proof)) = (password, proof) else {
            return Err(errors.into());
        };
        mfa::disable(
            store,
            queue,
            settings,
            &caller,
            password,
            proof,
            Timestamp::now(),
        )
        .await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "message": "Second factor disabled" }),
        ))
    })
    .await
}

/// `POST /users/{user_id}/mfa/recovery-codes`: a new set, with a recent login and a code.
pub async fn regenerate_recovery_codes<S: MfaStore + Sessions + LoginAttempts, Q: MailRequests>(
    store: &S,
    keys: &PublishedKeys,
    queue: &Q,
    settings: &MfaSettings,
    request: Request,
) -> Result<Response<Body>, Error> {
    answer(&request, Method::POST, async {
        let caller = authorized_caller(keys, &request).await?;
        let body = json_object(&request)?;
        let mut errors = Vec::new();
        let Some(code) = totp_code(&body, &mut errors) else {
            return Err(errors.into());
        };
        let codes =
            mfa::regenerate_recovery_codes(store, queue, settings, &caller, code, Timestamp::now())
                .await?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "recovery_codes": codes }),
        ))
    })
    .await
}

fn string(body: &Map<String, Value>, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
    match body.get(field) {
        Some(Value::String(value)) => Some(value.clone()),
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

fn password(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Password> {
    let raw = string(body, "password", errors)?;
    Password::parse_for_login(raw)
        .map_err(|error| errors.push(error))
        .ok()
}

/// Six ASCII digits.
fn totp_code(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<String> {
    let code = string(body, "code", errors)?;
    if code.len() == 6 && code.bytes().all(|byte| byte.is_ascii_digit()) {
        Some(code)
    } else {
        errors.push(FieldError::new("code", "must be 6 digits"));
        None
    }
}

/// Exactly one of `code` (TOTP) and `recovery_code`.
fn proof(body: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<Proof> {
    let present = |field: &str| !matches!(body.get(field), None | Some(Value::Null));
    match (present("code"), present("recovery_code")) {
        (true, false) => totp_code(body, errors).map(Proof::Totp),
        (false, true) => {
            let raw = string(body, "recovery_code", errors)?;
            match mfa::normalise_recovery_code(&raw) {
                Some(code) => Some(Proof::Recovery(code)),
                None => {
                    errors.push(FieldError::new(
                        "recovery_code",
                        "must be a recovery code as issued (six groups of four)",
                    ));
                    None
                }
            }
        }
        (true, true) => {
            errors.push(FieldError::new(
                "recovery_code",
                "send either code or recovery_code, not both",
            ));
            None
        }
        (false, false) => {
            errors.push(FieldError::new("code", "code or recovery_code required"));
            None
        }
    }
}
