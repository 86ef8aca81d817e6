//! KMS-encrypted environment variables, decrypted once per execution environment.
//!
//! The Lambda console's "encryption helpers" store a base64 `CiphertextBlob` made with the
//! encryption context `{"LambdaFunctionName": <function name>}`. [`EncryptedEnv`] decrypts such a
//! variable with that context (key and value configurable), keeps the plaintext as a secret type,
//! and never calls KMS for it again. Errors say which variable, which context was used, and what
//! to do; never the value. Retrying without a context (for values encrypted by tools that add
//! none) is off by default and logs a warning when it is used.

use std::collections::HashMap;
use std::future::Future;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;

use crate::aws::{classify, AwsFailure, FailureKind};
use crate::config::{env_string, ConfigError};

/// The context key the Lambda console's encryption helpers use.
pub const DEFAULT_CONTEXT_KEY: &str = "LambdaFunctionName";

/// Why KMS refused or failed a `Decrypt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecryptFailure {
    /// `InvalidCiphertextException`: wrong context, or not a ciphertext of this key.
    InvalidCiphertext,
    AccessDenied(String),
    /// `DisabledException`.
    KeyDisabled,
    /// `KMSInvalidStateException` (pending deletion, unavailable, ...).
    KeyUnusable(String),
    /// Anything else: throttling, timeouts, errors of the service.
    Other(AwsFailure),
}

/// KMS `Decrypt`.
pub trait Decrypter: Send + Sync {
    fn decrypt(
        &self,
        ciphertext: Vec<u8>,
        context: Option<(String, String)>,
    ) -> impl Future<Output = Result<Vec<u8>, DecryptFailure>> + Send;
}

/// A variable that could not be decrypted. Names the variable, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvDecryptError {
    #[error("environment variable {variable} is not set")]
    Missing { variable: String },
    #[error("environment variable {variable} is not base64: it must hold a KMS CiphertextBlob encoded as base64")]
    NotBase64 { variable: String },
    #[error(
        "environment variable {variable} could not be decrypted with encryption context {{\"{key}\": \"{value}\"}}: \
         it must be encrypted with exactly that context (e.g. `suitectl encrypt-env --function {value} --var {variable}`)"
    )]
    WrongContext {
        variable: String,
        key: String,
        value: String,
    },
    #[error("environment variable {variable}: KMS denied Decrypt ({detail}); the function's role needs kms:Decrypt on the key with this encryption context")]
    AccessDenied { variable: String, detail: String },
    #[error("environment variable {variable}: the KMS key is disabled")]
    KeyDisabled { variable: String },
    #[error("environment variable {variable}: the KMS key cannot be used ({detail})")]
    KeyUnusable { variable: String, detail: String },
    #[error("environment variable {variable}: the decrypted value is not UTF-8 text")]
    NotText { variable: String },
    #[error("environment variable {variable}: KMS Decrypt failed ({})", failure.detail)]
    Failed {
        variable: String,
        failure: AwsFailure,
    },
}

/// The encryption context used for every variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionContext {
    pub key: String,
    pub value: String,
}

impl EncryptionContext {
    /// `KMS_CONTEXT_KEY` (default `LambdaFunctionName`) = `KMS_CONTEXT_VALUE` (default
    /// `AWS_LAMBDA_FUNCTION_NAME`).
    pub fn from_env() -> Result<Self, ConfigError> {
        let key = env_string("KMS_CONTEXT_KEY", DEFAULT_CONTEXT_KEY)?;
        let function = env_string("AWS_LAMBDA_FUNCTION_NAME", "")?;
        let value = env_string("KMS_CONTEXT_VALUE", &function)?;
        if value.is_empty() {
            return Err(ConfigError::new(
                "KMS_CONTEXT_VALUE",
                "is empty and AWS_LAMBDA_FUNCTION_NAME is not set: no encryption context to use",
            ));
        }
        Ok(Self { key, value })
    }
}

/// Decrypts and caches encrypted environment variables.
pub struct EncryptedEnv<D> {
    kms: D,
    context: EncryptionContext,
    retry_without_context: bool,
    cache: Mutex<HashMap<String, SecretString>>,
}

