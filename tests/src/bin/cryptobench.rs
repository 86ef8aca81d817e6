//! `make bench`'s reversible-masking section: the library's envelope encryption beside
//! Powertools for AWS Lambda (Python) Data Masking 3.37.0 (`bench/powertools_crypto.py`), both
//! on one moto KMS, in one run.
//!
//! - Warm field encrypt per value (`"123-45-6789"`, data key cached on both sides), per suite.
//! - Decrypt of a 10-field record, each record sealed by Powertools under its own data key (as
//!   records sealed by separate requests): Powertools decrypts field by field; the library
//!   decrypts the record's fields at once through `decrypt_fields` (its decrypt cache turns the
//!   ten into one KMS call). The same ciphertexts for both; KMS `Decrypt` calls from moto's
//!   recorder.
//!
//! `cryptobench --python <venv python> [--values N] [--records R] [--out FILE]`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use secure_lambda::crypto::fields::{decrypt_fields, DecryptLimits, PathBinding};
use secure_lambda::crypto::{CachePolicy, EncryptionContext, Esdk, KmsDataKeys, Suite};
use secure_lambda::mask::JsonPath;
use serde_json::{json, Map, Value};
use suite_tests::coldstart::quantile;
use suite_tests::{function_env, repo_root, run_dir, write_report, Moto};

const FIELDS: usize = 10;

struct Options {
    python: PathBuf,
    values: usize,
    records: usize,
    out: Option<PathBuf>,
}

fn options() -> Result<Options> {
    let mut options = Options {
        python: PathBuf::new(),
        values: 500,
        records: 20,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--python" => options.python = value.into(),
            "--values" => options.values = value.parse()?,
            "--records" => options.records = value.parse()?,
            "--out" => options.out = Some(value.into()),
            other => bail!("unknown option {other}"),
        }
    }
    if !options.python.is_file() {
        bail!("--python {} is not a file", options.python.display());
    }
    Ok(options)
}

fn powertools(options: &Options, moto: &Moto, request: &Value) -> Result<Value> {
    let mut child = Command::new(&options.python)
        .arg(repo_root().join("bench/powertools_crypto.py"))
        .envs(function_env(moto))
        .env("AWS_DEFAULT_REGION", suitectl::endpoint::LOCAL_REGION)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting bench/powertools_crypto.py")?;
    child
        .stdin
        .take()
        .context("stdin")?
        .write_all(request.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "powertools_crypto.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn durations(values: &Value) -> Vec<Duration> {
    values
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_f64)
        .map(|ms| Duration::from_secs_f64(ms / 1000.0))
        .collect()
}

fn decrypt_calls(moto: &Moto) -> Result<usize> {
    Ok(moto
        .stop_recording()?
        .iter()
        .filter(|op| op.as_str() == "TrentService.Decrypt")
        .count())
}

fn fmt(d: Option<Duration>) -> String {
    let d = d.unwrap_or_default();
    if d < Duration::from_millis(1) {
        format!("{:.1} µs", d.as_secs_f64() * 1e6)
    } else {
        format!("{:.2} ms", d.as_secs_f64() * 1e3)
    }
}

fn ratio(theirs: Option<Duration>, ours: Option<Duration>) -> String {
    let (t, o) = (theirs.unwrap_or_default(), ours.unwrap_or_default());
    format!("{:.1}×", t.as_secs_f64() / o.as_secs_f64().max(1e-9))
}

