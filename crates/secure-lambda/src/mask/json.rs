//! Masking JSON documents: rules by path, detection everywhere, the same shape out.
//!
//! A rule (`JsonPath` → [`Strategy`]) applies to the value it selects and, for objects and
//! arrays, to every scalar inside. Without a rule, a value is masked when it sits anywhere below
//! a key that names a secret (`password`, `api_key`, ...: `{"password": {"current": "..."}}` is
//! masked whole), when it is the value member beside a name member that names a secret
//! (`{"Name": "/prod/db/password", "Value": "..."}`), or when the text detectors find PII or
//! secrets in it; a key that names a kind (`phone`, `ssn`, `card`) labels its value for the
//! detectors, as `phone:` would in text. The input is never modified; the output has the same
//! keys, arrays and nesting. Masked numbers and booleans become strings (a mask is text);
//! unmasked ones keep their type; `null` stays `null`.
//!
//! Rules run as automata (see [`JsonPath::step`]): a document costs O(nodes x segments) per rule
//! whatever its depth. The masking itself is in [`super::stream`]: JSON text in, JSON text out,
//! no tree; [`JsonMasker::mask`] is that pass for a document already held as a `Value`.

use std::sync::Arc;

use serde_json::Value;

use super::format::{MaskError, Strategy, TokenKey, ValueSealer};
use super::path::JsonPath;
use super::stream::{JsonOut, StreamError};
use super::text::RedactionCounts;

/// Why a document could not be masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonMaskError {
    #[error("the document is nested deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("rule `{path}`: {source}")]
    Rule { path: String, source: MaskError },
    /// Only for a `Value` nested deeper than the JSON reader reads back (128 levels).
    #[error("the masked document could not be read back: {0}")]
    Output(String),
}

/// A configured masker.
#[derive(Debug, Clone)]
pub struct JsonMasker {
    rules: Vec<(JsonPath, Strategy)>,
    detect: bool,
    token_key: Option<TokenKey>,
    sealer: Option<Arc<dyn ValueSealer>>,
    max_depth: usize,
}

/// What a masking pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaskReport {
    /// Values masked because detection found them (by kind).
    pub detected: RedactionCounts,
    /// Values masked by a rule.
    pub by_rule: u64,
}

impl Default for JsonMasker {
    fn default() -> Self {
        Self::new()
    }
}

impl JsonMasker {
    /// Detection everywhere, no rules, depth limit 64.
    pub fn new() -> Self {
        Self {
            rules: Vec::new(),
            detect: true,
            token_key: None,
            sealer: None,
            max_depth: 64,
        }
    }

    pub fn rule(mut self, path: JsonPath, strategy: Strategy) -> Self {
        self.rules.push((path, strategy));
        self
    }

    pub fn detect(mut self, detect: bool) -> Self {
        self.detect = detect;
        self
    }

    pub fn token_key(mut self, key: Option<TokenKey>) -> Self {
        self.token_key = key;
        self
    }

    /// What seals the values of [`Strategy::Encrypt`] rules.
    pub fn sealer(mut self, sealer: Option<Arc<dyn ValueSealer>>) -> Self {
        self.sealer = sealer;
        self
    }

    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// True when a rule needs the token key.
    pub fn needs_token_key(&self) -> bool {
        self.rules.iter().any(|(_, s)| *s == Strategy::Token)
    }

    /// A masked copy of `document`: its JSON text through the streaming masker
    /// ([`JsonMasker::mask_json`]), read back.
    pub fn mask(&self, document: &Value) -> Result<(Value, MaskReport), JsonMaskError> {
        let text = document.to_string();
        let mut buf = Vec::with_capacity(text.len() + text.len() / 8 + 16);
        let report = match self.mask_json(&text, &mut JsonOut::new(&mut buf)) {
            Ok(report) => report,
            Err(StreamError::Record { error, .. }) => return Err(error),
            Err(other) => return Err(JsonMaskError::Output(other.to_string())),
        };
        let masked =
            serde_json::from_slice(&buf).map_err(|e| JsonMaskError::Output(e.to_string()))?;
        Ok((masked, report))
    }

    pub(super) fn rules(&self) -> &[(JsonPath, Strategy)] {
        &self.rules
    }

    pub(super) fn detects(&self) -> bool {
        self.detect
    }

    pub(super) fn depth_limit(&self) -> usize {
        self.max_depth
    }

    pub(super) fn token_key_ref(&self) -> Option<&TokenKey> {
        self.token_key.as_ref()
    }

