//! The one way we speak HTTP(S) to AWS: a fresh HTTP/1.1 connection per
//! request, rustls on ring with the webpki roots. Secrets Manager (two reads at
//! cold start) and EventBridge (a few calls a minute) gain nothing from a pool
//! or HTTP/2, and a client that offered them would compile hyper's HTTP/2 into
//! every function's Lambda runtime client.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http_body_util::{BodyExt, Limited};
use hyper::body::{Body, Bytes};
use hyper::header::HOST;
use hyper::http::uri::Authority;
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// Answers here are small (a secret is at most 64 KiB); a far larger one is
/// not the service's, and is not read into memory.
const MAX_ANSWER_BYTES: usize = 1 << 20;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Unset limits wait as long as the caller does.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timeouts {
    /// TCP and TLS.
    pub connect: Option<Duration>,
    /// From sending the request to the answer's last byte.
    pub read: Option<Duration>,
}

/// Never quotes the request or the answer: either may hold a secret.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0} is not an http:// or https:// URL")]
    Url(Uri),
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        authority: Authority,
        source: std::io::Error,
    },
    #[error("no connection to {uri} within {limit:?}")]
    ConnectTimeout { uri: Uri, limit: Duration },
    #[error("HTTP exchange with {uri} failed: {source}")]
    Exchange { uri: Uri, source: BoxError },
    #[error("no answer from {uri} within {limit:?}")]
    ReadTimeout { uri: Uri, limit: Duration },
}

/// Sends `request` (absolute URI) and reads the whole answer. `Host` is set
/// from the URI unless the request has one (a signed request already does).
pub async fn send<B>(request: Request<B>, timeouts: Timeouts) -> Result<Response<Bytes>, Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = request.into_parts();
    let uri = parts.uri.clone();
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(Error::Url(uri)),
    };
    let Some(authority) = uri.authority().cloned() else {
        return Err(Error::Url(uri));
    };
    // HTTP/1.1 wants the path alone on the request line.
    parts.uri = uri
        .path_and_query()
        .map_or("/", |path| path.as_str())
        .parse()
        .expect("a URI's path is a URI");
    if !parts.headers.contains_key(HOST) {
        let host = authority
            .as_str()
            .parse()
            .expect("an authority is a header value");
        parts.headers.insert(HOST, host);
    }
    let request = Request::from_parts(parts, body);

    // A bracketed IPv6 literal in the URL is a bare address to the resolver.
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let connect = async {
        let tcp = TcpStream::connect((host, port)).await?;
        if !tls {
            return Ok(Stream::Plain(tcp));
        }
        let name = ServerName::try_from(host.to_string())
            .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
        Ok(Stream::Tls(Box::new(
            tls_connector().connect(name, tcp).await?,
        )))
    };
    let stream = within(timeouts.connect, connect)
        .await
        .map_err(|limit| Error::ConnectTimeout {
            uri: uri.clone(),
            limit,
        })?
        .map_err(|source| Error::Connect {
            authority: authority.clone(),
            source,
        })?;
    let answer = match stream {
        Stream::Plain(io) => within(timeouts.read, exchange(io, request)).await,
        Stream::Tls(io) => within(timeouts.read, exchange(*io, request)).await,
    };
    answer
        .map_err(|limit| Error::ReadTimeout {
            uri: uri.clone(),
            limit,
        })?
        .map_err(|source| Error::Exchange { uri, source })
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

async fn within<T>(
    limit: Option<Duration>,
    work: impl std::future::Future<Output = T>,
) -> Result<T, Duration> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, work).await.map_err(|_| limit),
        None => Ok(work.await),
    }
}

async fn exchange<S, B>(io: S, request: Request<B>) -> Result<Response<Bytes>, BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    // Ends once `sender` is dropped; its errors also fail `send_request`.
    tokio::spawn(connection);
    let (parts, body) = sender.send_request(request).await?.into_parts();
    let body = Limited::new(body, MAX_ANSWER_BYTES).collect().await?;
    Ok(Response::from_parts(parts, body.to_bytes()))
}

/// The Mozilla roots the MongoDB driver already links, rather than reading the
/// system store at every cold start; built once, on first use.
fn tls_connector() -> &'static TlsConnector {
    static CONNECTOR: OnceLock<TlsConnector> = OnceLock::new();
    CONNECTOR.get_or_init(|| {
        let roots = RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports TLS 1.2 and 1.3")
                .with_root_certificates(roots)
                .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    })
}
