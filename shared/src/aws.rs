//! What every AWS SDK client here shares.

use aws_sdk_eventbridge::config::SharedHttpClient;
use aws_smithy_http_client::{tls, Builder};

/// The SDK's HTTP client on rustls with ring: its default would bring a second
/// crypto stack (aws-lc) next to the MongoDB driver's. Plain `http://`
/// endpoints (local stand-ins in tests) work too.
pub fn http_client() -> SharedHttpClient {
    Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}
