//! Cold start, memory and warm latency of a function process under the [`RuntimeApi`], the way
//! Lambda starts one: a fresh process per cold start with the `AWS_LAMBDA_*` environment, one
//! event served, the next `/next` held while the process's peak RSS (`VmHWM`) is read, once
//! any thread of its start-up has ended.
//!
//! The same measurement runs our binaries and the Python baseline (`bench/python`, run by
//! `awslambdaric`), so their figures come from one harness in one run.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::runtime_api::{Outcome, RuntimeApi};
use crate::{repo_root, SeededMoto};

/// How long one invocation may take before the run fails (a cold Python start with boto3 on a
/// loaded machine stays well under it).
const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a process may run threads besides its main one, once idle, before its memory is
/// read anyway (our functions end their one start-up thread within milliseconds).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which runtime runs a behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Our Rust binary.
    Rust,
    /// The Python 3 baseline through `awslambdaric`.
    Python,
}

impl Runtime {
    pub fn label(self) -> &'static str {
        match self {
            Self::Rust => "Rust (ours)",
            Self::Python => "Python baseline",
        }
    }
}

/// One function as a runtime runs it: the command to spawn and the event to serve.
#[derive(Debug, Clone)]
pub struct Subject {
    pub function: String,
    pub runtime: Runtime,
    program: PathBuf,
    args: Vec<String>,
    cwd: PathBuf,
    env: Vec<(String, String)>,
    pub event: String,
}

impl Subject {
    /// Our binary at `binary`, with the local stack's function environment.
    pub fn rust(
        function: &str,
        binary: &Path,
        env: Vec<(String, String)>,
        event: &str,
    ) -> Result<Self> {
        if !binary.is_file() {
            bail!("{} not found: build it first", binary.display());
        }
        Ok(Self {
            function: function.to_owned(),
            runtime: Runtime::Rust,
            program: binary.to_path_buf(),
            args: Vec::new(),
            cwd: repo_root(),
            env,
            event: event.to_owned(),
        })
    }

    /// The Python handler `bench/python/<module>.py` under `awslambdaric`, with `python` from the
    /// venv `make bench` installs it into.
    pub fn python(
        function: &str,
        python: &Path,
        env: Vec<(String, String)>,
        event: &str,
    ) -> Result<Self> {
        let module = function.replace('-', "_");
        let cwd = repo_root().join("bench/python");
        if !cwd.join(format!("{module}.py")).is_file() {
            bail!("no Python baseline for {function} in {}", cwd.display());
        }
        // Absolute (the process starts in bench/python) but not resolved: the venv's `python`
        // is a symlink whose path tells Python which venv it runs in.
        let program = if python.is_absolute() {
            python.to_path_buf()
        } else {
            std::env::current_dir()?.join(python)
        };
        Ok(Self {
            function: function.to_owned(),
            runtime: Runtime::Python,
            program,
            args: vec![
                "-m".into(),
                "awslambdaric".into(),
                format!("{module}.handler"),
            ],
            cwd,
            env,
            event: event.to_owned(),
        })
    }

    fn spawn(&self, api: &RuntimeApi, log: &Path) -> Result<Function> {
        let log_file = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .current_dir(&self.cwd)
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "C.UTF-8")
            .env("TZ", ":UTC")
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("AWS_LAMBDA_FUNCTION_NAME", &self.function)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.function),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", suitectl::endpoint::LOCAL_REGION)
            .env("AWS_DEFAULT_REGION", suitectl::endpoint::LOCAL_REGION)
            .env("LAMBDA_TASK_ROOT", &self.cwd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        Ok(Function {
            child,
            log: log.to_path_buf(),
        })
    }
}

/// A spawned function process, killed when dropped.
struct Function {
    child: Child,
    log: PathBuf,
}

