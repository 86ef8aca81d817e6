//! A fault-injecting HTTP proxy between the functions (their `AWS_ENDPOINT_URL`) and moto, on
//! loopback: it forwards each request, or fails it the way AWS and networks fail, as the test
//! tells it.
//!
//! Every connection carries one request (`Connection: close` both ways), so that a fault set
//! between two invocations applies to the next request whatever the client's connection pool
//! holds. Error answers have the shapes the SDK parses: the JSON protocols'
//! `{"__type": ..., "message": ...}` with `x-amzn-ErrorType` (Secrets Manager, SSM, KMS,
//! DynamoDB, Cognito) and the query protocol's `<ErrorResponse>` XML (STS); anything else (the
//! user pool's JWKS) gets the bare status.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The message of every error answer: account id and role ARN, as AWS's messages carry them.
/// Tests assert that it never reaches a caller.
pub const LEAKY_MESSAGE: &str =
    "User: arn:aws:sts::123456789012:assumed-role/fault-proxy/session is being throttled";

/// What the proxy does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Nothing listens on the port: connections are refused.
    Refuse,
    /// Accept and read the request, never answer.
    BlackHole,
    /// Forward it and answer after this delay.
    Slow(Duration),
    /// Answer with this status and AWS error code, in the request's protocol.
    Error { status: u16, code: &'static str },
    /// Forward it, send the head and half the body of the answer, then close the connection.
    DropMidResponse,
}

impl Fault {
    pub const fn error(status: u16, code: &'static str) -> Self {
        Fault::Error { status, code }
    }
}

struct Rule {
    fault: Fault,
    /// Applies only to requests whose operation contains this text (`X-Amz-Target`, the query
    /// protocol's `Action`, or the path).
    only: Option<String>,
}

struct Shared {
    upstream: SocketAddr,
    rule: Mutex<Rule>,
    /// Bumped on every change of rule, so that a black-holed connection can let go.
    generation: AtomicU64,
    stop: AtomicBool,
    /// `(operation, fault applied)` of every request, in order.
    seen: Mutex<Vec<(String, Fault)>>,
}

