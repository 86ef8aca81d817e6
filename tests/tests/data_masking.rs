//! data-masking end to end: the real binary behind `cargo lambda watch`, its token key in moto's
//! Secrets Manager (seeded by `suitectl`), invoked with the files in `events/` and with bad input.
//! Logs are checked for every PII value sent and for the key.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use suite_tests::{assert_no_seeded_secret, body_of, event_files, LambdaEmulator, SeededMoto};

const FUNCTION: &str = "data-masking";

/// Every PII or secret value in the event files: none may appear in a response or a log.
const SENT_PII: [&str; 14] = [
    "jane.doe@example.com",
    "john.smith@example.com",
    "+1-555-123-4567",
    "123-45-6789",
    "987-65-4321",
    "maria.garcia@example.com",
    "(415) 555-0199",
    "5555 5555 5555 4444",
    "+1 212 555 0147",
    "Tr0ub4dor&3",
    "al@example.org",
    "078-05-1121",
    "378282246310005",
    "C-1001",
];

fn expect_status(response: &Value, status: u64) -> Result<Value> {
    assert_eq!(response["statusCode"], status, "response: {response}");
    let content_type = response["headers"]["Content-Type"]
        .as_str()
        .or(response["headers"]["content-type"].as_str());
    assert_eq!(content_type, Some("application/json"), "{response}");
    body_of(response)
}

fn check_event_file(name: &str, body: &Value) {
    match name {
        "data-masking-sample-users.json" => assert_eq!(
            body["users"],
            json!([
                {"id": "USR-001", "name": "Jane Doe", "email": "j***e@example.com",
                 "phone": "***-***-**67", "ssn": "***-**-6789", "memberSince": "2023-01-15"},
                {"id": "USR-002", "name": "John Smith", "email": "j***h@example.com",
                 "phone": "***-***-**43", "ssn": "***-**-4321", "memberSince": "2023-06-20"}
            ])
        ),
        "data-masking-records.json" => {
            let records = &body["records"];
            let first = &records[0];
            assert!(first["customerId"]
                .as_str()
                .is_some_and(|t| t.starts_with("tok_") && t.len() == 36));
            assert_ne!(first["customerId"], records[1]["customerId"]);
            assert_eq!(first["email"], "m***a@example.com");
            assert_eq!(first["phone"], "***-***-**99");
            assert_eq!(first["card"], "****-****-****-4444");
            assert_eq!(first["orderId"], "4000123412341235", "fails Luhn: kept");
            assert_eq!(first["notes"], "call back on ***-***-**47 about the refund");
            assert_eq!(
                first["login"],
                json!({"username": "mgarcia", "password": "[REDACTED:SECRET]"})
            );
            assert_eq!(records[1]["email"], "a***@example.org");
            assert_eq!(records[1]["ssn"], "***-**-1121");
            assert_eq!(records[1]["card"], "****-****-****-0005");
            assert_eq!(records[1]["orderId"], "1234567890123456");
            assert_eq!(body["summary"]["maskedByRule"], 4);
        }
        "data-masking-http-post-mask.json" => assert_eq!(
            body["records"],
            json!([{"name": "Jane Doe", "email": "j***e@example.com",
                    "ssn": "***-**-6789", "memberSince": "2023-01-15"}])
        ),
        other => panic!("no expectation for event file {other}: add one here"),
    }
}

#[test]
fn data_masking_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("data-masking")?;
    let lambda = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch",
        &[FUNCTION],
        &stack.function_env()?,
    )?;

    // 1. Every documented event. Only the first use of the `token` strategy reads AWS (the key).
    // The encrypt events have their own test (reversible_masking.rs).
    let files: Vec<_> = event_files("data-masking-")?
        .into_iter()
        .filter(|file| !file.to_string_lossy().contains("-encrypt-"))
        .collect();
    assert_eq!(files.len(), 3, "one file per invocation form: {files:?}");
    let mut calls = Vec::new();
    let mut responses = Vec::new();
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        stack.moto.start_recording()?;
        let response = lambda.invoke_file(FUNCTION, file)?;
        calls.extend(stack.moto.stop_recording()?);
        let body = expect_status(&response, 200)?;
        check_event_file(name, &body);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        responses.push(response);
    }
    assert_eq!(calls, vec!["secretsmanager.GetSecretValue"]);
    let records = event_files("data-masking-records")?;
    let path = records.first().context("records event")?;
    stack.moto.start_recording()?;
    let again = lambda.invoke_file(FUNCTION, path)?;
    assert!(stack.moto.stop_recording()?.is_empty(), "warm: key cached");
    assert!(responses.contains(&again), "tokens are deterministic");

    // 2. Bad input: 400s that say what is wrong.
    let http = |body: &str| {
        json!({"version": "2.0", "rawPath": "/mask",
               "requestContext": {"http": {"method": "POST", "path": "/mask"}},
               "body": body, "isBase64Encoded": false})
    };
    let mut deep = json!("x");
    for _ in 0..40 {
        deep = json!([deep]);
    }
    let cases = [
        (json!({"records": "jane.doe@example.com"}), "InvalidField"),
        (
            json!({"records": [], "rules": {"$.a": "blur"}}),
            "InvalidRule",
        ),
        (json!({"records": [], "extra": 1}), "UnknownField"),
        (json!({"records": [deep]}), "TooDeep"),
        (http("{\"records\": [1,"), "InvalidBody"),
        (
            http(&format!(
                "{{\"records\": [\"{}\"]}}",
                "a".repeat(2 * 1024 * 1024)
            )),
            "PayloadTooLarge",
        ),
    ];
    for (event, code) in cases {
        let response = lambda.invoke(FUNCTION, &event)?;
        let status = if code == "PayloadTooLarge" { 413 } else { 400 };
        let body = expect_status(&response, status)?;
        assert_eq!(body["error"]["code"], code, "{body}");
        responses.push(response);
    }

    // 3. Nothing sensitive in responses or logs: the PII sent, the seeded secrets, the key.
    let key = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let config = stack.sdk_config().await;
            aws_sdk_secretsmanager::Client::new(&config)
                .get_secret_value()
                .secret_id(&stack.outputs.masking_key_secret_id)
                .send()
                .await
        })?
        .secret_string()
        .map(str::to_owned)
        .context("the masking key has a value")?;
    let logs = lambda.log();
    assert!(logs.contains("\"masked records\""), "{logs}");
    assert!(
        logs.contains("\"RedactedEmail\""),
        "EMF redaction metrics missing"
    );
    for (what, text) in [
        (
            "the responses",
            responses
                .iter()
                .map(Value::to_string)
                .collect::<Vec<_>>()
                .join("\n"),
        ),
        ("the logs", logs),
    ] {
        for value in SENT_PII {
            assert!(!text.contains(value), "`{value}` appears in {what}");
        }
        assert!(!text.contains(&key), "the masking key appears in {what}");
        assert_no_seeded_secret(what, &text);
    }
    Ok(())
}
