//! The process's one HTTP client stack: hyper 1 (HTTP/1.1) over rustls, with the system's root
//! certificates read once. It carries the AWS SDK's calls ([`SdkHttpClient`]) and the others (a
//! user pool's JWKS, load targets: [`https_connector`]).
//!
//! The SDK's own default client would bring a second stack beside this one: its own TLS
//! configuration (the root certificates parsed again), HTTP/2 (`h2`, which no AWS API these
//! functions call needs) and proxy support. Without it, multi-tenant-query parses the root store
//! once, and each zip lost h2 (with AWS-LC's C built for size in the same step, data-masking's
//! zip went from 3.34 to 3.00 MB). What the SDK asks of a client is kept:
//! connect timeouts (name lookup, TCP and TLS handshake together) and read timeouts per connector
//! settings, one connection pool, transport errors classified for its retry strategy (a TLS
//! failure is not retried), and connections poisoned after a transient failure so a retry does
//! not reuse them. `HTTP(S)_PROXY` is not honoured.

use std::error::Error as StdError;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connection::{CaptureSmithyConnection, ConnectionMetadata};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::retry::ErrorKind;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{capture_connection, CaptureConnection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// HTTPS (or plain HTTP) over hyper-util's TCP connector.
pub type HttpsOverTcp = HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

/// How long an idle pooled connection is kept. Lambda freezes the process between invocations,
/// and the far end closes idle connections on its own clock; a shorter life means fewer requests
/// sent on a connection that is already gone (those are retried, at the cost of a round trip).
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The TLS configuration of the whole process, with the system's root certificates, loaded on
/// first use (or ahead of it by [`load_tls_in_background`]).
pub fn tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG.get_or_init(load_tls_config).clone()
}

fn load_tls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _unparsable) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = match found.errors.first() {
            Some(error) => format!(": {error}"),
            None => String::new(),
        };
        return Err(format!("no usable root certificate on this system{why}"));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("setting up TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Reads the root certificates on a thread of their own, so that the first request finds them
/// loaded (or waits for that one load, never a second). If the thread cannot start, the first
/// request loads them itself.
pub fn load_tls_in_background() {
    let _ = std::thread::Builder::new()
        .name("tls-roots".into())
        .spawn(|| {
            if let Err(error) = tls_config() {
                tracing::warn!(error = %error, "loading the root certificates failed");
            }
        });
}

/// An HTTPS (and, for the local stack, plain HTTP) HTTP/1.1 connector on the process's TLS
/// configuration.
pub fn https_connector() -> Result<HttpsOverTcp, String> {
    Ok(https_connector_with(tls_config()?))
}

fn https_connector_with(tls: Arc<rustls::ClientConfig>) -> HttpsOverTcp {
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config((*tls).clone())
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp)
}

/// A connector whose connect timeout covers the name lookup, the TCP connect and the TLS
/// handshake together, as the SDK's connect timeout means (hyper-util's own bounds the TCP
/// connect alone, split across the addresses a name resolves to). A peer that accepts and never
/// answers the handshake is a connect timeout, not a wait for the attempt's budget.
#[derive(Clone)]
struct ConnectWithin {
    inner: HttpsOverTcp,
    limit: Option<Duration>,
}

type Connected = <HttpsOverTcp as tower_service::Service<hyper::Uri>>::Response;

impl tower_service::Service<hyper::Uri> for ConnectWithin {
    type Response = Connected;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Connected, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let limit = self.limit;
        Box::pin(async move {
            let Some(limit) = limit else {
                return connecting.await;
            };
            match tokio::time::timeout(limit, connecting).await {
                Ok(connected) => connected,
                Err(_) => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no connection within the connect timeout ({limit:?})"),
                )
                .into()),
            }
        })
    }
}

/// The AWS SDK's HTTP client: one connector per distinct pair of timeouts the SDK asks for
/// (every client of a function asks for the same one), each with its own pool.
#[derive(Debug, Default)]
pub struct SdkHttpClient {
    connectors: Mutex<Vec<(ConnectorTimeouts, SharedHttpConnector)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnectorTimeouts {
    connect: Option<Duration>,
    read: Option<Duration>,
}

impl SdkHttpClient {
    /// The process's one client for every SDK client it builds.
    pub fn shared() -> SharedHttpClient {
        static CLIENT: OnceLock<SharedHttpClient> = OnceLock::new();
        CLIENT
            .get_or_init(|| SharedHttpClient::new(SdkHttpClient::default()))
            .clone()
    }