    pub(super) fn sealer_ref(&self) -> Option<&dyn ValueSealer> {
        self.sealer.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::PiiKind;
    use serde_json::{json, Map};

    fn path(s: &str) -> JsonPath {
        JsonPath::parse(s).unwrap()
    }

    #[test]
    fn rules_by_path_and_detection_elsewhere() {
        let input = json!({
            "users": [
                {"id": "USR-001", "email": "jane.doe@example.com", "phone": "+1-555-123-4567", "notes": "card 4111 1111 1111 1111", "age": 41, "vip": true, "nick": null},
                {"id": "USR-002", "email": "jo@example.com", "phone": "+1-555-987-6543", "notes": "none", "age": 37, "vip": false, "nick": "J"}
            ],
            "auth": {"password": "hunter2", "apiKey": 12345},
            "count": 2
        });
        let masker = JsonMasker::new()
            .rule(path("$.users[*].email"), Strategy::Lab(PiiKind::Email))
            .rule(path("$.users[*].phone"), Strategy::Lab(PiiKind::Phone))
            .rule(path("$.users[*].vip"), Strategy::Redact(None));
        let before = input.clone();
        let (masked, report) = masker.mask(&input).unwrap();
        assert_eq!(input, before, "input untouched");
        assert_eq!(masked["users"][0]["email"], "j***e@example.com");
        assert_eq!(masked["users"][1]["email"], "j***@example.com");
        assert_eq!(masked["users"][0]["phone"], "***-***-**67");
        assert_eq!(masked["users"][0]["notes"], "card ****-****-****-1111");
        assert_eq!(
            masked["users"][0]["age"], 41,
            "unmasked numbers stay numbers"
        );
        assert_eq!(
            masked["users"][0]["vip"], "[REDACTED]",
            "masked booleans become strings"
        );
        assert_eq!(masked["users"][0]["nick"], Value::Null);
        assert_eq!(masked["users"][1]["notes"], "none");
        assert_eq!(masked["auth"]["password"], "[REDACTED:SECRET]");
        assert_eq!(masked["auth"]["apiKey"], "[REDACTED:SECRET]");
        assert_eq!(masked["count"], 2);
        assert_eq!(report.by_rule, 6);
        assert_eq!(report.detected.get(PiiKind::Card), 1);
    }

    #[test]
    fn rule_on_a_container_masks_every_scalar_inside() {
        let masker = JsonMasker::new().rule(path("$..address"), Strategy::PreserveLength);
        let (masked, _) = masker
            .mask(&json!({"a": {"address": {"street": "1 Main St", "zip": 12345}}}))
            .unwrap();
        assert_eq!(
            masked,
            json!({"a": {"address": {"street": "* **** **", "zip": "*****"}}})
        );
    }

    #[test]
    fn numbers_that_are_cards_are_masked() {
        let (masked, _) = JsonMasker::new()
            .mask(&json!({"n": 4111111111111111u64, "m": 4111111111111112u64}))
            .unwrap();
        assert_eq!(
            masked,
            json!({"n": "****-****-****-1111", "m": 4111111111111112u64})
        );
    }

    #[test]
    fn depth_is_limited_and_tokens_need_a_key() {
        let mut deep = json!(1);
        for _ in 0..10 {
            deep = json!([deep]);
        }
        assert_eq!(
            JsonMasker::new().max_depth(5).mask(&deep).unwrap_err(),
            JsonMaskError::TooDeep { max: 5 }
        );
        let masker = JsonMasker::new().rule(path("$.e"), Strategy::Token);
        assert!(masker.needs_token_key());
        let err = masker.mask(&json!({"e": "x"})).unwrap_err();
        assert!(err.to_string().contains("$.e"), "{err}");
        let keyed = masker.token_key(TokenKey::new(vec![7; 32]));
        let (a, _) = keyed.mask(&json!({"e": "jane@example.com"})).unwrap();
        let (b, _) = keyed.mask(&json!({"e": "jane@example.com"})).unwrap();
        assert_eq!(a, b, "tokens are deterministic: masked data stays joinable");
    }

    #[test]
    fn values_below_a_secret_key_are_masked_at_any_depth() {
        let (masked, report) = JsonMasker::new()
            .mask(&json!({
                "password": {"current": "hunter2-very-secret", "history": ["a1", {"b": 7}], "none": null},
                "client_secret": {"value": "s3cr3t-abcdef"},
                "user": "u1"
            }))
            .unwrap();
        assert_eq!(
            masked,
            json!({
                "password": {"current": "[REDACTED:SECRET]", "history": ["[REDACTED:SECRET]", {"b": "[REDACTED:SECRET]"}], "none": null},
                "client_secret": {"value": "[REDACTED:SECRET]"},
                "user": "u1"
            })
        );
        assert_eq!(report.detected.get(PiiKind::Secret), 4);
    }

    #[test]
    fn value_members_beside_secret_names_are_masked() {
        let (masked, _) = JsonMasker::new()
            .mask(&json!({
                "Parameters": [
                    {"Name": "/prod/db/host", "Value": "db.internal"},
                    {"Name": "/prod/db/password", "Type": "SecureString", "Value": "pg-secret"}
                ],
                "env": [{"name": "API_TOKEN", "value": "tok-1"}, {"name": "LOG_LEVEL", "value": "debug"}],
                "cfn": {"ParameterValue": "cfn-secret", "ParameterKey": "DbPassword"}
            }))
            .unwrap();
        assert_eq!(masked["Parameters"][0]["Value"], "db.internal");
        assert_eq!(masked["Parameters"][1]["Value"], "[REDACTED:SECRET]");
        assert_eq!(masked["Parameters"][1]["Name"], "/prod/db/password");
        assert_eq!(masked["env"][0]["value"], "[REDACTED:SECRET]");
        assert_eq!(masked["env"][1]["value"], "debug");
        assert_eq!(masked["cfn"]["ParameterValue"], "[REDACTED:SECRET]");
    }

    #[test]
    fn keys_label_their_values() {
        let (masked, _) = JsonMasker::new()
            .mask(&json!({
                "phone": "4155552671",
                "mobile": 4155552671u64,
                "ssn": "123456789",
                "phones": {"home": "x"},
                "order": "4155552671",
                "cards": {"cc": ["4111111111111111"]}
            }))
            .unwrap();
        assert_eq!(masked["phone"], "***-***-**71");
        assert_eq!(masked["mobile"], "***-***-**71");
        assert_eq!(masked["ssn"], "***-**-6789");
        assert_eq!(
            masked["order"], "4155552671",
            "a bare number without a label"
        );
        assert_eq!(masked["cards"]["cc"][0], "****-****-****-1111");
    }

    #[test]
    fn recursive_rules_cost_linear_time() {
        let mut record = json!("leaf");
        for _ in 0..32 {
            record = json!({ "a": record });
        }
        let rule = format!("${}", "..a".repeat(16));
        let masker = JsonMasker::new()
            .rule(path(&rule), Strategy::Redact(None))
            .max_depth(64);
        let started = std::time::Instant::now();
        let (masked, report) = masker.mask(&record).unwrap();
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(report.by_rule, 1);
        assert!(masked.to_string().contains("[REDACTED]"));
    }

    #[test]
    fn cookies_labels_keys_and_key_pairs() {
        let (masked, _) = JsonMasker::new()
            .mask(&json!({
                "headers": {"Cookie": "theme=dark; sessionid=abc123secretvalue1"},
                "multiValueHeaders": {"Cookie": ["sessionid=abc123secretvalue2"]},
                "cookies": ["connect.sid=s%3Asecretvalue3", "lang=en"],
                "Set-Cookie": "sid=first-secret; Path=/, token=second-secret; Path=/",
                "phone": {"countryCode": "1", "number": "4155552671"},
                "phone1": "4155552672",
                "balances": {"jane.doe@example.com": 12, "john@example.com": 3},
                "keys": ["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
                "SecretString": "plain-s3cr3t-value-xyz"
            }))
            .unwrap();
        let text = masked.to_string();
        for secret in [
            "abc123secretvalue1",
            "abc123secretvalue2",
            "secretvalue3",
            "first-secret",
            "second-secret",
            "4155552671",
            "4155552672",
            "jane.doe@example.com",
            "john@example.com",
            "wJalrXUtnFEMI",
            "plain-s3cr3t",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(
            masked["headers"]["Cookie"],
            "theme=dark; sessionid=[REDACTED:SECRET]"
        );
        assert_eq!(masked["cookies"][1], "lang=en");
        assert_eq!(masked["balances"].as_object().map(Map::len), Some(2));
    }

    #[test]
    fn the_email_strategy_keeps_a_domain_only_of_an_email() {
        let masker = JsonMasker::new().rule(path("$.contact"), Strategy::Lab(PiiKind::Email));
        let (masked, _) = masker
            .mask(&json!({"contact": "jane.doe@example.com, SSN 123-45-6789, password=hunter2"}))
            .unwrap();
        assert_eq!(masked["contact"], "[REDACTED:EMAIL]");
        let (masked, _) = masker
            .mask(&json!({"contact": "jane.doe@example.com"}))
            .unwrap();
        assert_eq!(masked["contact"], "j***e@example.com");
    }
}
