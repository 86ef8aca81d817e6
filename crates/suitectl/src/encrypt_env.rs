//! `suitectl encrypt-env`: a value encrypted for one function's environment.
//!
//! The value is encrypted with KMS under the given key and the encryption context
//! `{"LambdaFunctionName": <function>}`, the context the function decrypts with, and the base64
//! ciphertext is set as the variable: on AWS by `UpdateFunctionConfiguration` (merging the
//! function's other variables), on the local stack in an env file for `cargo lambda watch
//! --env-file`. The plaintext is never printed.

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

/// Sets `variable` on a deployed function, keeping its other variables.
pub async fn set_on_function(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    variable: &str,
    value: &str,
) -> Result<()> {
    let current = lambda
        .get_function_configuration()
        .function_name(function)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "reading the configuration of {function}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    let mut variables = current
        .environment()
        .and_then(|e| e.variables())
        .cloned()
        .unwrap_or_default();
    variables.insert(variable.to_owned(), value.to_owned());
    lambda
        .update_function_configuration()
        .function_name(function)
        .environment(
            aws_sdk_lambda::types::Environment::builder()
                .set_variables(Some(variables))
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "updating the environment of {function}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

/// Sets `variable` in a `KEY=VALUE` env file, replacing its line or appending one.
pub fn set_in_env_file(path: &Path, variable: &str, value: &str) -> Result<()> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let prefix = format!("{variable}=");
    let mut lines: Vec<String> = existing
        .lines()
        .filter(|line| !line.starts_with(&prefix))
        .map(str::to_owned)
        .collect();
    lines.push(format!("{variable}={value}"));
    std::fs::write(path, lines.join("\n") + "\n")
        .with_context(|| format!("writing {}", path.display()))
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
        set_in_env_file(&file, "USER_NAME", "AQID").unwrap();
        set_in_env_file(&file, "OTHER", "1").unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "API_URL=http://x\nUSER_NAME=AQID\nOTHER=1\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
