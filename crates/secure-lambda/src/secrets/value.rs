//! Secret values as they travel through the suite.
//!
//! Every value read from Secrets Manager or Parameter Store is held as a
//! [`secrecy::SecretString`]: its `Debug` prints a redaction marker, it has no `Serialize`, and
//! its memory is zeroized when dropped. Code reaches the plaintext only through
//! [`ExposeSecret::expose_secret`], at the point of use.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use zeroize::Zeroize;

use super::SecretError;

/// The version stage read when a caller names none.
pub const AWS_CURRENT: &str = "AWSCURRENT";
/// The stage Secrets Manager gives the version that `AWSCURRENT` replaced.
pub const AWS_PREVIOUS: &str = "AWSPREVIOUS";
/// The stage of a version being rotated in.
pub const AWS_PENDING: &str = "AWSPENDING";

/// Which version of a secret to read.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VersionSelector {
    /// A staging label such as [`AWS_CURRENT`].
    Stage(String),
    /// An exact version id.
    Id(String),
}

impl Default for VersionSelector {
    fn default() -> Self {
        VersionSelector::Stage(AWS_CURRENT.to_owned())
    }
}

impl fmt::Display for VersionSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionSelector::Stage(stage) => write!(f, "stage {stage}"),
            VersionSelector::Id(id) => write!(f, "version {id}"),
        }
    }
}

/// What identifies one cached secret read: the secret and the version asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRequest {
    pub secret_id: String,
    pub version: VersionSelector,
}

impl SecretRequest {
    /// The `AWSCURRENT` version of `secret_id`.
    pub fn current(secret_id: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            version: VersionSelector::default(),
        }
    }

    /// The version of `secret_id` that carries `stage`.
    pub fn stage(secret_id: impl Into<String>, stage: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            version: VersionSelector::Stage(stage.into()),
        }
    }

    /// The exact version `version_id` of `secret_id`.
    pub fn version_id(secret_id: impl Into<String>, version_id: impl Into<String>) -> Self {
        Self {
            secret_id: secret_id.into(),
            version: VersionSelector::Id(version_id.into()),
        }
    }
}

/// One version of a secret, as returned by `GetSecretValue`.
///
/// Binary secrets are not supported by this suite: a secret without `SecretString` is reported as
/// [`SecretError::Malformed`].
pub struct SecretVersion {
    pub name: String,
    pub version_id: Option<String>,
    pub stages: Vec<String>,
    value: SecretString,
}

impl SecretVersion {
    pub fn new(
        name: impl Into<String>,
        version_id: Option<String>,
        stages: Vec<String>,
        value: SecretString,
    ) -> Self {
        Self {
            name: name.into(),
            version_id,
            stages,
            value,
        }
    }

    /// The secret string. Keep the exposure as short as the use.
    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// The secret as a JSON object whose values stay redacted in `Debug` and are zeroized on drop.
    pub fn json(&self) -> Result<SecretJson, SecretError> {
        SecretJson::parse(&self.name, self.value.expose_secret())
    }

    /// The secret deserialized into `T`. Give sensitive fields of `T` the type `SecretString`.
    pub fn typed<T: DeserializeOwned>(&self) -> Result<T, SecretError> {
        serde_json::from_str(self.value.expose_secret()).map_err(|e| SecretError::Malformed {
            name: self.name.clone(),
            // serde_json's messages name the position and the expected type, never the input.
            reason: format!(
                "does not match the expected shape: {}",
                strip_serde_detail(&e)
            ),
        })
    }

    /// One string key of a JSON secret.
    pub fn field(&self, key: &str) -> Result<SecretString, SecretError> {
        self.json()?.string(key)
    }
}

impl fmt::Debug for SecretVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretVersion")
            .field("name", &self.name)
            .field("version_id", &self.version_id)
            .field("stages", &self.stages)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

/// A JSON secret. Holds the parsed object; zeroizes every string in it when dropped.
pub struct SecretJson {
    name: String,
    object: serde_json::Map<String, serde_json::Value>,
}

impl SecretJson {
    fn parse(name: &str, text: &str) -> Result<Self, SecretError> {
        let malformed = |reason: String| SecretError::Malformed {
            name: name.to_owned(),
            reason,
        };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(object)) => Ok(Self {
                name: name.to_owned(),
                object,
            }),
            Ok(mut other) => {
                let kind = json_kind(&other);
                zeroize_json(&mut other);
                Err(malformed(format!("is JSON but a {kind}, not an object")))
            }
            Err(e) => Err(malformed(format!(
                "is not valid JSON ({})",
                strip_serde_detail(&e)
            ))),
        }
    }

    /// The keys present, for error messages that help without revealing values.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.object.keys().map(String::as_str)
    }

    /// A raw JSON value of the secret (numbers and booleans are rarely secret; strings may be).
    pub fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.object.get(key)
    }

    /// A string key as a secret; a number is accepted and rendered as text.
    pub fn string(&self, key: &str) -> Result<SecretString, SecretError> {
        match self.object.get(key) {
            Some(serde_json::Value::String(s)) => Ok(SecretString::from(s.as_str())),
            Some(serde_json::Value::Number(n)) => Ok(SecretString::from(n.to_string())),
            Some(other) => Err(SecretError::Malformed {
                name: self.name.clone(),
                reason: format!("key `{key}` is a {}, not a string", json_kind(other)),
            }),
            None => Err(SecretError::MissingKey {
                name: self.name.clone(),
                key: key.to_owned(),
            }),
        }
    }
}

