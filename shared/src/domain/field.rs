//! One bad field of a request: the leaf that values' parsers and the
//! errors share, so that neither imports the other.

use serde::Serialize;

/// One bad field of a request, with the rule it broke (never its value).
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
