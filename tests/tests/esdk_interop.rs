//! `secure_lambda::crypto` against Powertools for AWS Lambda (Python) Data Masking, both on
//! moto's KMS: what Rust encrypts Powertools decrypts and the other way round, for both suites,
//! with the exact-context rule on both sides. KMS calls are counted with moto's recorder.

use std::io::Write as _;
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use std::sync::Arc;

use secure_lambda::crypto::{
    CachePolicy, CryptoError, EncryptionContext, Esdk, KmsDataKeys, Suite,
};
use serde_json::{json, Value};
use suite_tests::{function_env, repo_root, run_dir, venv_tool, Moto};

/// Runs tests/python/powertools_masking.py on `cases` and returns one result per case.
fn powertools(moto: &Moto, key_arn: &str, cases: &[Value]) -> Result<Vec<Value>> {
    let mut child = Command::new(venv_tool("python")?)
        .arg(repo_root().join("tests/python/powertools_masking.py"))
        .envs(function_env(moto))
        .env("AWS_DEFAULT_REGION", suitectl::endpoint::LOCAL_REGION)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the Powertools script")?;
    let request = json!({"key_arn": key_arn, "cases": cases});
    child
        .stdin
        .take()
        .context("stdin of the Powertools script")?
        .write_all(request.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "Powertools script failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let results: Vec<Value> = serde_json::from_slice(&output.stdout)
        .with_context(|| String::from_utf8_lossy(&output.stdout).into_owned())?;
    assert_eq!(results.len(), cases.len());
    Ok(results)
}

fn tenant(value: &str) -> EncryptionContext {
    EncryptionContext::from_pairs([("tenant", value)]).unwrap()
}

fn values() -> Vec<Value> {
    vec![
        json!("123-45-6789"),
        json!("Zoë Ångström 山田太郎 🚀 \u{200b}"),
        json!(12345),
        json!(-3.25),
        json!({"email": "zoë@example.com", "cards": [4111111111111111u64, "5500 0000 0000 0004"],
               "address": {"postcode": 12000, "street": "Straße 1"}, "none": null}),
        // 10,002 bytes of JSON: two regular frames and a final one.
        json!("é".repeat(5000)),
        // Exactly one frame of JSON (4096 bytes): the writers may differ on where the final
        // frame starts, and each reader must accept the other's choice.
        json!("x".repeat(4094)),
    ]
}

fn kms_operations(moto: &Moto) -> Result<Vec<String>> {
    Ok(moto
        .stop_recording()?
        .into_iter()
        .filter(|op| op.starts_with("TrentService."))
        .collect())
}

fn count(operations: &[String], name: &str) -> usize {
    operations
        .iter()
        .filter(|op| op.as_str() == format!("TrentService.{name}"))
        .count()
}

#[tokio::test(flavor = "multi_thread")]
async fn rust_and_powertools_read_each_others_messages() -> Result<()> {
    let moto = Moto::start(&run_dir("it-esdk-interop")?)?;
    let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key_arn = create_key(&kms).await?;
    let values = values();

    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let esdk = Esdk::new(KmsDataKeys(kms.clone()), &key_arn)?.with_suite(suite);
        let prefix = if suite.is_signed() { "AgV4" } else { "AgR4" };

        // Rust → Powertools.
        moto.start_recording()?;
        let mut encrypted = Vec::new();
        for value in &values {
            let text = esdk.encrypt_json(value, &tenant("a")).await?;
            assert!(text.starts_with(prefix), "{suite:?}: {}", &text[..8]);
            encrypted.push(text);
        }
        let operations = kms_operations(&moto)?;
        assert_eq!(count(&operations, "GenerateDataKey"), values.len());
        assert_eq!(operations.len(), values.len(), "{operations:?}");

        let mut cases = Vec::new();
        for text in &encrypted {
            cases.push(json!({"op": "decrypt", "value": text, "context": {"tenant": "a"}}));
            cases.push(json!({"op": "decrypt", "value": text, "context": {"tenant": "b"}}));
            cases.push(json!({"op": "decrypt", "value": text, "context": {}}));
        }
        let results = powertools(&moto, &key_arn, &cases)?;
        for (index, value) in values.iter().enumerate() {
            let (right, wrong, missing) = (
                &results[index * 3],
                &results[index * 3 + 1],
                &results[index * 3 + 2],
            );
            assert_eq!(right, &json!({"ok": value}), "{suite:?} value {index}");
            assert_eq!(wrong, &json!({"error": "DataMaskingContextMismatchError"}));
            assert_eq!(
                missing,
                &json!({"error": "DataMaskingContextMismatchError"})
            );
        }

        // Powertools → Rust.
        let suite_name = format!("{:04x}", suite.id());
        let cases: Vec<Value> = values
            .iter()
            .map(|value| {
                json!({"op": "encrypt", "value": value, "context": {"tenant": "a"}, "suite": suite_name})
            })
            .collect();
        let results = powertools(&moto, &key_arn, &cases)?;
        moto.start_recording()?;
        for (value, result) in values.iter().zip(&results) {
            let text = result["ok"]
                .as_str()
                .with_context(|| format!("Powertools encrypt failed: {result}"))?;
            assert!(text.starts_with(prefix), "{suite:?}: {}", &text[..8]);
            assert_eq!(&esdk.decrypt_json(text, &tenant("a")).await?, value);
            for wrong in [tenant("b"), EncryptionContext::new()] {
                assert_eq!(
                    esdk.decrypt_json(text, &wrong).await.unwrap_err(),
                    CryptoError::ContextMismatch
                );
            }
        }
        let operations = kms_operations(&moto)?;
        assert_eq!(
            count(&operations, "Decrypt"),
            values.len(),
            "one Decrypt per message, none for a refused context: {operations:?}"
        );
        assert_eq!(operations.len(), values.len());
    }
    Ok(())
}

