//! `make bench`'s secrets-extension section: the extension beside AWS's open-source Secrets
//! Manager Agent (aws_secretsmanager_agent, built from its crates.io source by `make bench`),
//! both against the same moto, in one run:
//!
//! - spawn → listening (the port accepts a connection), median and p90 of `--spawns` spawns;
//! - upstream calls for 500 concurrent cold requests of one secret (moto's recorder);
//! - RSS after `--keys` distinct secrets were read;
//! - a cached read over one keep-alive connection, p50 and p99 of 10,000 sequential reads;
//! - requests per second with the server pinned to core 0 and oha (50 connections) to core 1;
//! - binary size.
//!
//! `extbench --extension <bin> --agent <bin> --oha <bin> [--out FILE]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use suite_tests::coldstart::quantile;
use suite_tests::extensions_api::ExtensionsApi;
use suite_tests::process::ManagedProcess;
use suite_tests::{free_port, function_env, run_dir, write_report, Moto};

const TOKEN: &str = "bench-session-token";
const BURST: usize = 500;

struct Options {
    extension: PathBuf,
    agent: PathBuf,
    oha: PathBuf,
    out: Option<PathBuf>,
    spawns: usize,
    keys: usize,
    seconds: u64,
}

fn options() -> Result<Options> {
    let mut args = std::env::args().skip(1);
    let mut options = Options {
        extension: PathBuf::new(),
        agent: PathBuf::new(),
        oha: PathBuf::new(),
        out: None,
        spawns: 20,
        keys: 1000,
        seconds: 5,
    };
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--extension" => options.extension = value.into(),
            "--agent" => options.agent = value.into(),
            "--oha" => options.oha = value.into(),
            "--out" => options.out = Some(value.into()),
            "--spawns" => options.spawns = value.parse()?,
            "--keys" => options.keys = value.parse()?,
            "--seconds" => options.seconds = value.parse()?,
            other => bail!("unknown option {other}"),
        }
    }
    for (what, path) in [
        ("--extension", &options.extension),
        ("--agent", &options.agent),
        ("--oha", &options.oha),
    ] {
        if !path.is_file() {
            bail!("{what} {} is not a file", path.display());
        }
    }
    // The servers run in the run directory: their paths must not depend on it.
    for path in [&mut options.extension, &mut options.agent, &mut options.oha] {
        *path = path.canonicalize()?;
    }
    Ok(options)
}

/// One of the two servers, as the bench starts it.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Extension,
    Agent,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Extension => "secrets-extension",
            Kind::Agent => "AWS Secrets Manager Agent 2.1.0",
        }
    }
}

/// A running server and what it needs kept alive.
struct Server {
    process: ManagedProcess,
    port: u16,
    _api: Option<ExtensionsApi>,
}

fn start(
    kind: Kind,
    options: &Options,
    moto: &Moto,
    dir: &Path,
    pin: Option<&str>,
) -> Result<(Server, Duration)> {
    let port = free_port()?;
    let (mut command, api) = match kind {
        Kind::Extension => {
            let api = ExtensionsApi::start(None)?;
            let mut command = pinned(&options.extension, pin);
            command
                .env("AWS_LAMBDA_RUNTIME_API", api.address())
                .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.to_string())
                .env("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "WARN");
            (command, Some(api))
        }
        Kind::Agent => {
            let config = dir.join(format!("agent-{port}.toml"));
            std::fs::write(
                &config,
                format!(
                    "log_level = \"error\"\nlog_to_file = false\nhttp_port = \"{port}\"\n\
                     ttl_seconds = \"300\"\ncache_size = \"1000\"\nvalidate_credentials = false\n\
                     region = \"{}\"\n",
                    suitectl::endpoint::LOCAL_REGION
                ),
            )?;
            let mut command = pinned(&options.agent, pin);
            command.arg("--config").arg(&config);
            (command, None)
        }
    };
    command
        .envs(function_env(moto))
        .env("AWS_SESSION_TOKEN", TOKEN)
        .current_dir(dir);
    let spawned = Instant::now();
    let mut process =
        ManagedProcess::spawn(kind.name(), command, &dir.join(format!("{port}.log")))?;
    let deadline = spawned + Duration::from_secs(20);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        if Instant::now() > deadline {
            bail!(
                "{} did not listen within 20 s: {}",
                kind.name(),
                process.log()
            );
        }
        process.ensure_running()?;
        std::thread::sleep(Duration::from_micros(100));
    }
    let listening = spawned.elapsed();
    Ok((
        Server {
            process,
            port,
            _api: api,
        },
        listening,
    ))
}

