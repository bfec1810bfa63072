//! What every AWS SDK client here shares: its HTTP client is ours.
//!
//! The SDK's own (aws-smithy-http-client) enables hyper's HTTP/2, and Cargo's
//! feature unification would compile that into every function's Lambda
//! runtime client, since SAM builds each with `--bin` at the workspace root.
//! Ours is the transport Secrets Manager already uses (`aws::client`).

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;

use super::client::{self as https, Timeouts};

/// For `.http_client(...)` on an SDK configuration. Plain `http://` endpoints
/// (local stand-ins in tests) work too.
pub fn http_client() -> SharedHttpClient {
    SharedHttpClient::new(Client)
}

#[derive(Debug)]
struct Client;

impl HttpClient for Client {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(Connector(Timeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        }))
    }
}

#[derive(Debug)]
struct Connector(Timeouts);

impl HttpConnector for Connector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let timeouts = self.0;
        HttpConnectorFuture::new(async move {
            let request = request
                .try_into_http1x()
                .map_err(|error| ConnectorError::user(error.into()))?;
            let answer = https::send(request, timeouts).await.map_err(|error| {
                // The SDK retries io and timeout errors; a call that never
                // connected is safe to retry, the others at least once.
                match error {
                    https::Error::Url(_) => ConnectorError::user(error.into()),
                    https::Error::Connect { .. } => {
                        ConnectorError::io(error.into()).never_connected()
                    }
                    https::Error::ConnectTimeout { .. } => {
                        ConnectorError::timeout(error.into()).never_connected()
                    }
                    https::Error::ReadTimeout { .. } => ConnectorError::timeout(error.into()),
                    https::Error::Exchange { .. } => ConnectorError::io(error.into()),
                }
            })?;
            HttpResponse::try_from(answer.map(SdkBody::from))
                .map_err(|error| ConnectorError::other(error.into(), None))
        })
    }
}
