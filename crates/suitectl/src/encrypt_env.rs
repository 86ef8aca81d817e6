//! `suitectl encrypt-env`: a value encrypted for one function's environment.
//!
//! The value is encrypted with KMS under the given key and the encryption context
//! `{"LambdaFunctionName": <function>}`, the context the function decrypts with. The base64
//! ciphertext goes where the function's environment comes from: for a deployed stack, the template
//! parameter in samconfig.toml ([`crate::samconfig`]), so that every `sam deploy` sets it; on the
//! local stack, an env file for `cargo lambda watch --env-file`, or SAM local's `--env-vars` JSON.
//! The plaintext is never printed.

use std::path::Path;

use anyhow::{anyhow, Context, Result};
use aws_smithy_types::error::display::DisplayErrorContext;
use secrecy::{ExposeSecret, SecretString};
use secure_lambda::kms_env::DEFAULT_CONTEXT_KEY;

/// The base64 `CiphertextBlob` of `value` for `function`.
pub async fn encrypt_for_function(
    kms: &aws_sdk_kms::Client,
    key_id: &str,
    function: &str,
    value: &SecretString,
) -> Result<String> {
    let output = kms
        .encrypt()
        .key_id(key_id)
        .plaintext(aws_smithy_types::Blob::new(
            value.expose_secret().as_bytes(),
        ))
        .encryption_context(DEFAULT_CONTEXT_KEY, function)
        .send()
        .await
        .map_err(|e| anyhow!("KMS Encrypt with {key_id}: {}", DisplayErrorContext(&e)))?;
    let blob = output
        .ciphertext_blob()
        .ok_or_else(|| anyhow!("KMS Encrypt returned no ciphertext"))?;
    Ok(aws_smithy_types::base64::encode(blob.as_ref()))
}

/// Sets `variable` in an env file, keeping its other entries: a `.json` file is SAM local's
/// `--env-vars` (the variable goes under `function`, as SAM names the function locally), any other
/// a `KEY=VALUE` file for `cargo lambda watch --env-file`.
pub fn set_in_env_file(path: &Path, function: &str, variable: &str, value: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let updated = if path.extension().is_some_and(|e| e == "json") {
        set_in_sam_env_vars(&existing, function, variable, value)
            .with_context(|| format!("updating {}", path.display()))?
    } else {
        set_in_dotenv(&existing, variable, value)
    };
    std::fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}

fn set_in_dotenv(existing: &str, variable: &str, value: &str) -> String {
    let prefix = format!("{variable}=");
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|line| !line.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    lines.push(format!("{variable}={value}"));
    lines.join("\n") + "\n"
}

fn set_in_sam_env_vars(
    existing: &str,
    function: &str,
    variable: &str,
    value: &str,
) -> Result<String> {
    let mut document: serde_json::Map<String, serde_json::Value> = if existing.trim().is_empty() {
        serde_json::Map::new()
    } else {
        serde_json::from_str(existing).map_err(|e| {
            anyhow!(
                "not a JSON object of functions to variables (line {}, column {})",
                e.line(),
                e.column()
            )
        })?
    };
    let variables = document
        .entry(function.to_owned())
        .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()))
        .as_object_mut()
        .ok_or_else(|| anyhow!("the entry of {function} is not a JSON object"))?;
    variables.insert(
        variable.to_owned(),
        serde_json::Value::String(value.to_owned()),
    );
    Ok(serde_json::to_string_pretty(&document)? + "\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_files_are_merged() {
        let dir = std::env::temp_dir().join(format!("suitectl-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("loadtest.env");
        std::fs::write(&file, "API_URL=http://x\nUSER_NAME=old\n").unwrap();
        set_in_env_file(&file, "loadtest", "USER_NAME", "AQID").unwrap();
        set_in_env_file(&file, "loadtest", "OTHER", "1").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "API_URL=http://x\nUSER_NAME=AQID\nOTHER=1\n"
        );

        let json = dir.join("env.json");
        std::fs::write(
            &json,
            r#"{"LoadTestFunction": {"USER_NAME": "x", "API_URL": "u"}, "Other": {}}"#,
        )
        .unwrap();
        set_in_env_file(&json, "LoadTestFunction", "USER_NAME", "AQID").unwrap();
        let written: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        assert_eq!(
            written,
            serde_json::json!({"LoadTestFunction": {"USER_NAME": "AQID", "API_URL": "u"}, "Other": {}})
        );
        std::fs::write(&json, "[]").unwrap();
        assert!(set_in_env_file(&json, "F", "V", "x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