fn pinned(binary: &Path, cpu: Option<&str>) -> Command {
    match cpu {
        Some(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", cpu]).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}

/// A keep-alive HTTP/1.1 client on one connection, to time the server, not a client library.
struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    request: Vec<u8>,
}

impl Connection {
    fn open(port: u16, secret: &str) -> Result<Self> {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
        stream.set_nodelay(true)?;
        let request = format!(
            "GET /secretsmanager/get?secretId={secret} HTTP/1.1\r\nHost: localhost\r\n\
             X-Aws-Parameters-Secrets-Token: {TOKEN}\r\n\r\n"
        )
        .into_bytes();
        Ok(Self {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
            request,
        })
    }

    /// One request; the status and the body.
    fn get(&mut self) -> Result<(u16, Vec<u8>)> {
        self.writer.write_all(&self.request)?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| anyhow!("bad status line {line:?}"))?;
        let mut length = 0usize;
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse()?;
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body)?;
        Ok((status, body))
    }
}

fn get_once(port: u16, secret: &str) -> Result<(u16, Vec<u8>)> {
    Connection::open(port, secret)?.get()
}

fn rss_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| anyhow!("no {name}"))
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The server's own process: the child of `taskset` is `taskset` exec'd into it, same pid.
fn oha(options: &Options, port: u16, secret: &str) -> Result<(f64, f64)> {
    let output = Command::new("taskset")
        .args(["-c", "1"])
        .arg(&options.oha)
        .args([
            "-z",
            &format!("{}s", options.seconds),
            "-c",
            "50",
            "--no-tui",
        ])
        .args(["--output-format", "json"])
        .args(["-H", &format!("X-Aws-Parameters-Secrets-Token: {TOKEN}")])
        .arg(format!(
            "http://127.0.0.1:{port}/secretsmanager/get?secretId={secret}"
        ))
        .output()
        .context("running oha")?;
    if !output.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    let report: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let rps = report["summary"]["requestsPerSec"]
        .as_f64()
        .context("oha: requestsPerSec")?;
    let ok = report["statusCodeDistribution"]["200"]
        .as_f64()
        .unwrap_or(0.0);
    let all: f64 = report["statusCodeDistribution"]
        .as_object()
        .map(|codes| codes.values().filter_map(|v| v.as_f64()).sum())
        .unwrap_or(0.0);
    Ok((rps, if all > 0.0 { ok / all } else { 0.0 }))
}

struct Measured {
    listening: Vec<Duration>,
    burst_calls: Vec<String>,
    idle_rss_kib: u64,
    rss_kib: (u64, u64),
    p50: Duration,
    p99: Duration,
    rps: f64,
    ok_share: f64,
    size: u64,
}

fn measure(kind: Kind, options: &Options, moto: &Moto, dir: &Path) -> Result<Measured> {
    let mut listening = Vec::new();
    for _ in 0..options.spawns {
        let (server, time) = start(kind, options, moto, dir, None)?;
        listening.push(time);
        drop(server);
    }
    let (mut server, _) = start(kind, options, moto, dir, Some("0"))?;
    let port = server.port;
    // A first read, so that the TLS and HTTP clients exist, then the memory of an idle server.
    get_once(port, "bench/key-0000")?;
    let idle_rss_kib = rss_kib(server.process.id())?.0;
    let burst = match kind {
        Kind::Extension => "bench/burst-extension",
        Kind::Agent => "bench/burst-agent",
    };
    moto.start_recording()?;
    let barrier = Arc::new(Barrier::new(BURST));
    let threads: Vec<_> = (0..BURST)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                get_once(port, burst)
            })
        })
        .collect();
    for thread in threads {
        let (status, _) = thread
            .join()
            .map_err(|_| anyhow!("a client thread panicked"))??;
        if status != 200 {
            bail!("{}: the burst got {status}", kind.name());
        }
    }
    let burst_calls = moto.stop_recording()?;
    for key in 0..options.keys {
        let (status, _) = get_once(port, &format!("bench/key-{key:04}"))?;
        if status != 200 {
            bail!("{}: key {key} got {status}", kind.name());
        }
    }
    server.process.ensure_running()?;
    let rss_kib = rss_kib(server.process.id())?;
    let mut connection = Connection::open(port, "bench/key-0000")?;
    for _ in 0..1000 {
        connection.get()?;
    }
    let mut samples = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let start = Instant::now();
        let (status, _) = connection.get()?;
        samples.push(start.elapsed());
        if status != 200 {
            bail!("{}: a cached read got {status}", kind.name());
        }
    }
    let (rps, ok_share) = oha(options, port, "bench/key-0000")?;
    let binary = match kind {
        Kind::Extension => &options.extension,
        Kind::Agent => &options.agent,
    };
    Ok(Measured {
        listening,
        burst_calls,
        idle_rss_kib,
        rss_kib,
        p50: quantile(&samples, 0.5).unwrap_or_default(),
        p99: quantile(&samples, 0.99).unwrap_or_default(),
        rps,
        ok_share,
        size: std::fs::metadata(binary)?.len(),
    })
}

