//! Input rules for each request body. Every rule reports all bad fields at once.

use serde::Serialize;
use serde_json::{Map, Value};

pub const USERNAME_CHARS: std::ops::RangeInclusive<usize> = 3..=32;
pub const PASSWORD_CHARS: std::ops::RangeInclusive<usize> = 8..=128;
pub const EXTERNAL_ID_CHARS: std::ops::RangeInclusive<usize> = 1..=128;
/// Ours are 43; the limit only keeps junk out of the digest and the logs.
const REFRESH_TOKEN_MAX_CHARS: usize = 256;
/// RFC 5321's limit on a forward path, less the angle brackets.
const EMAIL_MAX_CHARS: usize = 254;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_string(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub struct Registration {
    pub username: String,
    pub email: String,
    pub password: String,
}

#[derive(Debug)]
pub struct Credentials {
    pub email: String,
    pub password: String,
}

/// Lower-cased and trimmed: the one form e-mails are stored and compared in.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

pub fn registration(body: &Map<String, Value>) -> Result<Registration, Vec<FieldError>> {
    let mut errors = Vec::new();
    let username = required_string(body, "username", &mut errors);
    let email = required_string(body, "email", &mut errors);
    let password = required_string(body, "password", &mut errors);

    if let Some(username) = &username {
        check_username(username, &mut errors);
    }
    let email = email.map(|email| normalize_email(&email));
    if let Some(email) = &email {
        check_email(email, &mut errors);
    }
    if let Some(password) = &password {
        check_new_password(
            password,
            username.as_deref().unwrap_or_default(),
            email.as_deref().unwrap_or_default(),
            &mut errors,
        );
    }
    match (username, email, password) {
        (Some(username), Some(email), Some(password)) if errors.is_empty() => Ok(Registration {
            username,
            email,
            password,
        }),
        _ => Err(errors),
    }
}

pub fn credentials(body: &Map<String, Value>) -> Result<Credentials, Vec<FieldError>> {
    let mut errors = Vec::new();
    let email = required_string(body, "email", &mut errors);
    let password = required_string(body, "password", &mut errors);
    if email
        .as_deref()
        .is_some_and(|email| email.trim().is_empty())
    {
        errors.push(FieldError::new("email", "must not be empty"));
    }
    if let Some(password) = &password {
        // Longer passwords can never have been registered; refusing them here
        // keeps an attacker from buying long argon2 runs.
        if password.is_empty() || password.chars().count() > *PASSWORD_CHARS.end() {
            errors.push(FieldError::new(
                "password",
                format!("must be 1 to {} characters", PASSWORD_CHARS.end()),
            ));
        }
    }
    match (email, password) {
        (Some(email), Some(password)) if errors.is_empty() => Ok(Credentials {
            email: normalize_email(&email),
            password,
        }),
        _ => Err(errors),
    }
}

/// The refresh token of `POST /auth/refresh`: only its shape is checked here.
pub fn refresh_token(body: &Map<String, Value>) -> Result<String, Vec<FieldError>> {
    let mut errors = Vec::new();
    let token = required_string(body, "refresh_token", &mut errors);
    match token {
        Some(token) if (1..=REFRESH_TOKEN_MAX_CHARS).contains(&token.len()) => Ok(token),
        Some(_) => Err(vec![FieldError::new(
            "refresh_token",
            format!("must be 1 to {REFRESH_TOKEN_MAX_CHARS} characters"),
        )]),
        None => Err(errors),
    }
}

/// The id to link: from the JSON body if it has one, else from `?external_id=`
/// (the FastAPI original took a query parameter).
pub fn external_id(
    body: Option<&Map<String, Value>>,
    query: Option<&str>,
) -> Result<String, Vec<FieldError>> {
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
    if let Some(value) = &value {
        let length = value.chars().count();
        if !EXTERNAL_ID_CHARS.contains(&length) {
            errors.push(FieldError::new(
                "external_id",
                format!(
                    "must be {} to {} characters",
                    EXTERNAL_ID_CHARS.start(),
                    EXTERNAL_ID_CHARS.end()
                ),
            ));
        } else if value.chars().any(char::is_control) {
            errors.push(FieldError::new(
                "external_id",
                "must contain printable characters only",
            ));
        }
    }
    match value {
        Some(value) if errors.is_empty() => Ok(value),
        _ => Err(errors),
    }
}

fn required_string(
    body: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<String> {
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

fn check_username(username: &str, errors: &mut Vec<FieldError>) {
    let length = username.chars().count();
    if !USERNAME_CHARS.contains(&length) {
        errors.push(FieldError::new(
            "username",
            format!(
                "must be {} to {} characters",
                USERNAME_CHARS.start(),
                USERNAME_CHARS.end()
            ),
        ));
    } else if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        errors.push(FieldError::new(
            "username",
            "may contain only letters, digits, '_', '.' and '-'",
        ));
    }
}

fn check_email(email: &str, errors: &mut Vec<FieldError>) {
    // email_address accepts `Name <a@b>` display forms; an account e-mail is the bare address.
    let valid = email.chars().count() <= EMAIL_MAX_CHARS
        && !email.contains(['<', '>', ' '])
        && email_address::EmailAddress::is_valid(email);
    if !valid {
        errors.push(FieldError::new("email", "must be a valid e-mail address"));
    }
}

fn check_new_password(password: &str, username: &str, email: &str, errors: &mut Vec<FieldError>) {
    let length = password.chars().count();
    if !PASSWORD_CHARS.contains(&length) {
        errors.push(FieldError::new(
            "password",
            format!(
                "must be {} to {} characters",
                PASSWORD_CHARS.start(),
                PASSWORD_CHARS.end()
            ),
        ));
        return;
    }
    let lowered = password.to_lowercase();
    if (!username.is_empty() && lowered == username.to_lowercase())
        || (!email.is_empty() && lowered == email)
    {
        errors.push(FieldError::new(
            "password",
            "must not be the same as the username or e-mail",
        ));
        return;
    }
    let user_inputs: Vec<&str> = [username, email]
        .into_iter()
        .filter(|input| !input.is_empty())
        .collect();
    let estimate = zxcvbn::zxcvbn(password, &user_inputs);
    if estimate.score() < zxcvbn::Score::Two {
        errors.push(FieldError::new(
            "password",
            weak_password_message(&estimate),
        ));
    }
}

fn weak_password_message(estimate: &zxcvbn::Entropy) -> String {
    let mut message = String::from("is too easy to guess");
    if let Some(feedback) = estimate.feedback() {
        if let Some(warning) = feedback.warning() {
            message = format!("{message}: {warning}");
        }
        for suggestion in feedback.suggestions() {
            message = format!("{message} {suggestion}");
        }
    }
    message
}

/// Builds the password-strength dictionaries on a side thread at cold start.
/// They take about 13 ms, which the first registration would otherwise wait
/// for; one that arrives sooner waits for this same build (they are lazy statics).
pub fn prepare_strength_estimator() {
    std::thread::spawn(|| zxcvbn::zxcvbn("warm up the dictionaries", &[]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
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
        assert_eq!(registration.username, "Ada.Lovelace");
        assert_eq!(registration.email, "ada@example.com");
    }

    #[test]
    fn every_bad_field_is_listed() {
        let errors = registration(&object(json!({"username": 7, "email": "nope"}))).unwrap_err();
        assert_eq!(fields(&errors), ["username", "password", "email"]);
        assert_eq!(errors[0].message, "must be a string");
        assert_eq!(errors[1].message, "field required");
    }

    #[test]
    fn username_rules() {
        for bad in ["ab", &"x".repeat(33), "has space", "semi;colon", "ünï"] {
            let errors = registration(&object(json!({
                "username": bad, "email": "a@example.com", "password": "analytical engine 1843"
            })))
            .unwrap_err();
            assert_eq!(fields(&errors), ["username"], "{bad}");
        }
    }

    #[test]
    fn email_rules() {
        for bad in [
            "plain",
            "a@",
            "@b.com",
            "Ada <ada@example.com>",
            "a b@c.com",
            &format!("{}@example.com", "a".repeat(250)),
        ] {
            let errors = registration(&object(json!({
                "username": "ada", "email": bad, "password": "analytical engine 1843"
            })))
            .unwrap_err();
            assert_eq!(fields(&errors), ["email"], "{bad}");
        }
    }

    #[test]
    fn password_rules() {
        let cases = [
            ("short1!", "must be 8 to 128 characters"),
            (&"x".repeat(129), "must be 8 to 128 characters"),
            (
                "ADA@EXAMPLE.COM",
                "must not be the same as the username or e-mail",
            ),
            ("password123", "is too easy to guess"),
            ("qwertyuiop", "is too easy to guess"),
        ];
        for (password, message) in cases {
            let errors = registration(&object(json!({
                "username": "adalovelace", "email": "ada@example.com", "password": password
            })))
            .unwrap_err();
            assert_eq!(fields(&errors), ["password"], "{password}");
            assert!(
                errors[0].message.starts_with(message),
                "{password}: {}",
                errors[0].message
            );
        }
        let errors = registration(&object(json!({
            "username": "adalovelace", "email": "ada@example.com", "password": "adalovelace"
        })))
        .unwrap_err();
        assert_eq!(fields(&errors), ["password"]);
    }

    #[test]
    fn weak_password_message_carries_zxcvbn_feedback() {
        let errors = registration(&object(json!({
            "username": "ada", "email": "ada@example.com", "password": "password1"
        })))
        .unwrap_err();
        assert!(
            errors[0].message.len() > "is too easy to guess".len(),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn credentials_rules() {
        let ok = credentials(&object(json!({"email": " A@B.com", "password": "x"}))).unwrap();
        assert_eq!(ok.email, "a@b.com");
        let errors =
            credentials(&object(json!({"email": "", "password": "x".repeat(129)}))).unwrap_err();
        assert_eq!(fields(&errors), ["email", "password"]);
        let errors = credentials(&object(json!({}))).unwrap_err();
        assert_eq!(fields(&errors), ["email", "password"]);
    }

    #[test]
    fn external_id_from_body_or_query_body_first() {
        let body = object(json!({"external_id": "from-body"}));
        assert_eq!(
            external_id(Some(&body), Some("from-query")).unwrap(),
            "from-body"
        );
        assert_eq!(external_id(None, Some("from-query")).unwrap(), "from-query");
        assert_eq!(
            external_id(Some(&object(json!({}))), Some("q")).unwrap(),
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
}