/// The proxy. Dropping it stops it.
pub struct FaultProxy {
    pub endpoint: String,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`http://127.0.0.1:<port>`) on a free loopback port.
    pub fn start(upstream: &str) -> Result<Self> {
        let upstream: SocketAddr = upstream
            .strip_prefix("http://")
            .context("the upstream must be http://host:port")?
            .trim_end_matches('/')
            .parse()
            .context("the upstream must be http://<ip>:<port>")?;
        let listener =
            TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding the fault proxy")?;
        let address = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            upstream,
            rule: Mutex::new(Rule {
                fault: Fault::Pass,
                only: None,
            }),
            generation: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            seen: Mutex::new(Vec::new()),
        });
        let acceptor = {
            let shared = shared.clone();
            std::thread::spawn(move || accept_loop(listener, address, &shared))
        };
        Ok(Self {
            endpoint: format!("http://{address}"),
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// Applies `fault` to every request from now on.
    pub fn set(&self, fault: Fault) {
        self.set_rule(fault, None);
    }

    /// Applies `fault` to requests whose operation contains `only`, passes the others.
    pub fn set_for(&self, only: &str, fault: Fault) {
        self.set_rule(fault, Some(only.to_owned()));
    }

    fn set_rule(&self, fault: Fault, only: Option<String>) {
        if let Ok(mut rule) = self.shared.rule.lock() {
            *rule = Rule { fault, only };
        }
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        // Let the acceptor close or reopen the port before the next request.
        std::thread::sleep(Duration::from_millis(60));
    }

    /// The requests seen since the last call, as `(operation, fault applied)`.
    pub fn take_seen(&self) -> Vec<(String, Fault)> {
        self.shared
            .seen
            .lock()
            .map(|mut seen| std::mem::take(&mut *seen))
            .unwrap_or_default()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn refusing(shared: &Shared) -> bool {
    shared
        .rule
        .lock()
        .map(|rule| rule.fault == Fault::Refuse && rule.only.is_none())
        .unwrap_or(false)
}

fn accept_loop(listener: TcpListener, address: SocketAddr, shared: &Arc<Shared>) {
    let mut listener = Some(listener);
    while !shared.stop.load(Ordering::SeqCst) {
        if refusing(shared) {
            // Closing the listening socket is what makes the kernel refuse connections.
            listener = None;
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let Some(open) = listener.as_ref() else {
            listener = TcpListener::bind(address)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .ok();
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        match open.accept() {
            Ok((stream, _)) => {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &shared);
                });
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// One request: its head (lines), its body, and its operation's name.
struct Request {
    head: Vec<String>,
    body: Vec<u8>,
    operation: String,
    /// `X-Amz-Target` present: a JSON protocol.
    json_protocol: bool,
    content_type: Option<String>,
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim()
            .eq_ignore_ascii_case(name)
            .then_some(value.trim())
    })
}

fn read_request(stream: &mut TcpStream) -> Result<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the client closed before a full request head");
        }
        buffer.extend_from_slice(&chunk[..n]);
        if buffer.len() > 1 << 20 {
            bail!("request head too large");
        }
    };
    let head: Vec<String> = String::from_utf8_lossy(&buffer[..head_end])
        .split("\r\n")
        .map(str::to_owned)
        .collect();
    let length: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            bail!("the client closed before the full body");
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let target = header(&head, "x-amz-target").map(str::to_owned);
    let path = head
        .first()
        .and_then(|line| line.split(' ').nth(1))
        .unwrap_or("/")
        .to_owned();
    let operation = match &target {
        Some(target) => target.clone(),
        None => String::from_utf8_lossy(&body)
            .split('&')
            .find_map(|pair| pair.strip_prefix("Action="))
            .map_or(path, |action| format!("sts.{action}")),
    };
    Ok(Request {
        json_protocol: target.is_some(),
        content_type: header(&head, "content-type").map(str::to_owned),
        head,
        body,
        operation,
    })
}

fn serve(mut client: TcpStream, shared: &Shared) -> Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let request = read_request(&mut client)?;
    let fault = {
        let rule = shared
            .rule
            .lock()
            .map_err(|_| anyhow::anyhow!("rule lock poisoned"))?;
        match &rule.only {
            Some(only) if !request.operation.contains(only.as_str()) => Fault::Pass,
            _ => rule.fault.clone(),
        }
    };
    if let Ok(mut seen) = shared.seen.lock() {
        seen.push((request.operation.clone(), fault.clone()));
    }
    match fault {
        Fault::Pass => {
            let answer = forward(shared.upstream, &request)?;
            client.write_all(&answer)?;
        }
        // Only a rule for some operations gets here (a rule for all closes the port): reset.
        Fault::Refuse => {}
        Fault::BlackHole => hold(&mut client, shared),
        Fault::Slow(delay) => {
            let until = Instant::now() + delay;
            while Instant::now() < until && !shared.stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(10));
            }
            let answer = forward(shared.upstream, &request)?;
            // The client may have given up meanwhile; that is the point.
            let _ = client.write_all(&answer);
        }
        Fault::Error { status, code } => {
            client.write_all(&error_answer(&request, status, code))?;
        }
        Fault::DropMidResponse => {
            let answer = forward(shared.upstream, &request)?;
            let head_end = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(answer.len(), |at| at + 4);
            let cut = head_end + (answer.len() - head_end) / 2;
            client.write_all(&answer[..cut])?;
            client.flush()?;
        }
    }
    let _ = client.shutdown(Shutdown::Both);
    Ok(())
}