fn seed(moto: &Moto, keys: usize) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
            let sm = aws_sdk_secretsmanager::Client::new(&config);
            let mut names: Vec<String> = (0..keys).map(|k| format!("bench/key-{k:04}")).collect();
            names.push("bench/burst-extension".into());
            names.push("bench/burst-agent".into());
            for name in names {
                sm.create_secret()
                    .name(&name)
                    .secret_string(format!("{{\"password\":\"value-of-{name}\"}}"))
                    .send()
                    .await?;
            }
            Ok::<_, anyhow::Error>(())
        })
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

fn main() -> Result<()> {
    let options = options()?;
    let dir = run_dir("extbench")?;
    let moto = Moto::start(&dir)?;
    seed(&moto, options.keys)?;
    let ours = measure(Kind::Extension, &options, &moto, &dir)?;
    let theirs = measure(Kind::Agent, &options, &moto, &dir)?;
    let row = |what: &str, a: String, b: String, ratio: String| {
        format!("| {what} | {a} | {b} | {ratio} |\n")
    };
    let median = |m: &Measured| quantile(&m.listening, 0.5).unwrap_or_default();
    let p90 = |m: &Measured| quantile(&m.listening, 0.9).unwrap_or_default();
    let ratio = |agent: f64, ours: f64| format!("{:.2}×", agent / ours.max(f64::MIN_POSITIVE));
    let calls = |m: &Measured| {
        let gets = m
            .burst_calls
            .iter()
            .filter(|c| c.as_str() == "secretsmanager.GetSecretValue")
            .count();
        let other = m.burst_calls.len() - gets;
        format!("{gets} GetSecretValue + {other} other")
    };
    let mut report = format!(
        "Both servers against one moto on loopback; the {} spawns unpinned, then one process pinned to \
         core 0 and oha (50 connections, {} s) to core 1. Cached read: 10,000 sequential GETs of one \
         secret on one keep-alive connection, after 1,000 warm-up GETs. RSS after {} distinct secrets \
         were read. Ratios are the agent's figure over ours (above 1: ours is better), requests per \
         second ours over the agent's.\n\n\
         | measure | {} | {} | ratio |\n| --- | --- | --- | --- |\n",
        options.spawns,
        options.seconds,
        options.keys,
        Kind::Extension.name(),
        Kind::Agent.name()
    );
    report += &row(
        "spawn → listening, median",
        ms(median(&ours)),
        ms(median(&theirs)),
        ratio(median(&theirs).as_secs_f64(), median(&ours).as_secs_f64()),
    );
    report += &row(
        "spawn → listening, p90",
        ms(p90(&ours)),
        ms(p90(&theirs)),
        ratio(p90(&theirs).as_secs_f64(), p90(&ours).as_secs_f64()),
    );
    report += &row(
        &format!("upstream calls, {BURST} concurrent cold requests of one secret"),
        calls(&ours),
        calls(&theirs),
        format!("{} vs {}", ours.burst_calls.len(), theirs.burst_calls.len()),
    );
    report += &row(
        "RSS after one read",
        format!("{:.1} MiB", ours.idle_rss_kib as f64 / 1024.0),
        format!("{:.1} MiB", theirs.idle_rss_kib as f64 / 1024.0),
        ratio(theirs.idle_rss_kib as f64, ours.idle_rss_kib as f64),
    );
    report += &row(
        &format!("RSS after {} secrets (VmRSS / VmHWM)", options.keys),
        format!(
            "{:.1} / {:.1} MiB",
            ours.rss_kib.0 as f64 / 1024.0,
            ours.rss_kib.1 as f64 / 1024.0
        ),
        format!(
            "{:.1} / {:.1} MiB",
            theirs.rss_kib.0 as f64 / 1024.0,
            theirs.rss_kib.1 as f64 / 1024.0
        ),
        ratio(theirs.rss_kib.0 as f64, ours.rss_kib.0 as f64),
    );
    report += &row(
        "cached read p50",
        us(ours.p50),
        us(theirs.p50),
        ratio(theirs.p50.as_secs_f64(), ours.p50.as_secs_f64()),
    );
    report += &row(
        "cached read p99",
        us(ours.p99),
        us(theirs.p99),
        ratio(theirs.p99.as_secs_f64(), ours.p99.as_secs_f64()),
    );
    report += &row(
        "requests/s on one core (share answered 200)",
        format!("{:.0} ({:.1}%)", ours.rps, ours.ok_share * 100.0),
        format!("{:.0} ({:.1}%)", theirs.rps, theirs.ok_share * 100.0),
        format!("{:.2}×", ours.rps / theirs.rps.max(1.0)),
    );
    report += &row(
        "binary (x86_64, as built)",
        format!("{:.2} MB", ours.size as f64 / 1e6),
        format!("{:.2} MB", theirs.size as f64 / 1e6),
        ratio(theirs.size as f64, ours.size as f64),
    );
    write_report(options.out.as_deref(), &report)
}
