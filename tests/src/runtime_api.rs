//! A minimal Lambda Runtime API (`2018-06-01`) on a free 127.0.0.1 port, for one function process
//! at a time: the benchmark harness queues events, the function pulls them with
//! `GET /runtime/invocation/next` and posts its answers, and every request's arrival time is kept
//! so that init and invoke durations are measured where Lambda measures them.
//!
//! HTTP/1.1 with keep-alive, `Content-Length` and chunked request bodies: what `lambda_runtime`
//! (hyper) and `awslambdaric` (its C++ client) send. A `/next` with no event queued is held until
//! an event arrives or the server is dropped, as Lambda holds it between invocations.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

const PREFIX: &str = "/2018-06-01/runtime";
/// Lambda's longest timeout: the deadline handed to the function with each event.
const DEADLINE: Duration = Duration::from_secs(900);
/// The largest request body accepted: Lambda's synchronous response limit, in bytes.
const MAX_BODY: usize = 6_291_556;

/// What a function answered for one invocation.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When the answer's last byte was read.
    pub at: Instant,
    /// `true` for `/response`, `false` for `/error`.
    pub ok: bool,
    pub body: String,
}

#[derive(Default)]
struct State {
    queue: VecDeque<(String, String)>,
    first_next: Option<Instant>,
    nexts: usize,
    results: HashMap<String, Outcome>,
    init_error: Option<String>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    function_arn: String,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A handler thread cannot panic while holding the lock (no code in it can), so a
        // poisoned lock still holds consistent data.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The Runtime API server; dropping it releases every held `/next` and stops accepting.
pub struct RuntimeApi {
    shared: Arc<Shared>,
    port: u16,
    next_id: u64,
}

impl RuntimeApi {
    /// Listens on a free loopback port; `function_name` goes into the invoked-function ARN.
    pub fn start(function_name: &str) -> Result<Self> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the runtime API")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            function_arn: format!(
                "arn:aws:lambda:{}:123456789012:function:{function_name}",
                suitectl::endpoint::LOCAL_REGION
            ),
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("runtime-api-{port}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.lock().closed {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&accept_shared);
                    let _ = std::thread::Builder::new()
                        .name("runtime-api-conn".into())
                        .spawn(move || {
                            let _ = serve_connection(stream, &shared);
                        });
                }
            })
            .context("starting the runtime API thread")?;
        Ok(Self {
            shared,
            port,
            next_id: 0,
        })
    }

    /// `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Queues `event` for the next `/next` and returns its request id.
    pub fn invoke(&mut self, event: &str) -> String {
        self.next_id += 1;
        let id = format!("bench-{:08}-{:012}", self.port, self.next_id);
        self.shared
            .lock()
            .queue
            .push_back((id.clone(), event.to_owned()));
        self.shared.changed.notify_all();
        id
    }

    /// When the function first asked for an event, if it has.
    pub fn first_next(&self) -> Option<Instant> {
        self.shared.lock().first_next
    }

    /// Waits for the answer to `id`; `alive` is asked every few milliseconds whether the function
    /// still runs (an error from it ends the wait).
    pub fn wait_outcome(
        &self,
        id: &str,
        timeout: Duration,
        alive: impl FnMut() -> Result<()>,
    ) -> Result<Outcome> {
        self.wait_until(timeout, alive, |state| state.results.remove(id))
            .with_context(|| format!("waiting for the answer to {id}"))
    }

    /// Waits until the function has asked for an event `n` times in all: after an answer, the
    /// `n`-th `/next` says it has finished its work on the event and idles.
    pub fn wait_nexts(
        &self,
        n: usize,
        timeout: Duration,
        alive: impl FnMut() -> Result<()>,
    ) -> Result<()> {
        self.wait_until(timeout, alive, |state| (state.nexts >= n).then_some(()))
            .with_context(|| format!("waiting for /next number {n}"))
    }

    fn wait_until<T>(
        &self,
        timeout: Duration,
        mut alive: impl FnMut() -> Result<()>,
        mut done: impl FnMut(&mut State) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(value) = done(&mut state) {
                return Ok(value);
            }
            if let Some(error) = &state.init_error {
                bail!("the function reported an init error: {error}");
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("nothing within {timeout:?}");
            }
            let slice = (deadline - now).min(Duration::from_millis(20));
            state = self
                .shared
                .changed
                .wait_timeout(state, slice)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
            drop(state);
            alive()?;
            state = self.shared.lock();
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        // Wake the accept loop so that it sees `closed`.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

pub(crate) struct Request {
    pub method: String,
    pub path: String,
    /// Names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub(crate) fn read_request(reader: &mut BufReader<TcpStream>) -> Result<Option<Request>> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(path)) = (parts.next(), parts.next()) else {
        bail!("malformed request line");
    };
    let (method, path) = (method.to_owned(), path.to_owned());
    let mut content_length = 0usize;
    let mut chunked = false;
    let mut headers = Vec::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            bail!("connection closed inside the headers");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            let value = value.trim();
            headers.push((name.to_ascii_lowercase(), value.to_owned()));
            if name.eq_ignore_ascii_case("content-length") {
                content_length = value.parse().context("bad Content-Length")?;
            } else if name.eq_ignore_ascii_case("transfer-encoding")
                && value.to_ascii_lowercase().contains("chunked")
            {
                chunked = true;
            }
        }
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        if content_length > MAX_BODY {
            bail!("request body of {content_length} bytes");
        }
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        body
    };
    Ok(Some(Request {
        method,
        path,
        headers,
        body,
    }))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let size_text = line.trim().split(';').next().unwrap_or_default();
        let size = usize::from_str_radix(size_text, 16).context("bad chunk size")?;
        if body.len() + size > MAX_BODY {
            bail!("chunked body over {MAX_BODY} bytes");
        }
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        line.clear();
        reader.read_line(&mut line)?;
    }
}

