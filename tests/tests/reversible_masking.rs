//! Reversible masking end to end: data-masking's `encrypt` strategy and the decrypt function
//! (the same binary in decrypt mode, as the template deploys it), each behind its own
//! `cargo lambda watch`, on moto's KMS with the field key `suitectl seed` made. Invoked with the
//! files in `events/`; KMS calls counted with moto's recorder; logs checked for every value
//! sent, every ciphertext and every seeded secret.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use suite_tests::{assert_no_seeded_secret, body_of, event_files, LambdaEmulator, SeededMoto};

const FUNCTION: &str = "data-masking";

/// The values the encrypt events send that must come back only from the decrypt function.
const SENT: [&str; 9] = [
    "ana.silva@example.com",
    "219-09-9999",
    "1 Market St",
    "kenji.sato@example.jp",
    "536-22-8726",
    "2 Broadway",
    "lea.martin@example.fr",
    "078-05-1120",
    "4111 1111 1111 1111",
];

fn event(name: &str) -> Result<(std::path::PathBuf, Value)> {
    let file = event_files(name)?
        .into_iter()
        .next()
        .with_context(|| format!("events/{name}"))?;
    let value = serde_json::from_str(&std::fs::read_to_string(&file)?)?;
    Ok((file, value))
}

fn ok_body(response: &Value) -> Result<Value> {
    assert_eq!(response["statusCode"], 200, "{response}");
    body_of(response)
}

fn error_of(response: &Value, status: u64) -> Result<Value> {
    assert_eq!(response["statusCode"], status, "{response}");
    Ok(body_of(response)?["error"].clone())
}