    fn connector_for(&self, timeouts: ConnectorTimeouts) -> SharedHttpConnector {
        // A poisoned lock only means another thread panicked while pushing; the list is intact.
        let mut connectors = self
            .connectors
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((_, connector)) = connectors.iter().find(|(t, _)| *t == timeouts) {
            return connector.clone();
        }
        let connector = SharedHttpConnector::new(SdkConnector::new(timeouts));
        connectors.push((timeouts, connector.clone()));
        connector
    }
}

impl HttpClient for SdkHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.connector_for(ConnectorTimeouts {
            connect: settings.connect_timeout(),
            read: settings.read_timeout(),
        })
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new("hyper", Some("1.x".into())))
    }
}

/// One pool of connections; the TLS configuration is taken at the first request, so building an
/// SDK client never waits for the root certificates.
#[derive(Debug)]
struct SdkConnector {
    timeouts: ConnectorTimeouts,
    client: OnceLock<Result<Client<ConnectWithin, SdkBody>, String>>,
}

impl SdkConnector {
    fn new(timeouts: ConnectorTimeouts) -> Self {
        Self {
            timeouts,
            client: OnceLock::new(),
        }
    }

    fn client(&self) -> Result<Client<ConnectWithin, SdkBody>, ConnectorError> {
        let built = self.client.get_or_init(|| {
            let connector = ConnectWithin {
                inner: https_connector_with(tls_config()?),
                limit: self.timeouts.connect,
            };
            Ok(Client::builder(TokioExecutor::new())
                .pool_timer(TokioTimer::new())
                .pool_idle_timeout(POOL_IDLE_TIMEOUT)
                .build(connector))
        });
        built
            .clone()
            .map_err(|error| ConnectorError::other(error.into(), None))
    }
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let mut request = match request.try_into_http1x() {
            Ok(request) => request,
            Err(error) => {
                return HttpConnectorFuture::ready(Err(ConnectorError::user(error.into())))
            }
        };
        let client = match self.client() {
            Ok(client) => client,
            Err(error) => return HttpConnectorFuture::ready(Err(error)),
        };
        let captured = capture_connection(&mut request);
        if let Some(smithy) = request.extensions().get::<CaptureSmithyConnection>() {
            smithy.set_connection_retriever(move || connection_metadata(&captured));
        }
        let read_timeout = self.timeouts.read;
        let response = client.request(request);
        HttpConnectorFuture::new(async move {
            let response = match read_timeout {
                Some(limit) => match tokio::time::timeout(limit, response).await {
                    Ok(response) => response,
                    Err(elapsed) => return Err(ConnectorError::timeout(elapsed.into())),
                },
                None => response.await,
            };
            match response {
                Ok(response) => HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                    .map_err(|error| ConnectorError::other(error.into(), None)),
                Err(error) => Err(connector_error(error)),
            }
        })
    }
}

/// What the SDK's retry strategy needs of a connection: a way to take it out of the pool.
fn connection_metadata(captured: &CaptureConnection) -> Option<ConnectionMetadata> {
    let is_proxied = captured.connection_metadata().as_ref()?.is_proxied();
    let captured = captured.clone();
    Some(
        ConnectionMetadata::builder()
            .proxied(is_proxied)
            .poison_fn(move || {
                if let Some(connected) = captured.connection_metadata().as_ref() {
                    connected.poison();
                }
            })
            .build(),
    )
}

/// Sorts a failed request the way the SDK's retry strategy reads it: timeouts, I/O failures
/// (refused, reset, closed: retried on a new connection) and the rest.
fn connector_error(error: hyper_util::client::legacy::Error) -> ConnectorError {
    let timed_out = error_chain(&error).any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            || e.downcast_ref::<hyper::Error>()
                .is_some_and(hyper::Error::is_timeout)
    });
    if timed_out {
        return ConnectorError::timeout(error.into());
    }
    // A certificate that does not verify, or a peer that does not speak TLS, fails the same
    // way on the next attempt: not retried, and not taken for a network blip.
    if error_chain(&error).any(|e| e.is::<rustls::Error>()) {
        return ConnectorError::other(error.into(), None);
    }
    let hyper = error_chain(&error).find_map(|e| e.downcast_ref::<hyper::Error>());
    if let Some(hyper) = hyper {
        if hyper.is_user() {
            return ConnectorError::user(error.into());
        }
        if hyper.is_incomplete_message() {
            return ConnectorError::other(error.into(), Some(ErrorKind::TransientError));
        }
        if hyper.is_closed() || hyper.is_canceled() {
            return ConnectorError::io(error.into());
        }
    }
    let io = error_chain(&error).any(|e| e.is::<std::io::Error>());
    if error.is_connect() || io {
        return ConnectorError::io(error.into());
    }
    ConnectorError::other(error.into(), None)
}