pub(crate) fn write_response(
    stream: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes)?;
    stream.flush()
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        let received = Instant::now();
        let path = request
            .path
            .strip_prefix(PREFIX)
            .ok_or_else(|| anyhow!("unknown path"))
            .map(str::to_owned);
        let accepted = [("Content-Type", "application/json".to_owned())];
        match (request.method.as_str(), path.as_deref()) {
            ("GET", Ok("/invocation/next")) => {
                let Some((id, event)) = next_event(shared, received) else {
                    return Ok(());
                };
                let deadline_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| (d + DEADLINE).as_millis())
                    .unwrap_or(0);
                write_response(
                    &mut writer,
                    "200 OK",
                    &[
                        // awslambdaric crashes on a `/next` answer without a content type.
                        ("Content-Type", "application/json".to_owned()),
                        ("Lambda-Runtime-Aws-Request-Id", id),
                        ("Lambda-Runtime-Deadline-Ms", deadline_ms.to_string()),
                        (
                            "Lambda-Runtime-Invoked-Function-Arn",
                            shared.function_arn.clone(),
                        ),
                        (
                            "Lambda-Runtime-Trace-Id",
                            "Root=1-00000000-000000000000000000000000;Sampled=0".to_owned(),
                        ),
                    ],
                    event.as_bytes(),
                )?;
            }
            ("POST", Ok("/init/error")) => {
                shared.lock().init_error =
                    Some(String::from_utf8_lossy(&request.body).into_owned());
                shared.changed.notify_all();
                write_response(
                    &mut writer,
                    "202 Accepted",
                    &accepted,
                    br#"{"status":"OK"}"#,
                )?;
            }
            ("POST", Ok(rest)) => {
                let answer = rest.strip_prefix("/invocation/").and_then(|r| {
                    r.strip_suffix("/response")
                        .map(|id| (id, true))
                        .or_else(|| r.strip_suffix("/error").map(|id| (id, false)))
                });
                match answer {
                    Some((id, ok)) => {
                        shared.lock().results.insert(
                            id.to_owned(),
                            Outcome {
                                at: received,
                                ok,
                                body: String::from_utf8_lossy(&request.body).into_owned(),
                            },
                        );
                        shared.changed.notify_all();
                        write_response(
                            &mut writer,
                            "202 Accepted",
                            &accepted,
                            br#"{"status":"OK"}"#,
                        )?;
                    }
                    None => write_response(&mut writer, "404 Not Found", &accepted, b"{}")?,
                }
            }
            _ => write_response(&mut writer, "404 Not Found", &accepted, b"{}")?,
        }
    }
    Ok(())
}

/// The next queued event, waiting for one; `None` once the server is closed.
fn next_event(shared: &Shared, received: Instant) -> Option<(String, String)> {
    let mut state = shared.lock();
    state.first_next.get_or_insert(received);
    state.nexts += 1;
    shared.changed.notify_all();
    loop {
        if state.closed {
            return None;
        }
        if let Some(event) = state.queue.pop_front() {
            return Some(event);
        }
        state = shared
            .changed
            .wait(state)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
}
