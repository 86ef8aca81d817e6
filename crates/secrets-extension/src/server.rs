//! The HTTP side: listeners on `127.0.0.1` and `[::1]` (Node 17+ resolves `localhost` to `::1`
//! first), HTTP/1.1 with keep-alive, every request handed to [`Service::answer`].

use std::convert::Infallible;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response as HttpResponse};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::service::{Response, ResponseBody, Service};
use crate::upstream::{Body, Upstream};

/// How long a client may take to send a request's headers.
const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The listeners of one port. IPv4 is required; `[::1]` is added where the host has IPv6.
pub struct Listeners {
    listeners: Vec<TcpListener>,
}

impl Listeners {
    /// Binds `127.0.0.1:<port>` and, if it can, `[::1]:<port>`.
    pub async fn bind(port: u16) -> std::io::Result<Self> {
        let v4 = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
        // The port of v4 (when `port` was 0, the one the OS chose) on IPv6 too.
        let chosen = v4.local_addr()?.port();
        let mut listeners = vec![v4];
        match TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, chosen))).await {
            Ok(v6) => listeners.push(v6),
            Err(error) => {
                tracing::info!(error = %error, "no IPv6 loopback; serving 127.0.0.1 only")
            }
        }
        Ok(Self { listeners })
    }

    pub fn port(&self) -> Option<u16> {
        self.listeners
            .first()
            .and_then(|l| l.local_addr().ok())
            .map(|a| a.port())
    }

    /// Serves every connection of every listener until the process ends.
    pub fn serve<U: Upstream + 'static>(self, service: Arc<Service<U>>) {
        for listener in self.listeners {
            let service = service.clone();
            tokio::spawn(async move {
                loop {
                    let stream = match listener.accept().await {
                        Ok((stream, _)) => stream,
                        Err(error) => {
                            tracing::warn!(error = %error, "accept failed");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let service = service.clone();
                    tokio::spawn(async move {
                        let handler = service_fn(move |request: Request<Incoming>| {
                            let service = service.clone();
                            async move { Ok::<_, Infallible>(respond(&service, &request).await) }
                        });
                        if let Err(error) = http1::Builder::new()
                            .timer(TokioTimer::new())
                            // A connection that never finishes its headers is dropped.
                            .header_read_timeout(HEADER_READ_TIMEOUT)
                            .keep_alive(true)
                            .serve_connection(TokioIo::new(stream), handler)
                            .await
                        {
                            tracing::debug!(error = %error, "connection ended");
                        }
                    });
                }
            });
        }
    }
}

async fn respond<U: Upstream>(
    service: &Service<U>,
    request: &Request<Incoming>,
) -> HttpResponse<Full<Bytes>> {
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_bytes()));
    let uri = request.uri();
    let answer = service
        .answer(
            request.method().as_str(),
            uri.path(),
            uri.query().unwrap_or(""),
            headers,
        )
        .await;
    into_http(answer)
}

/// A cached value as response bytes without a copy: its memory is zeroized when the cache and
/// the last response holding it let go.
struct SharedValue(Arc<Body>);

impl AsRef<[u8]> for SharedValue {
    fn as_ref(&self) -> &[u8] {
        self.0.as_str().as_bytes()
    }
}

fn into_http(answer: Response) -> HttpResponse<Full<Bytes>> {
    let body = match answer.body {
        ResponseBody::Value(value) => Bytes::from_owner(SharedValue(value)),
        ResponseBody::Text(text) => Bytes::from(text),
    };
    let mut response = HttpResponse::new(Full::new(body));
    *response.status_mut() = hyper::StatusCode::from_u16(answer.status)
        .unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    if let Some(origin) = answer.origin {
        headers.insert("x-cache", HeaderValue::from_static(origin.as_str()));
    }
    if let Some(error_type) = answer.error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    response
}
