//! The user-management API: everything but the functions' `main`.
//!
//! Each concern has one module; handlers live here so that tests call them directly.

#[cfg(feature = "publish")]
pub mod aws;
pub mod bson_json;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod handlers;
pub mod http;
pub mod https;
pub mod passwords;
pub mod refresh;
pub mod secrets;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tokens;
pub mod validation;

pub use error::ApiError;
pub use state::AppState;