impl<D: Decrypter> EncryptedEnv<D> {
    pub fn new(kms: D, context: EncryptionContext) -> Self {
        Self {
            kms,
            context,
            retry_without_context: false,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Also try without a context when the context is refused (off by default).
    pub fn retry_without_context(mut self, retry: bool) -> Self {
        self.retry_without_context = retry;
        self
    }

    pub fn context(&self) -> &EncryptionContext {
        &self.context
    }

    /// The plaintext of environment variable `variable`, decrypted on first use.
    pub async fn get(&self, variable: &str) -> Result<SecretString, EnvDecryptError> {
        let text = std::env::var(variable)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| EnvDecryptError::Missing {
                variable: variable.to_owned(),
            })?;
        self.get_value(variable, &text).await
    }

    /// Like [`EncryptedEnv::get`] with the variable's text given.
    pub async fn get_value(
        &self,
        variable: &str,
        base64_text: &str,
    ) -> Result<SecretString, EnvDecryptError> {
        let mut cache = self.cache.lock().await;
        if let Some(value) = cache.get(variable) {
            tracing::info!(target: "audit", resource = "kms-env", name = variable, source = "cache", ms = 0.0, "read");
            return Ok(value.clone());
        }
        let started = std::time::Instant::now();
        let ciphertext = aws_smithy_types::base64::decode(base64_text.trim()).map_err(|_| {
            EnvDecryptError::NotBase64 {
                variable: variable.to_owned(),
            }
        })?;
        let context = Some((self.context.key.clone(), self.context.value.clone()));
        let mut result = self.kms.decrypt(ciphertext.clone(), context).await;
        if result == Err(DecryptFailure::InvalidCiphertext) && self.retry_without_context {
            tracing::warn!(
                variable,
                "decrypting without an encryption context: re-encrypt this value with the function-name context"
            );
            result = self.kms.decrypt(ciphertext, None).await;
        }
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        let plaintext = result.map_err(|failure| {
            let error = self.error(variable, failure);
            tracing::warn!(target: "audit", resource = "kms-env", name = variable, ms, error = %error, "read failed");
            error
        })?;
        let text = String::from_utf8(plaintext).map_err(|_| EnvDecryptError::NotText {
            variable: variable.to_owned(),
        })?;
        let secret = SecretString::from(text);
        cache.insert(variable.to_owned(), secret.clone());
        // One audit line per KMS Decrypt, the counterpart of CloudTrail's `Decrypt` event.
        tracing::info!(target: "audit", resource = "kms-env", name = variable, source = "aws", ms, "read");
        Ok(secret)
    }

    fn error(&self, variable: &str, failure: DecryptFailure) -> EnvDecryptError {
        let variable = variable.to_owned();
        match failure {
            DecryptFailure::InvalidCiphertext => EnvDecryptError::WrongContext {
                variable,
                key: self.context.key.clone(),
                value: self.context.value.clone(),
            },
            DecryptFailure::AccessDenied(detail) => {
                EnvDecryptError::AccessDenied { variable, detail }
            }
            DecryptFailure::KeyDisabled => EnvDecryptError::KeyDisabled { variable },
            DecryptFailure::KeyUnusable(detail) => {
                EnvDecryptError::KeyUnusable { variable, detail }
            }
            DecryptFailure::Other(failure) => EnvDecryptError::Failed { variable, failure },
        }
    }
}

/// Splits a decrypted list (`a, b,c`) into its non-empty items.
pub fn split_list(value: &SecretString) -> Vec<String> {
    value
        .expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// [`Decrypter`] over the AWS SDK.
pub struct AwsKms(pub aws_sdk_kms::Client);

impl Decrypter for AwsKms {
    async fn decrypt(
        &self,
        ciphertext: Vec<u8>,
        context: Option<(String, String)>,
    ) -> Result<Vec<u8>, DecryptFailure> {
        let mut request = self
            .0
            .decrypt()
            .ciphertext_blob(aws_smithy_types::Blob::new(ciphertext));
        if let Some((key, value)) = context {
            request = request.encryption_context(key, value);
        }
        match request.send().await {
            Ok(output) => output
                .plaintext()
                .map(|p| p.as_ref().to_vec())
                .ok_or_else(|| {
                    DecryptFailure::Other(AwsFailure {
                        kind: FailureKind::Other,
                        code: None,
                        detail: "Decrypt returned no plaintext".into(),
                    })
                }),
            Err(error) => {
                let failure = classify(&error);
                Err(match failure.code.as_deref() {
                    Some("InvalidCiphertextException") => DecryptFailure::InvalidCiphertext,
                    Some("DisabledException") => DecryptFailure::KeyDisabled,
                    Some("KMSInvalidStateException") | Some("KeyUnavailableException") => {
                        DecryptFailure::KeyUnusable(failure.detail)
                    }
                    _ if failure.kind == FailureKind::AccessDenied => {
                        DecryptFailure::AccessDenied(failure.detail)
                    }
                    _ => DecryptFailure::Other(failure),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Decrypts `enc:<context value>:<plaintext>` when given that context (or none, for
    /// `enc::<plaintext>`), like KMS binding a ciphertext to its context.
    struct FakeKms {
        calls: AtomicU32,
        fail: Option<DecryptFailure>,
    }

    impl Decrypter for FakeKms {
        async fn decrypt(
            &self,
            ciphertext: Vec<u8>,
            context: Option<(String, String)>,
        ) -> Result<Vec<u8>, DecryptFailure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(failure) = &self.fail {
                return Err(failure.clone());
            }
            let text =
                String::from_utf8(ciphertext).map_err(|_| DecryptFailure::InvalidCiphertext)?;
            let rest = text
                .strip_prefix("enc:")
                .ok_or(DecryptFailure::InvalidCiphertext)?;
            let (bound, plain) = rest
                .split_once(':')
                .ok_or(DecryptFailure::InvalidCiphertext)?;
            let given = context.map(|(_, v)| v).unwrap_or_default();
            if bound != given {
                return Err(DecryptFailure::InvalidCiphertext);
            }
            Ok(plain.as_bytes().to_vec())
        }
    }

    fn env(fail: Option<DecryptFailure>) -> EncryptedEnv<FakeKms> {
        EncryptedEnv::new(
            FakeKms {
                calls: AtomicU32::new(0),
                fail,
            },
            EncryptionContext {
                key: DEFAULT_CONTEXT_KEY.into(),
                value: "loadtest".into(),
            },
        )
    }

    fn b64(text: &str) -> String {
        aws_smithy_types::base64::encode(text)
    }

    #[tokio::test]
    async fn decrypts_once_with_the_function_context() {
        let env = env(None);
        let value = env
            .get_value("USER_NAME", &b64("enc:loadtest:student, user-001"))
            .await
            .unwrap();
        assert_eq!(split_list(&value), ["student", "user-001"]);
        env.get_value("USER_NAME", &b64("ignored: cached"))
            .await
            .unwrap();
        assert_eq!(env.kms.calls.load(Ordering::SeqCst), 1);
        assert!(!format!("{value:?}").contains("student"));
    }

    #[tokio::test]
    async fn errors_name_the_variable_and_context_never_the_value() {
        let wrong = env(None)
            .get_value("USER_NAME", &b64("enc:other-function:student"))
            .await
            .unwrap_err();
        let message = wrong.to_string();
        assert!(matches!(wrong, EnvDecryptError::WrongContext { .. }));
        assert!(
            message.contains("USER_NAME")
                && message.contains("\"LambdaFunctionName\": \"loadtest\""),
            "{message}"
        );
        assert!(!message.contains("student"));

        let not_b64 = env(None)
            .get_value("USER_NAME", "student!!")
            .await
            .unwrap_err();
        assert!(matches!(not_b64, EnvDecryptError::NotBase64 { .. }));
        assert!(!not_b64.to_string().contains("student!!"));

        for (failure, check) in [
            (
                DecryptFailure::AccessDenied("AccessDeniedException".into()),
                "denied",
            ),
            (DecryptFailure::KeyDisabled, "disabled"),
            (
                DecryptFailure::KeyUnusable("pending deletion".into()),
                "cannot be used",
            ),
        ] {
            let error = env(Some(failure))
                .get_value("USER_NAME", &b64("x"))
                .await
                .unwrap_err();
            assert!(error.to_string().contains(check), "{error}");
        }
    }

    #[tokio::test]
    async fn retry_without_context_is_opt_in() {
        let text = b64("enc::student");
        assert!(env(None).get_value("USER_NAME", &text).await.is_err());
        let lenient = env(None).retry_without_context(true);
        let value = lenient.get_value("USER_NAME", &text).await.unwrap();
        assert_eq!(value.expose_secret(), "student");
        assert_eq!(lenient.kms.calls.load(Ordering::SeqCst), 2);
    }
}
