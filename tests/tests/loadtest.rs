//! loadtest end to end: `USER_NAME` encrypted with KMS for the function (moto enforces the
//! encryption context), `student` signed in to moto's Cognito with the password from Secrets
//! Manager, calls to multi-tenant-query's function URL on the same emulator, and a 4-worker
//! fan-out through the emulator's Lambda invoke API. Logs must hold no password.

use anyhow::Result;
use serde_json::Value;
use suite_tests::{
    assert_no_seeded_secret, body_of, event_files, free_port, EmulatorOptions, LambdaEmulator,
    SeededMoto,
};

const FUNCTION: &str = "loadtest";
const TARGET: &str = "multi-tenant-query";

/// The tests here time runs and count invocations: run them one at a time, not side by side on
/// the same two cores.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// moto, the target (multi-tenant-query) on one emulator and loadtest on another, both logging
/// every invoke request they receive: loadtest's emulator log holds loadtest's lines only, and
/// calls to the target are counted where they arrive.
struct SplitStack {
    stack: SeededMoto,
    target: LambdaEmulator,
    loadtest: LambdaEmulator,
}

impl SplitStack {
    fn start(name: &str, loadtest_instances: u32, extra_env: &[(&str, &str)]) -> Result<Self> {
        let stack = SeededMoto::start(name)?;
        let target = LambdaEmulator::start_with(
            &stack.dir,
            "target-watch",
            &[TARGET],
            &stack.function_env(),
            EmulatorOptions {
                concurrency: 4,
                log_invocations: true,
                ..EmulatorOptions::default()
            },
        )?;
        let port = free_port()?;
        let mut env = stack.function_env();
        env.extend(stack.loadtest_env_split(target.port, port, "student")?);
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
}

fn result_of(response: &Value) -> Result<Value> {
    assert_eq!(response["statusCode"], 200, "{response}");
    body_of(response)
}

#[test]
fn loadtest_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("loadtest")?;
    let port = free_port()?;
    let mut env = stack.function_env();
    env.extend(stack.loadtest_env(port, "student")?);
    let lambda = LambdaEmulator::start_with(
        &stack.dir,
        "lambda-watch",
        &["multi-tenant-query", FUNCTION],
        &env,
        EmulatorOptions {
            port: Some(port),
            concurrency: 6,
            ..EmulatorOptions::default()
        },
    )?;

    let files = event_files("loadtest-")?;
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let body = result_of(&lambda.invoke_file(FUNCTION, file)?)?;
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
                assert_eq!(result["statusCounts"], serde_json::json!({"200": 3}));
                assert_eq!(body["users"], serde_json::json!(["student"]));
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
            serde_json::json!({"NumberOfCallsPerUser": "lots"}),
            "NumberOfCallsPerUser",
        ),
        (
            serde_json::json!({"RequestsPerSecond": 10}),
            "DurationSeconds",
        ),
        (serde_json::json!({"Workers": 99}), "Workers"),
    ] {
        let response = lambda.invoke(FUNCTION, &event)?;
        assert_eq!(response["statusCode"], 400, "{response}");
        assert_eq!(body_of(&response)?["error"]["field"], field);
    }

    // The lab's log lines, no password, the decrypted value only as `***`.
    let logs = lambda.log();
    let lab_lines = logs
        .matches("# of orders available for 'student': 5")
        .count();
    assert!(
        lab_lines >= 3,
        "expected the lab's per-call line three times:\n{logs}"
    );
    assert!(
        logs.contains(r#""value":"***""#),
        "decryption logged without the value"
    );
    assert_no_seeded_secret("the function logs", &logs);

    // A ciphertext made for another function name fails with a message naming the context.
    let mut wrong = stack.function_env();
    let mut other = stack.loadtest_env(port, "student")?;
    let foreign = {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let config = stack.sdk_config().await;
            suitectl::encrypt_env::encrypt_for_function(
                &aws_sdk_kms::Client::new(&config),
                &stack.outputs.kms_alias,
                "some-other-function",
                &secrecy::SecretString::from("student".to_owned()),
            )
            .await
        })?
    };
    for (key, value) in other.iter_mut() {
        if key == "USER_NAME" {
            *value = foreign.clone();
        }
    }
    wrong.extend(other);
    let broken = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch-wrong-context",
        &[FUNCTION],
        &wrong,
    )?;
    let response = broken.invoke(FUNCTION, &serde_json::json!({"NumberOfCallsPerUser": 1}))?;
    assert_eq!(response["statusCode"], 500, "{response}");
    let message = body_of(&response)?["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains(r#"{"LambdaFunctionName": "loadtest"}"#),
        "{message}"
    );
    assert!(!message.contains("student"), "{message}");
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
    let event = serde_json::json!({
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
    assert_eq!(
        body["result"]["statusCounts"],
        serde_json::json!({"200": 24})
    );
    assert_eq!(split.target.invocations_received(TARGET), 24);
    let _ = &split.stack;
    Ok(())
}
