//! The API Gateway edge: requests in (`request`, `bodies`), use cases called
//! (`routes`), every error answered as problem+json (`problem`).

pub mod bodies;
pub mod cors;
pub mod devices;
pub mod edge;
pub mod mfa;
pub mod oauth;
pub mod passkeys;
pub mod problem;
pub mod recovery;
pub mod request;
pub mod routes;
pub mod well_known;
