//! Masking JSON documents: rules by path, detection everywhere, the same shape out.
//!
//! A rule (`JsonPath` → [`Strategy`]) applies to the value it selects and, for objects and
//! arrays, to every scalar inside. Without a rule, a value is masked when its field name names a
//! secret (`password`, `api_key`, ...) or the text detectors find PII or secrets in it. The input
//! is never modified; the output has the same keys, arrays and nesting. Masked numbers and
//! booleans become strings (a mask is text); unmasked ones keep their type; `null` stays `null`.

use serde_json::{Map, Value};

use super::detect::{find_all, is_secret_key, PiiKind};
use super::format::{apply, MaskError, Strategy, TokenKey};
use super::path::{JsonPath, Step};
use super::text::{redact_text, RedactionCounts};

/// Why a document could not be masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonMaskError {
    #[error("the document is nested deeper than {max} levels")]
    TooDeep { max: usize },
    #[error("rule `{path}`: {source}")]
    Rule { path: String, source: MaskError },
}

/// A configured masker.
#[derive(Debug, Clone)]
pub struct JsonMasker {
    rules: Vec<(JsonPath, Strategy)>,
    detect: bool,
    token_key: Option<TokenKey>,
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

    pub fn max_depth(mut self, max_depth: usize) -> Self {
        self.max_depth = max_depth;
        self
    }

    /// True when a rule needs the token key.
    pub fn needs_token_key(&self) -> bool {
        self.rules.iter().any(|(_, s)| *s == Strategy::Token)
    }

    /// A masked copy of `document`.
    pub fn mask(&self, document: &Value) -> Result<(Value, MaskReport), JsonMaskError> {
        let mut report = MaskReport::default();
        let mut location = Vec::new();
        let masked = self.walk(document, &mut location, None, false, &mut report)?;
        Ok((masked, report))
    }

    fn rule_for(&self, location: &[Step<'_>]) -> Option<Strategy> {
        self.rules
            .iter()
            .rev()
            .find(|(path, _)| path.matches(location))
            .map(|(_, strategy)| *strategy)
    }

    fn walk<'a>(
        &self,
        value: &'a Value,
        location: &mut Vec<Step<'a>>,
        inherited: Option<Strategy>,
        secret_field: bool,
        report: &mut MaskReport,
    ) -> Result<Value, JsonMaskError> {
        if location.len() > self.max_depth {
            return Err(JsonMaskError::TooDeep {
                max: self.max_depth,
            });
        }
        let strategy = self.rule_for(location).or(inherited);
        match value {
            Value::Object(map) => {
                let mut out = Map::with_capacity(map.len());
                for (key, child) in map {
                    location.push(Step::Key(key));
                    let masked =
                        self.walk(child, location, strategy, is_secret_key(key), report)?;
                    location.pop();
                    out.insert(key.clone(), masked);
                }
                Ok(Value::Object(out))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (index, child) in items.iter().enumerate() {
                    location.push(Step::Index(index));
                    out.push(self.walk(child, location, strategy, secret_field, report)?);
                    location.pop();
                }
                Ok(Value::Array(out))
            }
            Value::Null => Ok(Value::Null),
            scalar => self.mask_scalar(scalar, location, strategy, secret_field, report),
        }
    }

    fn mask_scalar(
        &self,
        value: &Value,
        location: &[Step<'_>],
        strategy: Option<Strategy>,
        secret_field: bool,
        report: &mut MaskReport,
    ) -> Result<Value, JsonMaskError> {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(strategy) = strategy {
            report.by_rule += 1;
            let masked = apply(strategy, &text, self.token_key.as_ref()).map_err(|source| {
                JsonMaskError::Rule {
                    path: describe(location),
                    source,
                }
            })?;
            return Ok(Value::String(masked));
        }
        if !self.detect {
            return Ok(value.clone());
        }
        if secret_field {
            report.detected.add(PiiKind::Secret);
            return Ok(Value::String(super::format::redaction_marker(Some(
                PiiKind::Secret,
            ))));
        }
        match value {
            Value::String(s) => Ok(match redact_text(s, &mut report.detected) {
                std::borrow::Cow::Borrowed(_) => value.clone(),
                std::borrow::Cow::Owned(masked) => Value::String(masked),
            }),
            // A number is PII only if it is one whole: a card or phone stored as a number.
            _ => {
                let whole = find_all(&text)
                    .into_iter()
                    .find(|f| f.start == 0 && f.end == text.len());
                Ok(match whole {
                    Some(finding) => {
                        report.detected.add(finding.kind);
                        Value::String(super::text::default_mask(finding.kind, &text))
                    }
                    None => value.clone(),
                })
            }
        }
    }
}

/// `$.users[0].email` for error messages.
fn describe(location: &[Step<'_>]) -> String {
    let mut out = String::from("$");
    for step in location {
        match step {
            Step::Key(key) => {
                out.push('.');
                out.push_str(key);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
}
