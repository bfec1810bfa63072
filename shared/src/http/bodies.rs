//! Request bodies into domain values. Each reads its fields, then lets the
//! domain's parsers judge them, and reports every bad field at once.

use serde_json::{Map, Value};

use crate::domain::accounts::Registration;
use crate::domain::linking::LinkCode;
use crate::domain::login::Credentials;
use crate::domain::recovery::MailToken;
use crate::domain::values::{Email, ExternalId, Password, RefreshToken, Username};
use crate::domain::FieldError;

type Fields = Map<String, Value>;

pub fn registration(body: &Fields) -> Result<Registration, Vec<FieldError>> {
    let mut errors = Vec::new();
    let username = required_string(body, "username", &mut errors);
    let email = required_string(body, "email", &mut errors);
    let password = required_string(body, "password", &mut errors);
    let parsed_username = username.as_deref().map(Username::parse);
    let parsed_email = email.as_deref().map(Email::parse);
    // The password is judged against whatever username and e-mail were sent,
    // valid or not, so that its own error shows up in the same answer.
    let parsed_password = password.map(|password| {
        Password::parse_new(
            password,
            username.as_deref().unwrap_or_default(),
            email.as_deref().unwrap_or_default(),
        )
    });
    let username = keep(parsed_username, &mut errors);
    let email = keep(parsed_email, &mut errors);
    let password = keep(parsed_password, &mut errors);
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) if errors.is_empty() => Ok(Registration {
            username,
            email,
            password,
        }),
        _ => Err(errors),
    }
}

/// A login from `client` (the source address).
pub fn credentials(body: &Fields, client: String) -> Result<Credentials, Vec<FieldError>> {
    let mut errors = Vec::new();
    let email = required_string(body, "email", &mut errors);
    let password = required_string(body, "password", &mut errors);
    let email = keep(email.as_deref().map(Email::parse_for_login), &mut errors);
    let password = keep(password.map(Password::parse_for_login), &mut errors);
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok(Credentials {
            email,
            password,
            client,
            // The request's, not the body's: the route adds it.
            user_agent: None,
        }),
        _ => Err(errors),
    }
}

/// The refresh token of `POST /auth/refresh`: only its shape is checked here.
pub fn refresh_token(body: &Fields) -> Result<RefreshToken, Vec<FieldError>> {
    let mut errors = Vec::new();
    let token = required_string(body, "refresh_token", &mut errors);
    match keep(token.map(RefreshToken::parse), &mut errors) {
        Some(token) => Ok(token),
        None => Err(errors),
    }
}

/// The id to link and the code that proves it (`link_code`, when given).
pub fn link(
    body: Option<&Fields>,
    query: Option<&str>,
) -> Result<(ExternalId, Option<LinkCode>), Vec<FieldError>> {
    let mut errors = Vec::new();
    let external_id = external_id(body, query)
        .map_err(|found| errors.extend(found))
        .ok();
    let code = match body.and_then(|body| body.get("link_code")) {
        None | Some(Value::Null) => None,
        Some(Value::String(code)) => keep(Some(LinkCode::parse(code.clone())), &mut errors),
        Some(_) => {
            errors.push(FieldError::new("link_code", "must be a string"));
            None
        }
    };
    match external_id {
        Some(external_id) if errors.is_empty() => Ok((external_id, code)),
        _ => Err(errors),
    }
}

/// The id to link: from the JSON body if it has one, else from `?external_id=`
/// (the FastAPI original took a query parameter).
pub fn external_id(
    body: Option<&Fields>,
    query: Option<&str>,
) -> Result<ExternalId, Vec<FieldError>> {
    let mut errors = Vec::new();
    let from_body = body.filter(|body| body.contains_key("external_id"));
    let value = match (from_body, query) {
        (Some(body), _) => required_string(body, "external_id", &mut errors),
        (None, Some(query)) => Some(query.to_string()),
        (None, None) => {
            errors.push(FieldError::new("external_id", "field required"));
            None
        }
    };
    match keep(value.as_deref().map(ExternalId::parse), &mut errors) {
        Some(external_id) => Ok(external_id),
        None => Err(errors),
    }
}

/// `{"email"}` of `POST /auth/password/forgot`: the login rule, so that any
/// address an account could have is accepted.
pub fn forgot(body: &Fields) -> Result<Email, Vec<FieldError>> {
    let mut errors = Vec::new();
    let email = required_string(body, "email", &mut errors);
    match keep(email.as_deref().map(Email::parse_for_login), &mut errors) {
        Some(email) if errors.is_empty() => Ok(email),
        _ => Err(errors),
    }
}

/// `{"token", "new_password"}`; the password's rules are judged against
/// the account, once the token has named it.
pub fn reset(body: &Fields) -> Result<(MailToken, String), Vec<FieldError>> {
    let mut errors = Vec::new();
    let token = required_string(body, "token", &mut errors);
    let password = required_string(body, "new_password", &mut errors);
    let token = keep(token.map(MailToken::parse), &mut errors);
    match (token, password) {
        (Some(token), Some(password)) if errors.is_empty() => Ok((token, password)),
        _ => Err(errors),
    }
}

/// `{"token"}` of `POST /auth/email/verify`.
pub fn mail_token(body: &Fields) -> Result<MailToken, Vec<FieldError>> {
    let mut errors = Vec::new();
    let token = required_string(body, "token", &mut errors);
    match keep(token.map(MailToken::parse), &mut errors) {
        Some(token) => Ok(token),
        None => Err(errors),
    }
}

