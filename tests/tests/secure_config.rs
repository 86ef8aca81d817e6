//! secure-config end to end: the real binary behind `cargo lambda watch`, moto as AWS, seeded by
//! `suitectl`, invoked with the files in `events/`. Every log line of the run is checked for
//! seeded secret values.

use std::path::Path;

use anyhow::Result;
use serde_json::{json, Value};
use suite_tests::{
    assert_no_seeded_secret, body_of, event_files, function_env, LambdaEmulator, SeededMoto,
};

const FUNCTION: &str = "secure-config";

fn expect_status(response: &Value, status: u64) -> Result<Value> {
    assert_eq!(response["statusCode"], status, "response: {response}");
    assert_eq!(response["headers"]["Content-Type"], "application/json");
    body_of(response)
}

fn check_event_file(file: &Path, response: &Value) -> Result<()> {
    let body = expect_status(response, 200)?;
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    match name {
        "secure-config-get-db-credentials.json" => {
            assert_eq!(
                body["host"],
                "mydb.cluster-abc123.us-east-1.rds.amazonaws.com"
            );
            assert_eq!(body["port"], 3306);
            assert_eq!(body["dbname"], "orders");
            assert_eq!(body["username"], "admin");
            assert_eq!(body["password"], secure_lambda::REDACTED);
        }
        "secure-config-get-app-config.json" => {
            assert_eq!(body["apiUrl"], "https://api.example.com/v2");
            assert_eq!(
                body["apiKey"],
                format!("sk-abc12...{}", secure_lambda::REDACTED)
            );
            assert_eq!(body["maxItems"], 50);
        }
        "secure-config-get-feature-flags.json" => {
            assert_eq!(
                body["flags"],
                json!({"new-checkout": true, "dark-mode": false})
            );
        }
        "secure-config-list-actions.json" => {
            assert_eq!(
                body["availableActions"],
                json!(["get_db_credentials", "get_app_config", "get_feature_flags"])
            );
        }
        other => panic!("no expectation for event file {other}: add one here"),
    }
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
    Ok(())
}

#[test]
fn secure_config_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("secure-config")?;
    let lambda = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch",
        &[FUNCTION],
        &stack.function_env()?,
    )?;

    // 1. Every documented event, exactly as a developer invokes it; the first invocation of each
    //    action is cold (one AWS call), the repeat is warm (none).
    let files = event_files("secure-config-")?;
    assert_eq!(
        files.len(),
        4,
        "one file per documented invocation: {files:?}"
    );
    let mut cold_calls = Vec::new();
    let mut warm_calls = Vec::new();
    for file in &files {
        stack.moto.start_recording()?;
        let response = lambda.invoke_file(FUNCTION, file)?;
        cold_calls.extend(stack.moto.stop_recording()?);
        check_event_file(file, &response)?;
        assert_no_seeded_secret("a response", &response.to_string());

        stack.moto.start_recording()?;
        let again = lambda.invoke_file(FUNCTION, file)?;
        warm_calls.extend(stack.moto.stop_recording()?);
        assert_eq!(again, response, "a warm answer equals the cold one");
    }
    cold_calls.sort();
    assert_eq!(
        cold_calls,
        vec![
            "AmazonSSM.GetParameters",
            "AmazonSSM.GetParametersByPath",
            "secretsmanager.GetSecretValue",
        ],
        "cold: one call per action that reads AWS"
    );
    assert!(
        warm_calls.is_empty(),
        "warm invocations called AWS: {warm_calls:?}"
    );

    // 2. Bad input: structured 400s, the function keeps serving.
    let unknown = lambda.invoke(FUNCTION, &json!({"action": "drop_tables"}))?;
    let body = expect_status(&unknown, 400)?;
    assert_eq!(body["error"]["code"], "UnknownAction");
    assert_eq!(body["error"]["field"], "action");
    assert_eq!(body["availableActions"].as_array().map(Vec::len), Some(3));
    for event in [
        json!("get_db_credentials"),
        json!([1, 2]),
        json!(42),
        json!({"action": {"x": 1}}),
    ] {
        let response = lambda.invoke(FUNCTION, &event)?;
        let body = expect_status(&response, 400)?;
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.len() > 10),
            "{body}"
        );
    }

    // 3. Missing and malformed dependencies, through a second environment configured to use them.
    let malformed_value = format!("password={}", suitectl::values::lab_defaults::DB_PASSWORD);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let config = stack.sdk_config().await;
            aws_sdk_secretsmanager::Client::new(&config)
                .create_secret()
                .name("e2e/malformed")
                .secret_string(&malformed_value)
                .send()
                .await
        })?;
    let mut env = function_env(&stack.moto);
    env.push(("DB_SECRET_ID".into(), "e2e/malformed".into()));
    env.push((
        "API_URL_PARAMETER".into(),
        "/app/config/does-not-exist".into(),
    ));
    let broken = LambdaEmulator::start(&stack.dir, "lambda-watch-broken", &[FUNCTION], &env)?;
    let response = broken.invoke(FUNCTION, &json!({"action": "get_db_credentials"}))?;
    let body = expect_status(&response, 502)?;
    assert_eq!(body["error"]["code"], "MalformedSecret");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("e2e/malformed")));
    let response = broken.invoke(FUNCTION, &json!({"action": "get_app_config"}))?;
    let body = expect_status(&response, 502)?;
    assert_eq!(body["error"]["code"], "ParameterNotFound");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("/app/config/does-not-exist")));
    assert_no_seeded_secret("an error response", &response.to_string());

    // 4. Logs: the audit lines and metrics are there, no secret value is.
    let logs = format!("{}\n{}", lambda.log(), broken.log());
    assert!(
        logs.contains(r#""target":"audit""#),
        "audit lines missing:\n{logs}"
    );
    assert!(
        logs.contains("\"SecretCacheAwsCalls\""),
        "EMF metrics missing"
    );
    assert_no_seeded_secret("the function logs", &logs);
    assert_no_seeded_secret("the seed progress", &stack.seed_log.join("\n"));
    Ok(())
}