/// Keeps the connection open without answering until the client gives up, the rule changes or
/// the proxy stops.
fn hold(client: &mut TcpStream, shared: &Shared) {
    let generation = shared.generation.load(Ordering::SeqCst);
    let _ = client.set_read_timeout(Some(Duration::from_millis(20)));
    let mut byte = [0u8; 1];
    loop {
        if shared.stop.load(Ordering::SeqCst)
            || shared.generation.load(Ordering::SeqCst) != generation
        {
            return;
        }
        match client.read(&mut byte) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// Sends the request upstream with `Connection: close` and returns the whole answer.
fn forward(upstream: SocketAddr, request: &Request) -> Result<Vec<u8>> {
    let mut stream = TcpStream::connect_timeout(&upstream, Duration::from_secs(5))
        .context("connecting upstream")?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = String::new();
    for (i, line) in request.head.iter().enumerate() {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"));
        if i > 0 && is_connection {
            continue;
        }
        head.push_str(line);
        head.push_str("\r\n");
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&request.body)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(with_connection_close(&answer))
}

/// The answer with a `Connection: close` header, so that the client does not reuse the socket.
fn with_connection_close(answer: &[u8]) -> Vec<u8> {
    let Some(head_end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let mut out = String::new();
    for (i, line) in head.split("\r\n").enumerate() {
        let is_connection = line
            .split_once(':')
            .is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case("connection"));
        if i > 0 && is_connection {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&answer[head_end + 4..]);
    bytes
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// An error answer in the shape the SDK parses for the request's protocol.
fn error_answer(request: &Request, status: u16, code: &str) -> Vec<u8> {
    let (content_type, body) = if request.json_protocol {
        (
            request
                .content_type
                .clone()
                .unwrap_or_else(|| "application/x-amz-json-1.1".to_owned()),
            serde_json::json!({"__type": code, "message": LEAKY_MESSAGE}).to_string(),
        )
    } else if request.operation.starts_with("sts.") {
        (
            "text/xml".to_owned(),
            format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error>\
                 <Type>Sender</Type><Code>{code}</Code><Message>{LEAKY_MESSAGE}</Message>\
                 </Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
            ),
        )
    } else {
        (
            "application/json".to_owned(),
            serde_json::json!({"message": LEAKY_MESSAGE}).to_string(),
        )
    };
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         x-amzn-RequestId: fault-proxy\r\nx-amzn-ErrorType: {code}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every request with `200 ok`.
    fn upstream() -> (String, JoinHandle<()>) {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = listener.local_addr().unwrap();
        let handle = std::thread::spawn(move || {
            for stream in listener.incoming().take(4) {
                let mut stream = stream.unwrap();
                let _ = read_request(&mut stream);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: keep-alive\r\n\r\n0123456789",
                );
            }
        });
        (format!("http://{address}"), handle)
    }

    fn call(endpoint: &str, target: &str) -> std::io::Result<String> {
        let address = endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_millis(500)))?;
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: {target}\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{{}}"
        )?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer)
    }

    #[test]
    fn every_fault_does_what_it_says() {
        let (endpoint, upstream) = upstream();
        let proxy = FaultProxy::start(&endpoint).unwrap();
        let passed = call(&proxy.endpoint, "secretsmanager.GetSecretValue").unwrap();
        assert!(passed.starts_with("HTTP/1.1 200"), "{passed}");
        assert!(passed.contains("Connection: close") && passed.ends_with("0123456789"));

        proxy.set(Fault::error(400, "ThrottlingException"));
        let throttled = call(&proxy.endpoint, "secretsmanager.GetSecretValue").unwrap();
        assert!(throttled.starts_with("HTTP/1.1 400"), "{throttled}");
        assert!(throttled.contains(r#""__type":"ThrottlingException""#));

        proxy.set_for("DynamoDB", Fault::error(500, "InternalServerError"));
        let other = call(&proxy.endpoint, "secretsmanager.GetSecretValue").unwrap();
        assert!(other.starts_with("HTTP/1.1 200"), "{other}");

        proxy.set(Fault::DropMidResponse);
        let cut = call(&proxy.endpoint, "kms.Decrypt").unwrap();
        assert!(cut.ends_with("\r\n\r\n01234"), "{cut}");

        proxy.set(Fault::BlackHole);
        let error = call(&proxy.endpoint, "kms.Decrypt").unwrap_err();
        assert!(matches!(
            error.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));

        proxy.set(Fault::Refuse);
        let refused = call(&proxy.endpoint, "kms.Decrypt").unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::ConnectionRefused);
        proxy.set(Fault::Pass);
        assert!(call(&proxy.endpoint, "kms.Decrypt")
            .unwrap()
            .starts_with("HTTP/1.1 200"));

        let seen: Vec<String> = proxy.take_seen().into_iter().map(|(op, _)| op).collect();
        assert_eq!(seen.len(), 6, "{seen:?}");
        upstream.join().unwrap();
    }
}