fn main() -> Result<()> {
    let options = options()?;
    let moto = Moto::start(&run_dir("cryptobench")?)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let config = runtime.block_on(suitectl::endpoint::sdk_config(Some(&moto.endpoint), None));
    let kms = aws_sdk_kms::Client::new(&config);
    let key_arn = runtime
        .block_on(kms.create_key().send())?
        .key_metadata()
        .and_then(|m| m.arn())
        .context("CreateKey returned no ARN")?
        .to_owned();
    let context = EncryptionContext::from_pairs([("tenant", "a")])?;
    let mut report = format!(
        "Both sides on one moto KMS on loopback, timed inside their process. Encrypt: {} values of \
         `\"123-45-6789\"` after a warm-up, data key cached on both sides. Decrypt: {} records of {FIELDS} \
         fields, each record sealed by Powertools under its own data key; Powertools decrypts field by \
         field, the library a record's fields at once (`decrypt_fields`, decrypt cache and single \
         flight), the same ciphertexts. KMS `Decrypt` calls from moto's recorder.\n\n\
         | suite | measure | Powertools 3.37.0 (Python) | secure-lambda crypto | ratio |\n\
         | --- | --- | --- | --- | --- |\n",
        options.values, options.records
    );
    for (suite, name) in [
        (Suite::CommitKeyEcdsaP384, "0578"),
        (Suite::CommitKey, "0478"),
    ] {
        let sealed = powertools(
            &options,
            &moto,
            &json!({"op": "encrypt", "key_arn": key_arn, "suite": name,
                    "values": options.values, "records": options.records, "fields": FIELDS}),
        )?;
        let theirs_encrypt = durations(&sealed["encrypt_ms"]);
        let records: Vec<Value> = sealed["records"]
            .as_array()
            .context("records")?
            .iter()
            .map(|fields| {
                let object: Map<String, Value> = fields
                    .as_array()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(|(i, v)| (format!("f{i}"), v.clone()))
                    .collect();
                Value::Object(object)
            })
            .collect();

        let esdk = Esdk::new(KmsDataKeys(kms.clone()), &key_arn)?
            .with_suite(suite)
            .with_cache(CachePolicy::default());
        let value = json!("123-45-6789");
        runtime.block_on(esdk.encrypt_json(&value, &context))?;
        let mut ours_encrypt = Vec::with_capacity(options.values);
        for _ in 0..options.values {
            let start = Instant::now();
            runtime.block_on(esdk.encrypt_json(&value, &context))?;
            ours_encrypt.push(start.elapsed());
        }

        moto.start_recording()?;
        let opened = powertools(
            &options,
            &moto,
            &json!({"op": "decrypt", "key_arn": key_arn, "records": sealed["records"]}),
        )?;
        let theirs_calls = decrypt_calls(&moto)?;
        let theirs_decrypt = durations(&opened["decrypt_record_ms"]);

        let rules = [JsonPath::parse("$.*")?];
        let limits = DecryptLimits {
            max_fields: FIELDS,
            max_value_len: 1 << 20,
        };
        moto.start_recording()?;
        let mut ours_decrypt = Vec::with_capacity(records.len());
        for record in &records {
            let mut batch = [record.clone()];
            let start = Instant::now();
            let count = runtime.block_on(decrypt_fields(
                &esdk,
                &mut batch,
                &rules,
                &context,
                PathBinding::Unbound,
                limits,
            ))?;
            ours_decrypt.push(start.elapsed());
            if count != FIELDS {
                bail!("decrypted {count} fields of {FIELDS}");
            }
        }
        let ours_calls = decrypt_calls(&moto)?;

        let row = |measure: &str, q: f64, theirs: &[Duration], ours: &[Duration]| {
            format!(
                "| 0x{name} | {measure} | {} | {} | {} |\n",
                fmt(quantile(theirs, q)),
                fmt(quantile(ours, q)),
                ratio(quantile(theirs, q), quantile(ours, q))
            )
        };
        report += &row(
            "warm field encrypt per value, median",
            0.5,
            &theirs_encrypt,
            &ours_encrypt,
        );
        report += &row(
            "warm field encrypt per value, p90",
            0.9,
            &theirs_encrypt,
            &ours_encrypt,
        );
        report += &row(
            &format!("decrypt of a {FIELDS}-field record, median"),
            0.5,
            &theirs_decrypt,
            &ours_decrypt,
        );
        report += &format!(
            "| 0x{name} | KMS `Decrypt` calls for {} records | {theirs_calls} | {ours_calls} | {:.0}× fewer |\n",
            records.len(),
            theirs_calls as f64 / (ours_calls.max(1)) as f64
        );
    }
    write_report(options.out.as_deref(), &report)
}
