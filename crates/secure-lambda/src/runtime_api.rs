//! The client side of the Lambda Runtime API (`2018-06-01`): the four calls a function makes.
//!
//! Written here rather than taken from `lambda_runtime` for memory: a function's peak is its
//! largest event and response, and `lambda_runtime` holds each of them twice (the event's body
//! frames and their collected copy, the response and its `serde_json::to_vec` copy), measured at
//! 2.75 times a 3 MB event before the handler had allocated anything. Here the event's frames are
//! copied into one buffer sized from `Content-Length` as they arrive, so the read buffer is
//! reused, and the response's text is posted as it is, without a copy.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::StatusCode;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;

/// The Runtime API's error for a failed call: what was being done and why it failed.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

const PREFIX: &str = "/2018-06-01/runtime";

/// The most a `Content-Length` may reserve up front: Lambda's synchronous payload limit. A
/// longer event still arrives whole (the buffer grows); a wrong header cannot reserve more.
const MAX_RESERVED_BYTES: usize = 6_291_556;

/// hyper's read buffer, fixed: by default it grows to 400 KB while a large event streams in and
/// stays that size, four times a 100 KB event; the event is copied out of it as it arrives. Small,
/// because all of it is resident once one event has filled it. Measured through the harness, a
/// 100 KB event raised data-masking's peak RSS by 2.4 times its size at 64 KB and by 1.3 times
/// at 16 KB; a 6 MB event, read in 375 reads instead of 94, was masked as fast (108-109 MB/s).
const READ_BUFFER_BYTES: usize = 16 * 1024;

/// How long to wait before asking again when the Runtime API has no event (`204`).
const NO_EVENT_PAUSE: std::time::Duration = std::time::Duration::from_millis(20);

/// An event as `GET /next` hands it over.
#[derive(Debug)]
pub struct NextEvent {
    pub request_id: String,
    /// Milliseconds since the Unix epoch (0 when the header is missing or unreadable).
    pub deadline_ms: u64,
    pub trace_id: Option<String>,
    pub tenant_id: Option<String>,
    pub body: Vec<u8>,
}

/// The Runtime API named by `AWS_LAMBDA_RUNTIME_API` (`host:port`), over one kept-alive
/// HTTP/1.1 connection.
pub struct RuntimeApi {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl RuntimeApi {
    pub fn from_env() -> Result<Self, Error> {
        let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
            .map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set")?;
        Ok(Self::new(&api))
    }

    pub fn new(api: &str) -> Self {
        let api = api.trim_start_matches("http://").trim_end_matches('/');
        Self {
            base: format!("http://{api}{PREFIX}"),
            client: Client::builder(TokioExecutor::new())
                .http1_read_buf_exact_size(READ_BUFFER_BYTES)
                .build_http(),
        }
    }

    /// Waits for the next event (Lambda holds the call between invocations).
    pub async fn next(&self) -> Result<NextEvent, Error> {
        loop {
            let request = hyper::Request::get(format!("{}/invocation/next", self.base))
                .body(Full::new(Bytes::new()))?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| call_failed("GET /invocation/next", &error))?;
            match response.status() {
                StatusCode::OK => return read_event(response).await,
                // `cargo lambda watch` answers 204 while it has no event (before the first
                // invoke, after a reload): no invocation, so nothing to answer; ask again.
                StatusCode::NO_CONTENT => {
                    let _ = response.into_body().collect().await;
                    tokio::time::sleep(NO_EVENT_PAUSE).await;
                }
                status => return Err(format!("GET /invocation/next answered {status}").into()),
            }
        }
    }

    /// `POST /invocation/{id}/response`: the answer, as written.
    pub async fn respond(&self, request_id: &str, answer: String) -> Result<(), Error> {
        let uri = format!("{}/invocation/{request_id}/response", self.base);
        self.post(hyper::Request::post(uri), Bytes::from(answer))
            .await
    }

    /// `POST /invocation/{id}/error`: the invocation failed without an answer.
    pub async fn fail(&self, request_id: &str, kind: &str, message: &str) -> Result<(), Error> {
        let uri = format!("{}/invocation/{request_id}/error", self.base);
        self.post_error(uri, kind, message).await
    }

    /// `POST /init/error`: the function could not start.
    pub async fn init_error(&self, kind: &str, message: &str) -> Result<(), Error> {
        self.post_error(format!("{}/init/error", self.base), kind, message)
            .await
    }

    async fn post_error(&self, uri: String, kind: &str, message: &str) -> Result<(), Error> {
        let body = serde_json::json!({ "errorMessage": message, "errorType": kind }).to_string();
        let request = hyper::Request::post(uri).header("Lambda-Runtime-Function-Error-Type", kind);
        self.post(request, Bytes::from(body)).await
    }

    async fn post(&self, request: hyper::http::request::Builder, body: Bytes) -> Result<(), Error> {
        let request = request
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))?;
        let path = request.uri().path().to_owned();
        let call = format!("POST {path}");
        let response = self
            .client
            .request(request)
            .await
            .map_err(|error| call_failed(&call, &error))?;
        let status = response.status();
        // Read to the end, so that the connection is reused for the next call.
        let answer = response
            .into_body()
            .collect()
            .await
            .map_err(|error| call_failed(&call, &error))?
            .to_bytes();
        if status.is_success() {
            Ok(())
        } else {
            let answer = String::from_utf8_lossy(&answer[..answer.len().min(512)]).into_owned();
            Err(format!("{call} answered {status}: {answer}").into())
        }
    }
}

/// The event of a `200` from `GET /next`: its headers, and its body copied out of the read
/// buffer frame by frame into one allocation.
async fn read_event(response: hyper::Response<Incoming>) -> Result<NextEvent, Error> {
    let (parts, mut body) = response.into_parts();
    let header = |name: &str| text_header(&parts.headers, name);
    let request_id = header("lambda-runtime-aws-request-id")
        .ok_or("GET /invocation/next answered without Lambda-Runtime-Aws-Request-Id")?;
    // The id becomes a path segment of the answer's URI: nothing that could change the path.
    if !request_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(
            "GET /invocation/next answered a request id that is not a UUID's characters".into(),
        );
    }
    let reserved = header(CONTENT_LENGTH.as_str())
        .and_then(|length| length.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_RESERVED_BYTES);
    let mut event = Vec::with_capacity(reserved);
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|error| call_failed("GET /invocation/next (its body)", &error))?;
        if let Ok(data) = frame.into_data() {
            event.extend_from_slice(&data);
        }
    }
    Ok(NextEvent {
        deadline_ms: header("lambda-runtime-deadline-ms")
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(0),
        trace_id: header("lambda-runtime-trace-id"),
        tenant_id: header("lambda-runtime-aws-tenant-id"),
        request_id,
        body: event,
    })
}

/// A call that failed: what was being done, and hyper's error with its causes.
fn call_failed(call: &str, error: &(dyn std::error::Error + 'static)) -> Error {
    format!("{call} failed: {}", crate::http::error_chain_text(error)).into()
}

fn text_header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
}