impl fmt::Debug for SecretJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretJson")
            .field("name", &self.name)
            .field("keys", &self.object.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Drop for SecretJson {
    fn drop(&mut self) {
        for value in self.object.values_mut() {
            zeroize_json(value);
        }
    }
}

/// Overwrites every string inside a JSON value with zeros before it is freed.
pub(crate) fn zeroize_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => s.zeroize(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(zeroize_json),
        serde_json::Value::Object(map) => map.values_mut().for_each(zeroize_json),
        _ => {}
    }
}

pub(crate) fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// serde_json can quote fragments of the input in "invalid value" messages; keep only the
/// category and position so that no part of a secret reaches an error.
fn strip_serde_detail(e: &serde_json::Error) -> String {
    let category = match e.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected type or missing field",
        serde_json::error::Category::Eof => "unexpected end of input",
    };
    format!("{category} at line {} column {}", e.line(), e.column())
}

/// One Parameter Store parameter. String parameters are held as secrets too: one type for all
/// values keeps the handling uniform and the logs clean.
pub struct Parameter {
    pub name: String,
    pub kind: ParameterKind,
    pub version: i64,
    value: SecretString,
}

/// The Parameter Store type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParameterKind {
    String,
    StringList,
    SecureString,
}

impl Parameter {
    pub fn new(
        name: impl Into<String>,
        kind: ParameterKind,
        version: i64,
        value: SecretString,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            version,
            value,
        }
    }

    pub fn value(&self) -> &SecretString {
        &self.value
    }

    /// The last segment of the name: `/app/config/feature-flags/dark-mode` → `dark-mode`.
    pub fn leaf_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

impl fmt::Debug for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("version", &self.version)
            .field("value", &"[REDACTED]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn version(text: &str) -> SecretVersion {
        SecretVersion::new(
            "db",
            Some("v1".into()),
            vec![AWS_CURRENT.into()],
            SecretString::from(text),
        )
    }

    #[test]
    fn debug_never_shows_the_value() {
        let v = version(r#"{"password":"hunter2-very-secret"}"#);
        let printed = format!("{v:?} {:?}", v.json().unwrap());
        assert!(!printed.contains("hunter2"), "{printed}");
        let p = Parameter::new(
            "/a/b",
            ParameterKind::SecureString,
            1,
            SecretString::from("sk-live-123"),
        );
        assert!(!format!("{p:?}").contains("sk-live"));
    }

    #[test]
    fn field_reads_strings_and_numbers() {
        let v = version(r#"{"username":"admin","port":3306}"#);
        assert_eq!(v.field("username").unwrap().expose_secret(), "admin");
        assert_eq!(v.field("port").unwrap().expose_secret(), "3306");
        assert!(matches!(
            v.field("nope"),
            Err(SecretError::MissingKey { .. })
        ));
    }

    #[test]
    fn malformed_json_errors_do_not_quote_the_secret() {
        for text in [
            "not json hunter2",
            r#"["hunter2"]"#,
            r#"{"password": hunter2}"#,
        ] {
            let err = version(text).json().unwrap_err();
            assert!(matches!(err, SecretError::Malformed { .. }));
            assert!(!err.to_string().contains("hunter2"), "{err}");
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Creds {
            port: u16,
        }
        let err = version(r#"{"port":"hunter2"}"#)
            .typed::<Creds>()
            .unwrap_err();
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn typed_secret_with_secret_fields() {
        #[derive(serde::Deserialize)]
        struct Creds {
            username: String,
            password: SecretString,
        }
        let creds: Creds = version(r#"{"username":"admin","password":"pw"}"#)
            .typed()
            .unwrap();
        assert_eq!(creds.username, "admin");
        assert_eq!(creds.password.expose_secret(), "pw");
    }

    #[test]
    fn leaf_name_is_the_last_segment() {
        let p = Parameter::new(
            "/app/flags/dark-mode",
            ParameterKind::String,
            1,
            SecretString::from("x"),
        );
        assert_eq!(p.leaf_name(), "dark-mode");
    }
}