/// `{"token", "end_sessions"?}` of `POST /auth/email/cancel`.
pub fn email_change_cancel(body: &Fields) -> Result<(MailToken, bool), Vec<FieldError>> {
    let mut errors = Vec::new();
    let token = required_string(body, "token", &mut errors);
    let token = keep(token.map(MailToken::parse), &mut errors);
    let end_sessions = match body.get("end_sessions") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(end)) => *end,
        Some(_) => {
            errors.push(FieldError::new("end_sessions", "must be a boolean"));
            false
        }
    };
    match token {
        Some(token) if errors.is_empty() => Ok((token, end_sessions)),
        _ => Err(errors),
    }
}

/// `{"current_password", "new_password"}` of `PUT /users/{user_id}/password`.
pub fn password_change(body: &Fields) -> Result<(Password, String), Vec<FieldError>> {
    let mut errors = Vec::new();
    let current = required_string(body, "current_password", &mut errors);
    let new = required_string(body, "new_password", &mut errors);
    let current = keep(
        current.map(|raw| {
            Password::parse_for_login(raw)
                .map_err(|error| FieldError::new("current_password", error.message))
        }),
        &mut errors,
    );
    match (current, new) {
        (Some(current), Some(new)) if errors.is_empty() => Ok((current, new)),
        _ => Err(errors),
    }
}

/// `{"password", "new_email"}` of `PUT /users/{user_id}/email`: the new
/// address by the registration rule.
pub fn email_change(body: &Fields) -> Result<(Password, Email), Vec<FieldError>> {
    let mut errors = Vec::new();
    let password = required_string(body, "password", &mut errors);
    let email = required_string(body, "new_email", &mut errors);
    let password = keep(password.map(Password::parse_for_login), &mut errors);
    let email = keep(
        email.as_deref().map(|raw| {
            Email::parse(raw).map_err(|error| FieldError::new("new_email", error.message))
        }),
        &mut errors,
    );
    match (password, email) {
        (Some(password), Some(email)) if errors.is_empty() => Ok((password, email)),
        _ => Err(errors),
    }
}

fn keep<T>(parsed: Option<Result<T, FieldError>>, errors: &mut Vec<FieldError>) -> Option<T> {
    match parsed? {
        Ok(value) => Some(value),
        Err(error) => {
            errors.push(error);
            None
        }
    }
}

fn required_string(body: &Fields, field: &str, errors: &mut Vec<FieldError>) -> Option<String> {
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn object(value: Value) -> Fields {
        value.as_object().unwrap().clone()
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|error| error.field.as_str()).collect()
    }

    #[test]
    fn a_good_registration_is_normalised() {
        let registration = registration(&object(json!({
            "username": "Ada.Lovelace", "email": "  Ada@Example.COM ",
            "password": "analytical engine 1843"
        })))
        .unwrap();
        assert_eq!(registration.username.as_str(), "Ada.Lovelace");
        assert_eq!(registration.email.as_str(), "ada@example.com");
    }

    #[test]
    fn every_bad_field_is_listed() {
        let errors = registration(&object(json!({"username": 7, "email": "nope"}))).unwrap_err();
        assert_eq!(fields(&errors), ["username", "password", "email"]);
        assert_eq!(errors[0].message, "must be a string");
        assert_eq!(errors[1].message, "field required");
        let errors = registration(&object(json!({
            "username": "ab", "email": "nope", "password": "short"
        })))
        .unwrap_err();
        assert_eq!(fields(&errors), ["username", "email", "password"]);
    }

    #[test]
    fn credentials_rules() {
        let ok = credentials(
            &object(json!({"email": " A@B.com", "password": "x"})),
            "192.0.2.1".into(),
        )
        .unwrap();
        assert_eq!(ok.email.as_str(), "a@b.com");
        let errors = credentials(
            &object(json!({"email": "", "password": "x".repeat(129)})),
            "192.0.2.1".into(),
        )
        .unwrap_err();
        assert_eq!(fields(&errors), ["email", "password"]);
        let errors = credentials(&object(json!({})), "192.0.2.1".into()).unwrap_err();
        assert_eq!(fields(&errors), ["email", "password"]);
    }

    #[test]
    fn external_id_from_body_or_query_body_first() {
        let body = object(json!({"external_id": "from-body"}));
        assert_eq!(
            external_id(Some(&body), Some("from-query"))
                .unwrap()
                .as_str(),
            "from-body"
        );
        assert_eq!(
            external_id(None, Some("from-query")).unwrap().as_str(),
            "from-query"
        );
        assert_eq!(
            external_id(Some(&object(json!({}))), Some("q"))
                .unwrap()
                .as_str(),
            "q"
        );
        for (body, query) in [
            (None, None),
            (Some(object(json!({"external_id": ""}))), None),
            (Some(object(json!({"external_id": 5}))), Some("q")),
            (Some(object(json!({"external_id": "x".repeat(129)}))), None),
            (Some(object(json!({"external_id": "tab\there"}))), None),
        ] {
            let errors = external_id(body.as_ref(), query).unwrap_err();
            assert_eq!(fields(&errors), ["external_id"]);
        }
    }

    #[test]
    fn refresh_token_shape() {
        assert!(refresh_token(&object(json!({"refresh_token": "abc"}))).is_ok());
        for bad in [
            json!({}),
            json!({"refresh_token": ""}),
            json!({"refresh_token": "x".repeat(257)}),
        ] {
            assert_eq!(
                fields(&refresh_token(&object(bad)).unwrap_err()),
                ["refresh_token"]
            );
        }
    }
}
