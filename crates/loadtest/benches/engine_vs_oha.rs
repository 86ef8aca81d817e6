//! `make bench`: the loadtest engine next to oha, against the same local HTTP server, at the same
//! concurrency and duration, in one run. Also the engine's memory over a longer run (it must not
//! grow with the number of calls).
//!
//! oha is installed, pinned, into `.tools/` by `make bench` (or set `OHA` to a binary).
// Test and bench code: a panic here is a failed run, not a crashed function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Response};
use hyper_util::rt::TokioIo;
use loadtest::engine::{Caller, Engine, Plan};
use loadtest::request::{Limits, Schedule};

const CONCURRENCY: u32 = 50;
const SECONDS: u64 = 10;
const ROUNDS: usize = 5;

/// A small HTTP/1.1 server answering like the orders API, on its own thread.
fn start_server() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    listener.set_nonblocking(true)?;
    std::thread::spawn(move || {
        let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        runtime.block_on(async move {
            let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                tokio::spawn(async move {
                    let service = service_fn(|_request| async {
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(
                            br#"{"tenantId":"tenant-a","userId":"student","orderCount":5,"orders":[]}"#,
                        ))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    Ok(port)
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn current_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .map(str::to_owned)
        })
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn engine_run(port: u16, seconds: u64) -> Result<(f64, f64, u64), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let uri = format!("http://127.0.0.1:{port}/orders")
            .parse()
            .map_err(|_| "uri".to_owned())?;
        let engine = Arc::new(Engine::new(uri, Method::GET, Duration::from_secs(10))?);
        let callers = [Caller::new("bench", Some(&"x".repeat(900)))];
        let plan = Plan {
            schedule: Schedule::For(Duration::from_secs(seconds)),
            concurrency: CONCURRENCY,
            slice: None,
            // The engine's own speed: no call or rate cap beyond the schedule.
            limits: Limits {
                calls: u64::MAX,
                rate: f64::MAX,
                duration: Duration::from_secs(seconds),
            },
            log_calls: 0,
        };
        let (stats, _) = engine.run(plan, &callers).await;
        let rps = stats.calls() as f64 / stats.elapsed.as_secs_f64();
        let p50_ms = stats.latency.value_at_quantile(0.5) as f64 / 1000.0;
        Ok((rps, p50_ms, stats.calls()))
    })
}

fn oha_binary() -> PathBuf {
    std::env::var_os("OHA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.tools/bin/oha"))
}

fn oha_run(port: u16) -> Result<(f64, f64), String> {
    let output = Command::new(oha_binary())
        .args([
            "-z",
            &format!("{SECONDS}s"),
            "-c",
            &CONCURRENCY.to_string(),
            "--no-tui",
            "--output-format",
            "json",
        ])
        .args(["-H", &format!("Authorization: Bearer {}", "x".repeat(900))])
        .arg(format!("http://127.0.0.1:{port}/orders"))
        .output()
        .map_err(|e| {
            format!(
                "running oha ({}): {e}; `make bench` installs it",
                oha_binary().display()
            )
        })?;
    if !output.status.success() {
        return Err(format!(
            "oha failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&output.stdout).map_err(|e| format!("oha output: {e}"))?;
    let rps = report["summary"]["requestsPerSec"]
        .as_f64()
        .ok_or("oha: no requestsPerSec")?;
    let p50 = report["latencyPercentiles"]["p50"]
        .as_f64()
        .ok_or("oha: no p50")?
        * 1000.0;
    Ok((rps, p50))
}

fn main() {
    // `cargo bench` passes `--bench`; nothing to filter here.
    let port = match start_server() {
        Ok(port) => port,
        Err(e) => {
            eprintln!("could not start the target server: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "target: hyper HTTP/1.1 on 127.0.0.1:{port}; {CONCURRENCY} connections, {SECONDS} s per run; \
         {ROUNDS} rounds of the engine then oha, the ratios of each round and their median"
    );
    // Two cores shared by the target, the client and whatever else the machine does: one pair
    // of runs moves by several percent from the next. Rounds of pairs, each pair side by side
    // in time, and the median of their ratios.
    let mut ratios = Vec::new();
    for round in 1..=ROUNDS {
        let ours = engine_run(port, SECONDS);
        let theirs = oha_run(port);
        match (&ours, &theirs) {
            (Ok((rps, p50, calls)), Ok((oha_rps, oha_p50))) => {
                println!(
                    "  round {round}: engine {rps:8.0} req/s p50 {p50:6.3} ms ({calls} calls); \
                     oha {oha_rps:8.0} req/s p50 {oha_p50:6.3} ms; ratios {:.3}, {:.3}",
                    rps / oha_rps,
                    p50 / oha_p50
                );
                ratios.push((rps / oha_rps, p50 / oha_p50));
            }
            _ => {
                if let Err(e) = &ours {
                    eprintln!("engine run failed: {e}");
                }
                if let Err(e) = &theirs {
                    eprintln!("oha run failed: {e}");
                }
            }
        }
    }
    if ratios.len() == ROUNDS {
        let median = |pick: fn(&(f64, f64)) -> f64| {
            let mut values: Vec<f64> = ratios.iter().map(pick).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        println!(
            "  throughput ratio engine/oha: {:.3} (median of {ROUNDS}; target >= 1.0)",
            median(|r| r.0)
        );
        println!(
            "  p50 ratio engine/oha:        {:.3} (median of {ROUNDS}; target <= 1.05)",
            median(|r| r.1)
        );
    }
    // Memory: a short and a 6x longer run; resident memory must not follow the call count.
    let before = current_rss_kib();
    let short = engine_run(port, 5).map(|r| r.2).unwrap_or(0);
    let after_short = current_rss_kib();
    let long = engine_run(port, 30).map(|r| r.2).unwrap_or(0);
    let after_long = current_rss_kib();
    println!(
        "  memory: RSS {before} KiB before, {after_short} KiB after {short} calls, {after_long} KiB after {long} calls (peak {} KiB)",
        peak_rss_kib()
    );
}
