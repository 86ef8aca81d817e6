//! A minimal Lambda Extensions API (`2020-01-01`) on a free 127.0.0.1 port, for one extension
//! process: it registers (name and events recorded), then holds `/event/next` until the test
//! sends SHUTDOWN, as Lambda does.
//!
//! `on_register` runs when the register request arrives, before it is answered: Lambda starts
//! the function's init at that point, so what it sees is what a function's init code would.

use std::io::BufReader;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::{json, Value};

use crate::runtime_api::{read_request, write_response};

const PREFIX: &str = "/2020-01-01/extension";

/// What the extension registered with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `Lambda-Extension-Name`.
    pub name: String,
    pub events: Vec<String>,
}

type OnRegister = Box<dyn Fn() -> String + Send + Sync>;

#[derive(Default)]
struct State {
    registration: Option<Registration>,
    /// What `on_register` returned.
    seen_at_register: Option<String>,
    nexts: usize,
    shutdown: Option<Instant>,
    errors: Vec<String>,
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    on_register: Option<OnRegister>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The Extensions API server; dropping it releases a held `/next` and stops accepting.
pub struct ExtensionsApi {
    shared: Arc<Shared>,
    port: u16,
}

impl ExtensionsApi {
    pub fn start(on_register: Option<OnRegister>) -> Result<Self> {
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the extensions API")?;
        let port = listener.local_addr()?.port();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            on_register,
        });
        let accept_shared = Arc::clone(&shared);
        std::thread::Builder::new()
            .name(format!("extensions-api-{port}"))
            .spawn(move || {
                for stream in listener.incoming() {
                    if accept_shared.lock().closed {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = Arc::clone(&accept_shared);
                    let _ = std::thread::Builder::new()
                        .name("extensions-api-conn".into())
                        .spawn(move || {
                            let _ = serve_connection(stream, &shared);
                        });
                }
            })
            .context("starting the extensions API thread")?;
        Ok(Self { shared, port })
    }

    /// `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:<port>`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Waits for the registration and for the extension's first `/event/next`.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(Registration, Option<String>)> {
        self.wait_until(timeout, |state| {
            let registration = state.registration.clone()?;
            (state.nexts > 0).then(|| (registration, state.seen_at_register.clone()))
        })
        .context("waiting for the extension to register and ask for its next event")
    }

    /// Answers the held `/event/next` with SHUTDOWN; returns when it was sent.
    pub fn shutdown(&self) -> Instant {
        let at = Instant::now();
        self.shared.lock().shutdown = Some(at);
        self.shared.changed.notify_all();
        at
    }

    /// `init/error` and `exit/error` bodies the extension posted.
    pub fn errors(&self) -> Vec<String> {
        self.shared.lock().errors.clone()
    }

    fn wait_until<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&State) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            if let Some(value) = done(&state) {
                return Ok(value);
            }
            if let Some(error) = state.errors.first() {
                bail!("the extension reported an error: {error}");
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("nothing within {timeout:?}");
            }
            state = self
                .shared
                .changed
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }
}

impl Drop for ExtensionsApi {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> Result<()> {
    stream.set_nodelay(true)?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let json_type = [("Content-Type", "application/json".to_owned())];
    while let Some(request) = read_request(&mut reader)? {
        let path = request
            .path
            .strip_prefix(PREFIX)
            .ok_or_else(|| anyhow!("unknown path {}", request.path))?
            .to_owned();
        match (request.method.as_str(), path.as_str()) {
            ("POST", "/register") => {
                let name = request
                    .headers
                    .iter()
                    .find(|(n, _)| n == "lambda-extension-name")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                let body: Value = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
                let events = body["events"]
                    .as_array()
                    .map(|events| {
                        events
                            .iter()
                            .filter_map(|e| e.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                let seen = shared.on_register.as_ref().map(|probe| probe());
                {
                    let mut state = shared.lock();
                    state.registration = Some(Registration { name, events });
                    state.seen_at_register = seen;
                }
                shared.changed.notify_all();
                let answer = json!({
                    "functionName": "secrets-extension-test",
                    "functionVersion": "$LATEST",
                    "handler": "index.handler",
                });
                write_response(
                    &mut writer,
                    "200 OK",
                    &[
                        ("Content-Type", "application/json".to_owned()),
                        (
                            "Lambda-Extension-Identifier",
                            "ext-00000000-0000-0000-0000-000000000001".to_owned(),
                        ),
                    ],
                    answer.to_string().as_bytes(),
                )?;
            }
            ("GET", "/event/next") => {
                let mut state = shared.lock();
                state.nexts += 1;
                shared.changed.notify_all();
                while state.shutdown.is_none() && !state.closed {
                    state = shared
                        .changed
                        .wait(state)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                if state.closed {
                    return Ok(());
                }
                drop(state);
                let deadline_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| (d + Duration::from_secs(2)).as_millis())
                    .unwrap_or(0);
                let event = json!({
                    "eventType": "SHUTDOWN",
                    "shutdownReason": "spindown",
                    "deadlineMs": deadline_ms,
                });
                write_response(
                    &mut writer,
                    "200 OK",
                    &json_type,
                    event.to_string().as_bytes(),
                )?;
            }
            ("POST", "/init/error" | "/exit/error") => {
                shared
                    .lock()
                    .errors
                    .push(String::from_utf8_lossy(&request.body).into_owned());
                shared.changed.notify_all();
                write_response(&mut writer, "202 Accepted", &json_type, b"{}")?;
            }
            _ => write_response(&mut writer, "404 Not Found", &json_type, b"{}")?,
        }
    }
    Ok(())
}
