//! loadtest end to end: `USER_NAME` encrypted with KMS for the function (moto enforces the
//! encryption context), `student` signed in to moto's Cognito with the password from Secrets
//! Manager, calls to multi-tenant-query's function URL, and fan-out through the emulator's Lambda
//! invoke API.
//!
//! The target (multi-tenant-query) and loadtest run on two emulators: loadtest's emulator log
//! then holds loadtest's lines only (the target logs the user it serves, as it should), and calls
//! to the target are counted where they arrive. Both emulators log every invoke request they
//! receive, so invocations are counted from what the emulator saw, not from what loadtest says.
//! Logs must hold no password, no worker key, and (unless `LOG_USER_NAMES=true`) no user name.

use anyhow::{Context, Result};
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::{json, Value};
use suite_tests::{
    assert_no_seeded_secret, body_of, event_files, free_port, EmulatorOptions, LambdaEmulator,
    SeededMoto,
};

const FUNCTION: &str = "loadtest";
const TARGET: &str = "multi-tenant-query";
const USER: &str = "student";
const MASKED_USER: &str = "s*****t";

/// The tests here time runs and count invocations: run them one at a time, not side by side on
/// the same two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn result_of(response: &Value) -> Result<Value> {
    assert_eq!(response["statusCode"], 200, "{response}");
    body_of(response)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// moto, the target on one emulator and loadtest on another.
struct SplitStack {
    stack: SeededMoto,
    target: LambdaEmulator,
    loadtest: LambdaEmulator,
}

impl SplitStack {
    fn start(name: &str, loadtest_instances: u32, extra_env: &[(&str, &str)]) -> Result<Self> {
        Self::start_as(name, USER, loadtest_instances, extra_env)
    }

