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

fn result_of(response: &Value) -> Result<Value> {
    assert_eq!(response["statusCode"], 200, "{response}");
    body_of(response)
}

#[test]
fn loadtest_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("loadtest")?;
    let port = free_port()?;
    let mut env = stack.function_env()?;
    env.extend(stack.loadtest_env(port, "student")?);
    let lambda = LambdaEmulator::start_with(
        &stack.dir,
        "lambda-watch",
        &["multi-tenant-query", FUNCTION],
        &env,
        EmulatorOptions {
            port: Some(port),
            concurrency: 6,
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
    let mut wrong = stack.function_env()?;
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

    // The template's placeholder, before `suitectl encrypt-env` has run: the function refuses to
    // start, naming the variable and the command that sets it.
    let mut unset = stack.function_env()?;
    unset.extend(
        stack
            .loadtest_env(port, "student")?
            .into_iter()
            .map(|(key, value)| match key.as_str() {
                "USER_NAME" => (key, "set-me-with-suitectl-encrypt-env".to_owned()),
                _ => (key, value),
            }),
    );
    let unset = LambdaEmulator::start(&stack.dir, "lambda-watch-unset", &[FUNCTION], &unset)?;
    let logs = unset.invoke_until_logged(
        FUNCTION,
        &serde_json::json!({"NumberOfCallsPerUser": 1}),
        "suitectl encrypt-env --stack-name",
        std::time::Duration::from_secs(120),
    )?;
    assert!(logs.contains(r#"variable: "USER_NAME""#), "{logs}");
    Ok(())
}