/// `error` and each error after it on one line, `: ` between them: hyper's and hyper-util's own
/// texts name only the step that failed (`client error (SendRequest)`), their causes what went
/// wrong (`message head is too large`).
pub fn error_chain_text(error: &(dyn StdError + 'static)) -> String {
    let texts: Vec<String> = error_chain(error).map(ToString::to_string).collect();
    texts.join(": ")
}

/// `error`, then each error after it: after an `io::Error` its payload (`source` would skip it).
fn error_chain<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&error| {
        match error.downcast_ref::<std::io::Error>() {
            Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
            None => error.source(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn get(url: &str) -> HttpRequest {
        let request = hyper::Request::get(url).body(SdkBody::empty()).unwrap();
        HttpRequest::try_from(request).unwrap()
    }

    fn timeouts(read: Option<Duration>) -> ConnectorTimeouts {
        ConnectorTimeouts {
            connect: Some(Duration::from_secs(2)),
            read,
        }
    }

    /// A server that answers every request on a connection with `ok` and counts connections.
    async fn answering_server() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buffer = [0u8; 4096];
                    // One read per request: the test's requests are small and sent one at a time.
                    while let Ok(n) = stream.read(&mut buffer).await {
                        if n == 0 {
                            break;
                        }
                        let answer = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        (url, connections)
    }

    /// A server that accepts one connection and reads it, never answering: `scheme://addr/`.
    async fn silent_server(scheme: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("{scheme}://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            while stream.read(&mut buffer).await.is_ok_and(|n| n > 0) {}
        });
        url
    }

    #[tokio::test]
    async fn requests_are_answered_on_one_pooled_connection() {
        let (url, connections) = answering_server().await;
        let connector = SdkConnector::new(timeouts(None));
        for _ in 0..3 {
            let response = connector.call(get(&url)).await.unwrap();
            assert_eq!(response.status().as_u16(), 200);
            let body = response.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(&body[..], b"ok");
        }
        assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_io_error_the_sdk_retries() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let error = SdkConnector::new(timeouts(None))
            .call(get(&url))
            .await
            .unwrap_err();
        assert!(error.is_io(), "{error:?}");
    }

    #[tokio::test]
    async fn an_answer_slower_than_the_read_timeout_is_a_timeout() {
        let url = silent_server("http").await;
        let connector = SdkConnector::new(timeouts(Some(Duration::from_millis(200))));
        let error = connector.call(get(&url)).await.unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn a_connection_closed_without_an_answer_is_retryable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer).await;
            drop(stream);
        });
        let error = SdkConnector::new(timeouts(None))
            .call(get(&url))
            .await
            .unwrap_err();
        assert!(
            error.is_io() || error.as_other() == Some(ErrorKind::TransientError),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn a_handshake_that_never_comes_is_a_connect_timeout() {
        // Accepts the TCP connection, then never says a word of TLS.
        let url = silent_server("https").await;
        let connector = SdkConnector::new(ConnectorTimeouts {
            connect: Some(Duration::from_millis(200)),
            read: None,
        });
        let called = tokio::time::timeout(Duration::from_secs(10), connector.call(get(&url)));
        let error = called
            .await
            .expect("the connect timeout ends the call")
            .unwrap_err();
        assert!(error.is_timeout(), "{error:?}");
    }

    #[tokio::test]
    async fn a_tls_failure_is_not_retried() {
        // A plain HTTP server behind an https:// URL: the handshake fails on its answer.
        let (url, _) = answering_server().await;
        let url = url.replace("http://", "https://");
        let error = SdkConnector::new(timeouts(None))
            .call(get(&url))
            .await
            .unwrap_err();
        assert!(error.is_other() && error.as_other().is_none(), "{error:?}");
    }

    #[test]
    fn one_connector_per_pair_of_timeouts() {
        let client = SdkHttpClient::default();
        let first = client.connector_for(timeouts(None));
        let _again = client.connector_for(timeouts(None));
        let _other = client.connector_for(timeouts(Some(Duration::from_secs(1))));
        assert_eq!(client.connectors.lock().unwrap().len(), 2);
        drop(first);
    }

    #[test]
    fn the_system_roots_load_once() {
        let first = tls_config().unwrap();
        let second = tls_config().unwrap();
        assert!(Arc::ptr_eq(&first, &second));
    }
}