impl Function {
    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "the function exited ({status}); its output:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Waits until the process runs its main thread alone, so that the work of its start-up
    /// threads is in `VmHWM`: our functions read the TLS root certificates on a thread of their
    /// own (0.4 MiB at its peak), which a cold invoke that calls no AWS service (data-masking's)
    /// answers before it ends. A process still running other threads after [`SETTLE_TIMEOUT`]
    /// is read as it is.
    fn settle(&self) {
        let deadline = Instant::now() + SETTLE_TIMEOUT;
        while self.threads() > 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The threads of the process, from `/proc/<pid>/task` (1 when it cannot be read).
    fn threads(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/task", self.child.id()))
            .map(|tasks| tasks.count())
            .unwrap_or(1)
    }

    /// The function process's `/proc/<pid>/status`.
    fn status(&self) -> Result<String> {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .context("reading /proc/<pid>/status")
    }

    /// `VmHWM` and `VmRSS` (KiB) from one reading of `/proc/<pid>/status`, taken once the
    /// process has [settled](Self::settle).
    fn memory_kib(&self) -> Result<(u64, u64)> {
        self.settle();
        let status = self.status()?;
        Ok((kib_field(&status, "VmHWM:")?, kib_field(&status, "VmRSS:")?))
    }

    /// `RssFile` (KiB): the pages of the binary (and other files) now resident. They only
    /// grow while a process runs new code, so a growth between two readings is code touched.
    fn file_rss_kib(&self) -> Result<u64> {
        kib_field(&self.status()?, "RssFile:")
    }
}

/// A `name: <n> kB` line of `/proc/<pid>/status`, in KiB.
fn kib_field(status: &str, name: &str) -> Result<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no {name} in /proc/<pid>/status"))
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One cold start.
#[derive(Debug, Clone, Copy)]
pub struct ColdSample {
    /// Spawn → first `GET /next`.
    pub init: Duration,
    /// Spawn → the response to the first event, its AWS calls included.
    pub invoke: Duration,
    /// `VmHWM` once the process, having answered, asks for the next event (held) and runs no
    /// thread but its main one.
    pub peak_rss_kib: u64,
}

/// Warm invocations against one process.
#[derive(Debug, Clone)]
pub struct WarmRun {
    /// Event queued → response, per invocation.
    pub latencies: Vec<Duration>,
    /// `VmRSS` after the cold invoke and the recorded warm one, before the timed ones.
    pub rss_before_kib: u64,
    pub rss_after_kib: u64,
    pub peak_rss_after_kib: u64,
    /// AWS operations (as moto recorded them) of the cold invoke and of one warm invoke.
    pub cold_operations: Vec<String>,
    pub warm_operations: Vec<String>,
}

/// Everything measured for one subject.
#[derive(Debug, Clone)]
pub struct Measured {
    pub function: String,
    pub runtime: Runtime,
    pub cold: Vec<ColdSample>,
    pub warm: Option<WarmRun>,
}

fn answered_status(outcome: &Outcome) -> Option<u64> {
    let body: Value = serde_json::from_str(&outcome.body).ok()?;
    body.get("statusCode").and_then(Value::as_u64)
}

fn check_answer(subject: &Subject, outcome: &Outcome) -> Result<()> {
    let what = format!("{} ({})", subject.function, subject.runtime.label());
    if !outcome.ok {
        bail!("{what} answered with an error: {}", outcome.body);
    }
    let body: Value = serde_json::from_str(&outcome.body)
        .with_context(|| format!("{what} answered non-JSON: {}", outcome.body))?;
    let status = body.get("statusCode").and_then(Value::as_u64);
    if status != Some(200) {
        bail!("{what} answered status {status:?}: {}", outcome.body);
    }
    Ok(())
}

/// One cold start of `subject`: spawn, serve its event, read its peak RSS, kill it.
pub fn cold_start(subject: &Subject, log: &Path) -> Result<ColdSample> {
    let mut api = RuntimeApi::start(&subject.function)?;
    // Queued before the spawn, as Lambda has the event when it starts an environment for it.
    let id = api.invoke(&subject.event);
    let spawned = Instant::now();
    let mut function = subject.spawn(&api, log)?;
    let outcome = api.wait_outcome(&id, INVOKE_TIMEOUT, || function.alive())?;
    // Idle again (asking for the next event, its start-up thread ended): whatever it did after
    // answering is in the peak.
    api.wait_nexts(2, INVOKE_TIMEOUT, || function.alive())?;
    let (peak_rss_kib, _) = function.memory_kib()?;
    check_answer(subject, &outcome)?;
    let first_next = api
        .first_next()
        .ok_or_else(|| anyhow!("answered without asking for an event"))?;
    Ok(ColdSample {
        init: first_next.saturating_duration_since(spawned),
        invoke: outcome.at.saturating_duration_since(spawned),
        peak_rss_kib,
    })
}

/// `invocations` warm invokes against one process, after its cold one; moto records the AWS
/// calls of the cold invoke and of the first warm one.
pub fn warm_run(
    subject: &Subject,
    stack: &SeededMoto,
    invocations: usize,
    log: &Path,
) -> Result<WarmRun> {
    let mut api = RuntimeApi::start(&subject.function)?;
    let mut function = subject.spawn(&api, log)?;
    let invoke = |api: &mut RuntimeApi, function: &mut Function| -> Result<Outcome> {
        let id = api.invoke(&subject.event);
        let outcome = api.wait_outcome(&id, INVOKE_TIMEOUT, || function.alive())?;
        check_answer(subject, &outcome)?;
        Ok(outcome)
    };
    stack.moto.start_recording()?;
    invoke(&mut api, &mut function)?;
    let cold_operations = stack.moto.stop_recording()?;
    stack.moto.start_recording()?;
    invoke(&mut api, &mut function)?;
    let warm_operations = stack.moto.stop_recording()?;
    api.wait_nexts(3, INVOKE_TIMEOUT, || function.alive())?;
    let (_, rss_before_kib) = function.memory_kib()?;
    let mut latencies = Vec::with_capacity(invocations);
    for _ in 0..invocations {
        let queued = Instant::now();
        let outcome = invoke(&mut api, &mut function)?;
        latencies.push(outcome.at.saturating_duration_since(queued));
    }
    api.wait_nexts(invocations + 3, INVOKE_TIMEOUT, || function.alive())?;
    let (peak_rss_after_kib, rss_after_kib) = function.memory_kib()?;
    Ok(WarmRun {
        latencies,
        rss_before_kib,
        rss_after_kib,
        peak_rss_after_kib,
        cold_operations,
        warm_operations,
    })
}

/// One sandbox served a stream of events, as Lambda feeds a warm sandbox. AWS calls are
/// recorded in three parts: the first (cold) invocation, the rest of the stream's first half
/// (the sandbox filling its caches), and the second half (its steady state).
#[derive(Debug, Clone)]
pub struct StreamRun {
    /// Events served (every one answered 200).
    pub requests: usize,
    pub cold_operations: Vec<String>,
    pub warmup_operations: Vec<String>,
    pub steady_operations: Vec<String>,
    /// Events of the second half.
    pub steady_requests: usize,
}

impl StreamRun {
    /// Every AWS operation of the stream.
    pub fn operations(&self) -> Vec<String> {
        [
            &self.cold_operations,
            &self.warmup_operations,
            &self.steady_operations,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }
}

/// One process of `subject` serves `events` in order, each answered before the next is queued;
/// moto records the AWS calls. `env` is added to the subject's environment.
pub fn serve_stream(
    subject: &Subject,
    stack: &SeededMoto,
    events: &[String],
    env: &[(String, String)],
    log: &Path,
) -> Result<StreamRun> {
    if events.len() < 2 {
        bail!("a stream needs at least 2 events");
    }
    let mut subject = subject.clone();
    subject.env.extend(env.iter().cloned());
    let mut api = RuntimeApi::start(&subject.function)?;
    let mut function = subject.spawn(&api, log)?;
    let mut serve = |events: &[String]| -> Result<Vec<String>> {
        stack.moto.start_recording()?;
        for event in events {
            let id = api.invoke(event);
            let outcome = api.wait_outcome(&id, INVOKE_TIMEOUT, || function.alive())?;
            check_answer(&subject, &outcome)?;
        }
        stack.moto.stop_recording()
    };
    let half = events.len() / 2;
    let cold_operations = serve(&events[..1])?;
    let warmup_operations = serve(&events[1..half.max(1)])?;
    let steady_operations = serve(&events[half.max(1)..])?;
    Ok(StreamRun {
        requests: events.len(),
        cold_operations,
        warmup_operations,
        steady_operations,
        steady_requests: events.len() - half.max(1),
    })
}

/// data-masking's memory and speed at one request size.
#[derive(Debug, Clone, Copy)]
pub struct PayloadSample {
    /// The `records` JSON text, bytes.
    pub payload_bytes: usize,
    pub records: usize,
    /// `VmHWM` after the same process answered a 1 kB request of the same records (median over
    /// the processes): its own baseline, with the masking code paths touched (this sandbox counts a binary's resident
    /// pages in RSS, so a process that has masked holds more than one that has only started).
    pub baseline_rss_kib: u64,
    /// `VmHWM` after the function answered the request `repeats` times (median over the
    /// processes).
    pub peak_rss_kib: u64,
    /// How much more of the binary was resident after those requests than after the 1 kB one
    /// (`RssFile`, median over the processes): code, counted in the peak, not payload memory.
    pub code_growth_kib: u64,
    /// The fastest of the invocations of every process, event queued → answer.
    pub best: Duration,
    /// The answer's status: 200, or 413 when the masked records exceed Lambda's response limit.
    pub status: u64,
}

/// For each size, `processes` fresh data-masking processes each serve a direct event of 1 kB of
/// customer records (their baseline), then one of that size `repeats` times (`MAX_BODY_BYTES`
/// at Lambda's 6 MB payload limit); each one's peak RSS is read after the first request and
/// once it idles again. The medians over the processes are kept: a process's resident code
/// pages vary by up to 0.1 MiB from one start to the next here, a third of a 0.1 MB payload's
/// bound.
pub fn payload_memory(
    binary: &Path,
    env: Vec<(String, String)>,
    sizes: &[usize],
    repeats: usize,
    processes: usize,
    dir: &Path,
) -> Result<Vec<PayloadSample>> {
    let mut samples = Vec::with_capacity(sizes.len());
    for &size in sizes {
        let (event, records) = crate::payloads::customer_records_event(size);
        let mut subject = Subject::rust("data-masking", binary, env.clone(), &event)?;
        subject
            .env
            .push(("MAX_BODY_BYTES".to_owned(), "6000000".to_owned()));
        let mut runs = Vec::with_capacity(processes.max(1));
        for process in 0..processes.max(1) {
            let log = dir.join(format!("data-masking-payload-{size}-{process}.log"));
            runs.push(payload_process(&subject, repeats, &log)?);
        }
        let median = |value: fn(&PayloadRun) -> u64| {
            let values: Vec<u64> = runs.iter().map(value).collect();
            quantile(&values, 0.5).unwrap_or(0)
        };
        samples.push(PayloadSample {
            payload_bytes: event.len() - r#"{"records":}"#.len(),
            records,
            baseline_rss_kib: median(|run| run.baseline_rss_kib),
            peak_rss_kib: median(|run| run.peak_rss_kib),
            code_growth_kib: median(|run| run.code_growth_kib),
            best: runs
                .iter()
                .map(|run| run.best)
                .min()
                .unwrap_or(Duration::MAX),
            status: runs.last().map_or(0, |run| run.status),
        });
    }
    Ok(samples)
}

struct PayloadRun {
    baseline_rss_kib: u64,
    peak_rss_kib: u64,
    code_growth_kib: u64,
    best: Duration,
    status: u64,
}

fn payload_process(subject: &Subject, repeats: usize, log: &Path) -> Result<PayloadRun> {
    let mut api = RuntimeApi::start(&subject.function)?;
    let mut function = subject.spawn(&api, log)?;
    let (small, _) = crate::payloads::customer_records_event(1_000);
    let id = api.invoke(&small);
    let outcome = api.wait_outcome(&id, INVOKE_TIMEOUT, || function.alive())?;
    if answered_status(&outcome) != Some(200) {
        bail!(
            "data-masking did not mask 1 kB of records: {}",
            outcome.body
        );
    }
    api.wait_nexts(2, INVOKE_TIMEOUT, || function.alive())?;
    let (baseline_rss_kib, _) = function.memory_kib()?;
    let baseline_file_kib = function.file_rss_kib()?;
    let mut best = Duration::MAX;
    let mut status = 0;
    for _ in 0..repeats.max(1) {
        let queued = Instant::now();
        let id = api.invoke(&subject.event);
        let outcome = api.wait_outcome(&id, INVOKE_TIMEOUT, || function.alive())?;
        status = answered_status(&outcome).unwrap_or(0);
        if status != 413 {
            check_answer(subject, &outcome)?;
        }
        best = best.min(outcome.at.saturating_duration_since(queued));
    }
    api.wait_nexts(repeats.max(1) + 2, INVOKE_TIMEOUT, || function.alive())?;
    let (peak_rss_kib, _) = function.memory_kib()?;
    let code_growth_kib = function.file_rss_kib()?.saturating_sub(baseline_file_kib);
    Ok(PayloadRun {
        baseline_rss_kib,
        peak_rss_kib,
        code_growth_kib,
        best,
        status,
    })
}

/// `spawns` cold starts, then (when `warm` > 0) a warm run; logs go to `dir`.
pub fn measure(
    subject: &Subject,
    stack: &SeededMoto,
    spawns: usize,
    warm: usize,
    dir: &Path,
) -> Result<Measured> {
    let tag = match subject.runtime {
        Runtime::Rust => "rust",
        Runtime::Python => "python",
    };
    let mut cold = Vec::with_capacity(spawns);
    for i in 0..spawns {
        let log = dir.join(format!("{}-{tag}-cold-{i:03}.log", subject.function));
        cold.push(cold_start(subject, &log)?);
    }
    let warm = if warm > 0 {
        let log = dir.join(format!("{}-{tag}-warm.log", subject.function));
        Some(warm_run(subject, stack, warm, &log)?)
    } else {
        None
    };
    Ok(Measured {
        function: subject.function.clone(),
        runtime: subject.runtime,
        cold,
        warm,
    })
}

/// Builds `function`'s debug binary exactly as the end-to-end tests do (`cargo build --bin
/// <function>`, see [`crate::LambdaEmulator::start`]), so the smoke run reuses their build, and
/// returns its path.
pub fn build_debug(function: &str) -> Result<PathBuf> {
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--quiet", "--bin", function])
        .current_dir(repo_root())
        .status()
        .with_context(|| format!("building {function}"))?;
    if !status.success() {
        bail!("building {function} failed ({status})");
    }
    Ok(repo_root().join("target/debug").join(function))
}

/// The `q`-quantile (0..=1) by nearest rank; `None` for no samples.
pub fn quantile<T: Copy + Ord>(samples: &[T], q: f64) -> Option<T> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    // Nearest rank: the smallest value with at least q of the samples at or below it.
    let rank = (q.clamp(0.0, 1.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.saturating_sub(1)).copied()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn nearest_rank_quantiles() {
        let samples: Vec<u32> = (1..=20).rev().collect();
        assert_eq!(quantile(&samples, 0.5), Some(10));
        assert_eq!(quantile(&samples, 0.9), Some(18));
        assert_eq!(quantile(&samples, 0.99), Some(20));
        assert_eq!(quantile(&samples, 0.0), Some(1));
        assert_eq!(quantile(&[7u32], 0.9), Some(7));
        assert_eq!(quantile::<u32>(&[], 0.5), None);
    }
}