#[test]
fn encrypt_and_decrypt_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("reversible-masking")?;
    let env = stack.function_env()?;
    let masking = LambdaEmulator::start(&stack.dir, "lambda-watch-mask", &[FUNCTION], &env)?;
    let mut decrypt_env = env.clone();
    decrypt_env.push(("DATA_MASKING_MODE".into(), "decrypt".into()));
    let decrypting = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch-decrypt",
        &[FUNCTION],
        &decrypt_env,
    )?;
    let mut responses = Vec::new();

    // 1. Fields of two records: one GenerateDataKey for all six values, none on a warm repeat.
    let (fields_file, fields_event) = event("data-masking-encrypt-fields")?;
    stack.moto.start_recording()?;
    let response = masking.invoke_file(FUNCTION, &fields_file)?;
    assert_eq!(
        stack.moto.stop_recording()?,
        vec!["TrentService.GenerateDataKey"]
    );
    let sealed = ok_body(&response)?["records"].clone();
    responses.push(response);
    for record in sealed.as_array().context("records")? {
        for field in ["email", "ssn", "address"] {
            let value = record[field].as_str().context("a sealed value")?;
            assert!(value.starts_with("AgV4"), "{field}: {value:.8}");
        }
        assert!(record["phone"].as_str().is_some_and(|p| p.contains('*')));
        assert!(record["name"].is_string() && record["customerId"].is_string());
    }
    stack.moto.start_recording()?;
    responses.push(masking.invoke_file(FUNCTION, &fields_file)?);
    assert!(
        stack.moto.stop_recording()?.is_empty(),
        "warm: data key cached"
    );

    // 2. The decrypt event, filled with what was sealed: one Decrypt for all six values.
    let (_, template) = event("data-decrypt-fields")?;
    let mut request = template.clone();
    request["records"] = sealed.clone();
    stack.moto.start_recording()?;
    let response = decrypting.invoke(FUNCTION, &request)?;
    assert_eq!(stack.moto.stop_recording()?, vec!["TrentService.Decrypt"]);
    let opened = ok_body(&response)?;
    assert_eq!(opened["decrypted"], 6);
    let original = &fields_event["records"];
    for (index, record) in opened["records"]
        .as_array()
        .context("records")?
        .iter()
        .enumerate()
    {
        for field in ["email", "ssn", "address"] {
            assert_eq!(record[field], original[index][field], "{index}.{field}");
        }
    }
    // As shipped (placeholders, not ciphertexts) the file is refused, naming the value.
    let (decrypt_file, _) = event("data-decrypt-fields")?;
    let error = error_of(&decrypting.invoke_file(FUNCTION, &decrypt_file)?, 400)?;
    assert_eq!(error["field"], "records[0].address", "{error}");

    // 3. A whole record, with a context of two entries.
    let (record_file, record_event) = event("data-masking-encrypt-record")?;
    let response = masking.invoke_file(FUNCTION, &record_file)?;
    let whole = ok_body(&response)?["records"].clone();
    responses.push(response);
    assert!(whole[0].as_str().is_some_and(|v| v.starts_with("AgV4")));
    let ask = json!({"records": whole, "fields": ["$"], "context": record_event["context"]});
    let opened = ok_body(&decrypting.invoke(FUNCTION, &ask)?)?;
    assert_eq!(opened["records"], record_event["records"]);

    // 4. Refusals: another tenant, a missing or partial context, a moved value, the masking
    //    function asked to decrypt; none echoes a value.
    let mut refusals = Vec::new();
    for (context, status, code) in [
        (json!({"tenant": "tenant-b"}), 403, "ContextMismatch"),
        (
            json!({"tenant": "tenant-a", "x": "y"}),
            403,
            "ContextMismatch",
        ),
        (json!({}), 400, "MissingField"),
    ] {
        let mut request = template.clone();
        request["records"] = sealed.clone();
        request["context"] = context;
        let response = decrypting.invoke(FUNCTION, &request)?;
        assert_eq!(error_of(&response, status)?["code"], code, "{response}");
        refusals.push(response);
    }
    let ask = json!({"records": whole, "fields": ["$"], "context": {"tenant": "tenant-a"}});
    let response = decrypting.invoke(FUNCTION, &ask)?;
    assert_eq!(error_of(&response, 403)?["code"], "ContextMismatch");
    refusals.push(response);
    let mut request = template.clone();
    request["records"] = sealed.clone();
    let response = masking.invoke(FUNCTION, &request)?;
    assert_eq!(error_of(&response, 400)?["code"], "UnknownField");
    refusals.push(response);

    // 5. Bound to their paths, values cannot change places.
    let mut bound = fields_event.clone();
    bound["bindPaths"] = json!(true);
    let sealed_bound = ok_body(&masking.invoke(FUNCTION, &bound)?)?["records"].clone();
    let mut moved = sealed_bound.clone();
    moved[0]["email"] = sealed_bound[0]["ssn"].clone();
    let mut request = template.clone();
    request["records"] = moved;
    request["bindPaths"] = json!(true);
    let response = decrypting.invoke(FUNCTION, &request)?;
    let error = error_of(&response, 403)?;
    assert_eq!(
        (error["code"].as_str(), error["field"].as_str()),
        (Some("ContextMismatch"), Some("records[0].email"))
    );
    refusals.push(response);

    // 6. Nothing sensitive in the logs of either function: no value sent, no ciphertext.
    let ciphertexts: Vec<String> = [&sealed, &sealed_bound, &whole]
        .iter()
        .flat_map(|records| {
            records
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|record| match record {
                    Value::String(text) => vec![text.clone()],
                    other => ["email", "ssn", "address"]
                        .iter()
                        .filter_map(|f| other[f].as_str().map(str::to_owned))
                        .collect(),
                })
        })
        .collect();
    assert!(ciphertexts.len() >= 13, "{}", ciphertexts.len());
    let logs = format!("{}\n{}", masking.log(), decrypting.log());
    assert!(logs.contains("\"decrypted values\""), "{logs}");
    for value in SENT {
        assert!(!logs.contains(value), "`{value}` appears in the logs");
    }
    for ciphertext in &ciphertexts {
        // A third of a message is more than any log line may hold of one.
        assert!(
            !logs.contains(&ciphertext[..ciphertext.len() / 3]),
            "a ciphertext appears in the logs"
        );
    }
    assert_no_seeded_secret("the logs", &logs);
    let refused = refusals
        .iter()
        .chain(&responses)
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n");
    for value in SENT {
        assert!(!refused.contains(value), "`{value}` appears in a response");
    }
    Ok(())
}