    /// [`SplitStack::start`] with loadtest calling as `users` (comma separated).
    fn start_as(
        name: &str,
        users: &str,
        loadtest_instances: u32,
        extra_env: &[(&str, &str)],
    ) -> Result<Self> {
        let stack = SeededMoto::start(name)?;
        let target = LambdaEmulator::start_with(
            &stack.dir,
            "target-watch",
            &[TARGET],
            &stack.function_env()?,
            EmulatorOptions {
                concurrency: 4,
                log_invocations: true,
                ..EmulatorOptions::default()
            },
        )?;
        let port = free_port()?;
        let mut env = stack.function_env()?;
        env.extend(stack.loadtest_env_split(target.port, port, users)?);
        env.extend(
            extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let loadtest = LambdaEmulator::start_with(
            &stack.dir,
            "loadtest-watch",
            &[FUNCTION],
            &env,
            EmulatorOptions {
                port: Some(port),
                concurrency: loadtest_instances,
                log_invocations: true,
            },
        )?;
        Ok(Self {
            stack,
            target,
            loadtest,
        })
    }

    fn calls_to_target(&self) -> usize {
        self.target.function_url_requests_received(TARGET)
    }

    /// The worker key `suitectl seed` generated.
    fn worker_key(&self) -> Result<String> {
        runtime()?
            .block_on(async {
                let config = self.stack.sdk_config().await;
                aws_sdk_secretsmanager::Client::new(&config)
                    .get_secret_value()
                    .secret_id(&self.stack.outputs.worker_key_secret_id)
                    .send()
                    .await
            })?
            .secret_string()
            .map(str::to_owned)
            .context("the worker key has a value")
    }
}

/// Panics if the plain user name is anywhere in `text`.
fn assert_no_user_name(what: &str, text: &str) {
    assert!(
        !text.contains(USER),
        "the plain user name appears in {what}:\n{text}"
    );
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A worker event signed as the README describes the format (written here independently of
/// loadtest's code): `{"_worker": {"claims": <JSON text>, "sig": base64url(HMAC-SHA256(key,
/// "loadtest-worker-v1." + claims))}}`.
fn signed_worker_event(key: &[u8], start_at_ms: u64, run_id: &str) -> Result<Value> {
    let claims = json!({
        "function": FUNCTION,
        "runId": run_id,
        "index": 0,
        "of": 1,
        "startAtMs": start_at_ms,
        "maxCalls": 100,
        "maxRate": 50.0,
        "run": {"NumberOfCallsPerUser": 2, "Concurrency": 1, "Method": "GET"},
    })
    .to_string();
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key)?;
    mac.update(b"loadtest-worker-v1.");
    mac.update(claims.as_bytes());
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    Ok(json!({"_worker": {"claims": claims, "sig": sig}}))
}

#[test]
fn loadtest_end_to_end() -> Result<()> {
    let _serial = serial();
    let split = SplitStack::start("loadtest", 6, &[])?;
    let lambda = &split.loadtest;

    let files = event_files("loadtest-")?;
    assert_eq!(files.len(), 3, "{files:?}");
    let mut responses = String::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let response = lambda.invoke_file(FUNCTION, file)?;
        responses.push_str(&response.to_string());
        let body = result_of(&response)?;
        let result = &body["result"];
        for percentile in ["p50", "p90", "p99", "p99_9", "max", "mean"] {
            assert!(
                result["latencyMs"][percentile]
                    .as_f64()
                    .is_some_and(|v| v > 0.0),
                "{name}: {percentile} in {result}"
            );
        }
        assert!(
            result["histogram"].as_str().is_some_and(|h| h.len() > 20),
            "{name}"
        );
        match name.as_str() {
            "loadtest-lab.json" => {
                assert_eq!(result["calls"], 3, "{body}");
                assert_eq!(result["statusCounts"], json!({"200": 3}));
                assert_eq!(body["users"], json!([MASKED_USER]));
                assert_eq!(body["signIn"]["attempts"], 1);
            }
            "loadtest-open-model.json" => {
                assert_eq!(result["calls"], 40, "{body}");
                assert_eq!(result["intendedRps"], 20.0);
                assert_eq!(result["statusCounts"]["200"], 40);
                let achieved = result["achievedRps"].as_f64().unwrap_or(0.0);
                assert!(
                    (15.0..=25.0).contains(&achieved),
                    "achieved {achieved} rps for 20 intended"
                );
            }
            "loadtest-fan-out.json" => {
                assert_eq!(result["calls"], 8, "{body}");
                assert_eq!(result["statusCounts"]["200"], 8);
                let workers = body["workers"].as_array().map(Vec::len);
                assert_eq!(workers, Some(4), "{body}");
                assert!(
                    body["workers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .all(|w| w["ok"] == true),
                    "{body}"
                );
            }
            other => panic!("no expectation for {other}"),
        }
    }

    // Bad events: 400s naming the field.
    for (event, field) in [
        (
            json!({"NumberOfCallsPerUser": "lots"}),
            "NumberOfCallsPerUser",
        ),
        (json!({"RequestsPerSecond": 10}), "DurationSeconds"),
        (json!({"Workers": 99}), "Workers"),
    ] {
        let response = lambda.invoke(FUNCTION, &event)?;
        assert_eq!(response["statusCode"], 400, "{response}");
        assert_eq!(body_of(&response)?["error"]["field"], field);
    }

    // The lab's log lines, with the name masked; no password, no key; the decrypted value only
    // as `***`; the plain name nowhere in loadtest's logs or answers.
    let logs = lambda.log();
    let lab_lines = logs
        .matches("# of orders available for 's*****t': 5")
        .count();
    assert!(
        lab_lines >= 3,
        "expected the lab's per-call line three times:\n{logs}"
    );
    assert!(
        logs.lines().any(|l| l.contains(r#""target":"audit""#)
            && l.contains(r#""resource":"kms-env""#)
            && l.contains(r#""source":"aws""#)),
        "the decryption has its audit line (without the value)"
    );
    assert_no_seeded_secret("the function logs", &logs);
    assert_no_user_name("loadtest's logs", &logs);
    assert_no_user_name("loadtest's responses", &responses);
    let key = split.worker_key()?;
    assert!(!logs.contains(&key) && !responses.contains(&key));

    // A ciphertext made for another function name fails with a message naming the context.
    let mut wrong = split.stack.function_env()?;
    let mut other = split.stack.loadtest_env(free_port()?, USER)?;
    let foreign = runtime()?.block_on(async {
        let config = split.stack.sdk_config().await;
        suitectl::encrypt_env::encrypt_for_function(
            &aws_sdk_kms::Client::new(&config),
            &split.stack.outputs.kms_alias,
            "some-other-function",
            &secrecy::SecretString::from(USER.to_owned()),
        )
        .await
    })?;
    for (key, value) in other.iter_mut() {
        if key == "USER_NAME" {
            *value = foreign.clone();
        }
    }
    wrong.extend(other);
    let broken = LambdaEmulator::start(
        &split.stack.dir,
        "lambda-watch-wrong-context",
        &[FUNCTION],
        &wrong,
    )?;
    let response = broken.invoke(FUNCTION, &json!({"NumberOfCallsPerUser": 1}))?;
    // KMS refusing the context is a dependency's answer (502), as in every function.
    assert_eq!(response["statusCode"], 502, "{response}");
    assert_eq!(
        body_of(&response)?["error"]["code"],
        "EncryptedConfigRejected"
    );
    let message = body_of(&response)?["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(r#"{"LambdaFunctionName": "loadtest"}"#),
        "{message}"
    );
    assert!(!message.contains(USER), "{message}");

    // The template's placeholder, before `suitectl encrypt-env` has run: the function refuses to
    // start, naming the variable and the command that sets it.
    let mut unset = split.stack.function_env()?;
    unset.extend(
        split
            .stack
            .loadtest_env(free_port()?, USER)?
            .into_iter()
            .map(|(key, value)| match key.as_str() {
                "USER_NAME" => (key, "set-me-with-suitectl-encrypt-env".to_owned()),
                _ => (key, value),
            }),
    );
    let unset = LambdaEmulator::start(&split.stack.dir, "lambda-watch-unset", &[FUNCTION], &unset)?;
    // The reason reaches the invoker at once, through the Runtime API's init-error endpoint.
    let (_, answer) = unset.invoke_answer(
        FUNCTION,
        &json!({"NumberOfCallsPerUser": 1}),
        std::time::Duration::from_secs(120),
    )?;
    assert!(
        answer.contains("suitectl encrypt-env --stack-name"),
        "{answer}"
    );
    assert!(answer.contains("USER_NAME"), "{answer}");
    assert!(answer.contains("Runtime.ConfigError"), "{answer}");
    Ok(())
}

/// Issue 10, hole 1: a worker that runs longer than the suite's 3 s attempt timeout must be
/// invoked exactly once. Counted at the emulator (the invoke requests it received), not from the
/// coordinator's report.
#[test]
fn fan_out_invokes_each_worker_exactly_once() -> Result<()> {
    let _serial = serial();
    let split = SplitStack::start("loadtest-fan-out", 6, &[])?;
    // 4 calls/s for 6 s over 4 workers: each worker sends 6 calls, the last about 5.75 s after
    // the shared start, which is itself 2 s after the fan-out: every worker runs about 8 s.
    let event = json!({
        "RequestsPerSecond": 4, "DurationSeconds": 6, "Workers": 4, "Concurrency": 4
    });
    let before = split.loadtest.invocations_received(FUNCTION);
    let response = split.loadtest.invoke(FUNCTION, &event)?;
    // Anything retried behind the coordinator's back would arrive within its own timeouts; give
    // the emulator a moment more before counting.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let invocations = split.loadtest.invocations_received(FUNCTION) - before;
    println!(
        "loadtest invocations received by the emulator: {invocations} (1 coordinator + workers)"
    );
    println!("coordinator's answer: {response}");
    assert_eq!(
        invocations - 1,
        4,
        "worker invocations counted at the emulator: {} for 4 workers; answer: {response}",
        invocations - 1
    );
    let body = result_of(&response)?;
    let workers = body["workers"].as_array().cloned().unwrap_or_default();
    assert_eq!(workers.len(), 4, "{body}");
    for worker in &workers {
        assert_eq!(worker["ok"], true, "{body}");
        assert_eq!(worker["calls"], 6, "{body}");
    }
    assert_eq!(body["result"]["calls"], 24, "{body}");
    assert_eq!(body["result"]["statusCounts"], json!({"200": 24}));
    assert_eq!(split.calls_to_target(), 24);
    Ok(())
}

/// Issue 10, hole 2: only the coordinator can make a worker message. Forged, stale and replayed
/// ones are 403s, and loadtest signs nobody in and calls nothing for them. One loadtest instance,
/// so that the replay reaches the sandbox that served the original (a replay to another sandbox
/// within the time window is the documented limit).
#[test]
fn forged_stale_or_replayed_worker_messages_are_refused_without_calls() -> Result<()> {
    let _serial = serial();
    let split = SplitStack::start("loadtest-forged", 1, &[])?;
    let key = split.worker_key()?;
    let run_id = "0123456789abcdef0123456789abcdef";
    let now = now_ms();
    let mut raised_caps = signed_worker_event(key.as_bytes(), now, run_id)?;
    raised_caps["_worker"]["claims"] = json!(raised_caps["_worker"]["claims"]
        .as_str()
        .unwrap_or_default()
        .replace(r#""maxCalls":100"#, r#""maxCalls":1000000"#));
    let forged = [
        (
            "unsigned (the old format)",
            json!({"_worker": {"index": 0, "of": 1, "startAtMs": now}}),
        ),
        (
            "signed with another key",
            signed_worker_event(b"an attacker's key, long enough to be a key", now, run_id)?,
        ),
        ("claims changed after signing", raised_caps),
        (
            "start an hour ahead",
            signed_worker_event(key.as_bytes(), now + 3_600_000, run_id)?,
        ),
        (
            "start a minute ago",
            signed_worker_event(key.as_bytes(), now - 60_000, run_id)?,
        ),
    ];
    split.stack.moto.start_recording()?;
    for (what, event) in &forged {
        let response = split.loadtest.invoke(FUNCTION, event)?;
        assert_eq!(response["statusCode"], 403, "{what}: {response}");
        let error = &body_of(&response)?["error"];
        assert_eq!(error["code"], "WorkerMessageRejected", "{what}: {error}");
        assert_eq!(error["field"], "_worker", "{what}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let aws_calls = split.stack.moto.stop_recording()?;
    assert_eq!(split.calls_to_target(), 0, "a forged message made calls");
    // Only the key was read: no Cognito sign-in, no password, not even USER_NAME decrypted.
    assert!(
        aws_calls
            .iter()
            .all(|op| op == "secretsmanager.GetSecretValue"),
        "{aws_calls:?}"
    );

    // The genuine message is served once (two calls); sent again, it is a replay.
    let genuine = signed_worker_event(key.as_bytes(), now_ms(), run_id)?;
    let response = split.loadtest.invoke(FUNCTION, &genuine)?;
    let body = result_of(&response)?;
    assert_eq!(body["result"]["calls"], 2, "{body}");
    assert_eq!(body["worker"], json!({"runId": run_id, "index": 0}));
    assert_eq!(split.calls_to_target(), 2);
    let replay = split.loadtest.invoke(FUNCTION, &genuine)?;
    assert_eq!(replay["statusCode"], 403, "{replay}");
    let message = body_of(&replay)?["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("replay"), "{message}");
    assert_eq!(split.calls_to_target(), 2, "the replay made calls");

    let logs = split.loadtest.log();
    assert!(!logs.contains(&key), "the worker key is in the logs");
    assert_no_user_name("loadtest's logs", &logs);
    Ok(())
}

/// Issue 10, hole 3: `DurationSeconds` alone used to have no call cap; it stops at it now.
#[test]
fn duration_alone_stops_at_the_call_cap() -> Result<()> {
    let _serial = serial();
    let split = SplitStack::start("loadtest-call-cap", 2, &[("MAX_CALLS", "30")])?;
    let response = split
        .loadtest
        .invoke(FUNCTION, &json!({"DurationSeconds": 30, "Concurrency": 2}))?;
    let body = result_of(&response)?;
    assert_eq!(body["result"]["calls"], 30, "{body}");
    assert_eq!(body["caps"]["calls"], 30, "{body}");
    let seconds = body["result"]["durationSeconds"]
        .as_f64()
        .unwrap_or(f64::MAX);
    assert!(
        seconds < 25.0,
        "ran {seconds} s: it should have stopped at the cap"
    );
    assert_eq!(split.calls_to_target(), 30);
    Ok(())
}

/// Issue 10, hole 4, the lab's opt-in: with `LOG_USER_NAMES=true` the name is shown in full.
#[test]
fn user_names_are_plain_only_when_opted_in() -> Result<()> {
    let _serial = serial();
    let split = SplitStack::start("loadtest-names", 1, &[("LOG_USER_NAMES", "true")])?;
    let response = split
        .loadtest
        .invoke(FUNCTION, &json!({"NumberOfCallsPerUser": 1}))?;
    assert_eq!(result_of(&response)?["users"], json!([USER]));
    let logs = split.loadtest.log();
    assert!(
        logs.contains("# of orders available for 'student': 5"),
        "{logs}"
    );
    Ok(())
}

/// Resident memory (kB) of every running process of `binary` (the emulator runs the function's
/// build from this workspace).
fn rss_kb_of(binary: &str) -> Vec<u64> {
    let suffix = format!("/{binary}");
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let dir = entry.path();
            let cmdline = std::fs::read(dir.join("cmdline")).ok()?;
            let program = cmdline.split(|b| *b == 0).next()?;
            if !String::from_utf8_lossy(program).ends_with(&suffix) {
                return None;
            }
            let status = std::fs::read_to_string(dir.join("status")).ok()?;
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .collect()
}

/// Users of two tenants (student and user-001 of tenant-a, user-002 of tenant-b) mixed in one run
/// at 64 calls in flight for 30 s against multi-tenant-query: every answer is a 200 whose
/// `tenantId` loadtest checked against the caller's token, none names the other tenant, and the
/// API function's memory does not grow with the calls.
#[test]
fn two_tenants_under_load_never_see_each_other() -> Result<()> {
    let _serial = serial();
    // 64 calls in flight queue at the emulator's four debug-built instances of the target (p99
    // about 8 s on a loaded two-core machine): the longest request timeout, so that a slow
    // answer is not counted as an error.
    let split = SplitStack::start_as(
        "loadtest-two-tenants",
        "student,user-001,user-002",
        1,
        &[("REQUEST_TIMEOUT_MS", "30000")],
    )?;
    let lambda = &split.loadtest;
    let before = rss_kb_of(TARGET);
    let run = std::thread::scope(|scope| {
        let run = scope
            .spawn(|| lambda.invoke(FUNCTION, &json!({"DurationSeconds": 30, "Concurrency": 64})));
        // The target's memory a third of the way in (warm, under load) and near the end.
        std::thread::sleep(std::time::Duration::from_secs(12));
        let early = rss_kb_of(TARGET);
        std::thread::sleep(std::time::Duration::from_secs(15));
        let late = rss_kb_of(TARGET);
        run.join()
            .map_err(|_| anyhow::anyhow!("the invoking thread panicked"))
            .map(|r| (r, early, late))
    })?;
    let (response, early, late) = run;
    let response = response?;
    let body = result_of(&response)?;
    let result = &body["result"];
    let calls = result["calls"].as_u64().unwrap_or(0);
    assert!(calls > 300, "too few calls to mean anything: {body}");
    assert_eq!(result["statusCounts"], json!({"200": calls}), "{body}");
    assert_eq!(result["noResponse"], 0, "{body}");
    assert_eq!(
        result["tenantIsolation"],
        json!({"checked": calls, "otherTenant": 0, "unread": 0}),
        "every answer checked, none of the other tenant: {body}"
    );
    // Calls went round-robin over the three users: both tenants were served throughout.
    let served = split.target.log();
    assert!(served.contains("tenant-a") && served.contains("tenant-b"));

    let total = |sample: &[u64]| sample.iter().sum::<u64>();
    assert!(
        !early.is_empty() && !late.is_empty(),
        "no {TARGET} process found (before {before:?})"
    );
    // Stable: no more than 25% (and 4 MB) growth between a third and nine tenths of the run.
    assert!(
        total(&late) <= total(&early) + (total(&early) / 4).max(4096),
        "{TARGET}'s memory grew under load: {early:?} kB at 12 s, {late:?} kB at 27 s"
    );
    eprintln!(
        "two tenants: {calls} calls in {} s ({} rps), p50 {} ms, p99 {} ms; {TARGET} RSS {early:?} kB at 12 s, {late:?} kB at 27 s",
        result["durationSeconds"], result["achievedRps"], result["latencyMs"]["p50"], result["latencyMs"]["p99"]
    );
    assert_no_seeded_secret("the function logs", &lambda.log());
    Ok(())
}
