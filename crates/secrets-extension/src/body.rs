//! Response bodies in the shape AWS's layer returns: the SDK-for-Go output structs through
//! `encoding/json`, so every field is present (null when absent), dates are RFC 3339 text, a
//! binary secret is base64, and `ResultMetadata` is an empty object. Clients read
//! `SecretString`, `SecretBinary` or `Parameter.Value` from these bodies and nothing else
//! changes for them.
//!
//! The value types carry plaintext and so implement neither `Debug` nor `Display`.

use base64::Engine as _;
use serde_json::{json, Map, Value};

/// The payload of one secret version.
pub enum SecretPayload {
    Text(String),
    Binary(Vec<u8>),
}

/// One `GetSecretValue` result.
pub struct SecretBody {
    pub arn: Option<String>,
    /// RFC 3339, as the Go SDK's `time.Time` marshals.
    pub created_date: Option<String>,
    pub name: Option<String>,
    pub payload: Option<SecretPayload>,
    pub version_id: Option<String>,
    pub version_stages: Vec<String>,
}

impl SecretBody {
    /// The JSON text of the body.
    pub fn to_json(&self) -> String {
        let (text, binary) = match &self.payload {
            Some(SecretPayload::Text(t)) => (Value::from(t.as_str()), Value::Null),
            Some(SecretPayload::Binary(b)) => (
                Value::Null,
                Value::from(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
            None => (Value::Null, Value::Null),
        };
        json!({
            "ARN": self.arn,
            "CreatedDate": self.created_date,
            "Name": self.name,
            "SecretBinary": binary,
            "SecretString": text,
            "VersionId": self.version_id,
            "VersionStages": self.version_stages,
            "ResultMetadata": Map::new(),
        })
        .to_string()
    }
}

/// One `GetParameter` result.
pub struct ParameterBody {
    pub arn: Option<String>,
    pub data_type: Option<String>,
    pub last_modified_date: Option<String>,
    pub name: Option<String>,
    /// `:3` or `:label` when the request named a version or label.
    pub selector: Option<String>,
    /// The secret's JSON text when the name is an `/aws/reference/secretsmanager/` reference.
    pub source_result: Option<String>,
    /// `String`, `StringList` or `SecureString`.
    pub kind: Option<String>,
    pub value: Option<String>,
    pub version: i64,
}

impl ParameterBody {
    /// The JSON text of the body.
    pub fn to_json(&self) -> String {
        json!({
            "Parameter": {
                "ARN": self.arn,
                "DataType": self.data_type,
                "LastModifiedDate": self.last_modified_date,
                "Name": self.name,
                "Selector": self.selector,
                "SourceResult": self.source_result,
                "Type": self.kind,
                "Value": self.value,
                "Version": self.version,
            },
            "ResultMetadata": Map::new(),
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn text_secret_has_every_field_with_nulls() {
        let body = SecretBody {
            arn: Some("arn:aws:secretsmanager:eu-west-1:1:secret:db-AbCdEf".into()),
            created_date: Some("2022-11-16T08:22:40.499Z".into()),
            name: Some("db".into()),
            payload: Some(SecretPayload::Text("{\"password\":\"p\\\"w\"}".into())),
            version_id: Some("v1".into()),
            version_stages: vec!["AWSCURRENT".into()],
        };
        let v = parse(&body.to_json());
        assert_eq!(
            v,
            json!({
                "ARN": "arn:aws:secretsmanager:eu-west-1:1:secret:db-AbCdEf",
                "CreatedDate": "2022-11-16T08:22:40.499Z",
                "Name": "db",
                "SecretBinary": null,
                "SecretString": "{\"password\":\"p\\\"w\"}",
                "VersionId": "v1",
                "VersionStages": ["AWSCURRENT"],
                "ResultMetadata": {},
            })
        );
    }

    #[test]
    fn binary_secret_is_base64_and_string_null() {
        let body = SecretBody {
            arn: None,
            created_date: None,
            name: Some("bin".into()),
            payload: Some(SecretPayload::Binary(vec![0, 159, 255])),
            version_id: None,
            version_stages: vec![],
        };
        let v = parse(&body.to_json());
        assert_eq!(v["SecretBinary"], "AJ//");
        assert_eq!(v["SecretString"], Value::Null);
        assert!(v.as_object().unwrap().contains_key("ARN"));
    }

    #[test]
    fn parameter_body_nests_under_parameter() {
        let body = ParameterBody {
            arn: Some("arn:aws:ssm:eu-west-1:1:parameter/app/db".into()),
            data_type: Some("text".into()),
            last_modified_date: Some("2022-11-16T08:22:40.362Z".into()),
            name: Some("/app/db".into()),
            selector: Some(":1".into()),
            source_result: None,
            kind: Some("SecureString".into()),
            value: Some("s3cret".into()),
            version: 1,
        };
        let v = parse(&body.to_json());
        assert_eq!(v["ResultMetadata"], json!({}));
        assert_eq!(v["Parameter"]["Value"], "s3cret");
        assert_eq!(v["Parameter"]["Selector"], ":1");
        assert_eq!(v["Parameter"]["SourceResult"], Value::Null);
        assert_eq!(v["Parameter"]["Version"], 1);
        assert_eq!(v["Parameter"].as_object().unwrap().len(), 9);
    }
}