async fn create_key(kms: &aws_sdk_kms::Client) -> Result<String> {
    Ok(kms
        .create_key()
        .send()
        .await?
        .key_metadata()
        .and_then(|m| m.arn())
        .context("CreateKey returned no ARN")?
        .to_owned())
}

/// The fields of one record, each sealed as its own message (Powertools' per-value `encrypt`):
/// with the cache, one `GenerateDataKey` for all of them, and one `Decrypt` for all of them
/// even when they are opened concurrently. Powertools opens every one.
#[tokio::test(flavor = "multi_thread")]
async fn cached_fields_cost_one_kms_call_each_way() -> Result<()> {
    let moto = Moto::start(&run_dir("it-esdk-cache")?)?;
    let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let key_arn = create_key(&kms).await?;
    let values = values();
    for suite in [Suite::CommitKey, Suite::CommitKeyEcdsaP384] {
        let esdk = Arc::new(
            Esdk::new(KmsDataKeys(kms.clone()), &key_arn)?
                .with_suite(suite)
                .with_cache(CachePolicy::default()),
        );
        moto.start_recording()?;
        let mut encrypted = Vec::new();
        for value in &values {
            encrypted.push(esdk.encrypt_json(value, &tenant("a")).await?);
        }
        let operations = kms_operations(&moto)?;
        assert_eq!(
            operations,
            vec!["TrentService.GenerateDataKey".to_owned()],
            "{suite:?}"
        );

        moto.start_recording()?;
        let mut tasks = tokio::task::JoinSet::new();
        for (value, text) in values.iter().cloned().zip(encrypted.clone()) {
            let esdk = Arc::clone(&esdk);
            tasks.spawn(async move {
                let opened = esdk.decrypt_json(&text, &tenant("a")).await;
                (value, opened)
            });
        }
        while let Some(done) = tasks.join_next().await {
            let (value, opened) = done?;
            assert_eq!(opened?, value);
        }
        let operations = kms_operations(&moto)?;
        assert_eq!(
            operations,
            vec!["TrentService.Decrypt".to_owned()],
            "{suite:?}"
        );

        let cases: Vec<Value> = encrypted
            .iter()
            .map(|text| json!({"op": "decrypt", "value": text, "context": {"tenant": "a"}}))
            .collect();
        let results = powertools(&moto, &key_arn, &cases)?;
        for (value, result) in values.iter().zip(&results) {
            assert_eq!(result, &json!({"ok": value}));
        }
    }

    // Powertools' encrypt caches too: its fields share a data key, which Rust then unwraps once.
    let cases: Vec<Value> = values
        .iter()
        .map(|value| json!({"op": "encrypt", "value": value, "context": {"tenant": "a"}, "suite": "0578"}))
        .collect();
    let results = powertools(&moto, &key_arn, &cases)?;
    let esdk = Esdk::new(KmsDataKeys(kms), &key_arn)?.with_cache(CachePolicy::default());
    moto.start_recording()?;
    for (value, result) in values.iter().zip(&results) {
        let text = result["ok"].as_str().context("Powertools encrypt")?;
        assert_eq!(&esdk.decrypt_json(text, &tenant("a")).await?, value);
    }
    assert_eq!(
        kms_operations(&moto)?,
        vec!["TrentService.Decrypt".to_owned()]
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_of_another_key_is_refused_without_calling_kms() -> Result<()> {
    let moto = Moto::start(&run_dir("it-esdk-foreign")?)?;
    let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
    let kms = aws_sdk_kms::Client::new(&config);
    let arns = [create_key(&kms).await?, create_key(&kms).await?];
    let results = powertools(
        &moto,
        &arns[0],
        &[
            json!({"op": "encrypt", "value": "123-45-6789", "context": {"tenant": "a"}, "suite": "0578"}),
        ],
    )?;
    let text = results[0]["ok"].as_str().context("Powertools encrypt")?;
    let other = Esdk::new(KmsDataKeys(kms.clone()), &arns[1])?;
    moto.start_recording()?;
    assert_eq!(
        other.decrypt_json(text, &tenant("a")).await.unwrap_err(),
        CryptoError::NoConfiguredKey
    );
    assert_eq!(kms_operations(&moto)?, Vec::<String>::new());

    // And Powertools refuses a Rust message of another key (its strict provider).
    let rust = Esdk::new(KmsDataKeys(kms), &arns[1])?;
    let text = rust.encrypt_json(&json!("x"), &tenant("a")).await?;
    let results = powertools(
        &moto,
        &arns[0],
        &[json!({"op": "decrypt", "value": text, "context": {"tenant": "a"}})],
    )?;
    assert_eq!(results[0], json!({"error": "DataMaskingDecryptKeyError"}));
    Ok(())
}
