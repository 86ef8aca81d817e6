//! Field-level encryption of JSON records, as Powertools' TypeScript Data Masking writes it:
//! each selected value becomes the standard base64 of one ESDK message of its JSON; a rule on
//! `$` seals a record whole (Powertools Python's `encrypt(record)`).
//!
//! - [`FieldSealer`] is the [`ValueSealer`] of the masker's `encrypt` strategy: its data keys are
//!   fetched before masking starts (one `GenerateDataKey` per context, none while cached), so the
//!   masking stays one synchronous pass.
//! - [`decrypt_fields`] puts the values back: every selected value of every record is opened
//!   under the exact expected context, concurrently (sealed under one data key, they cost one
//!   KMS `Decrypt` through the decrypt cache), and the records change only when all opened.
//!
//! **Path binding** ([`PathBinding::Bound`]) adds `field = <the rule's path, as written>` to
//! each value's context, so that a ciphertext moved to another field (the `ssn` value pasted into
//! `email`) no longer decrypts there. Powertools still decrypts such a value when its reader
//! passes the same context (`decrypt(value, tenant="a", field="$.ssn")`). A bound path selects
//! one value per record (no `*`, no `..`): one context for several values would let them trade
//! places. Records are not bound: a value moved to the same field of another record decrypts.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::Value;

use super::{CryptoError, DataKeys, EncryptionContext, Esdk, Sealer};
use crate::mask::{JsonPath, MaskError, PathState, Step, ValueSealer};

/// The context key that binds a value to the rule that selected it.
pub const FIELD_CONTEXT_KEY: &str = "field";

/// KMS calls of one request at once: enough to overlap KMS round trips for values of
/// different data keys without a burst of calls.
const KMS_CONCURRENCY: usize = 16;

/// Whether a value's context names the rule that selected it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathBinding {
    /// The caller's context only: what Powertools writes and reads by default.
    #[default]
    Unbound,
    /// The caller's context plus `field = <rule path>`.
    Bound,
}

/// The context a value selected by `rule` is sealed under.
pub fn field_context(
    context: &EncryptionContext,
    rule: &JsonPath,
    binding: PathBinding,
) -> Result<EncryptionContext, CryptoError> {
    match binding {
        PathBinding::Unbound => Ok(context.clone()),
        PathBinding::Bound => {
            // The context names the rule, not the value's place: a rule selecting several values
            // would seal them all under one context, and they could be swapped.
            if !rule.is_singular() {
                return Err(CryptoError::UnbindablePath(rule.as_str().to_owned()));
            }
            if context.get(FIELD_CONTEXT_KEY).is_some() {
                return Err(CryptoError::InvalidContextKey {
                    key: FIELD_CONTEXT_KEY.to_owned(),
                    reason: "is set by path binding and cannot be given as well",
                });
            }
            EncryptionContext::from_pairs(
                context.iter().chain([(FIELD_CONTEXT_KEY, rule.as_str())]),
            )
        }
    }
}

/// Seals the values of `encrypt` rules, each under its rule's context.
#[derive(Debug)]
pub struct FieldSealer {
    /// By rule path text when bound; one entry under `""` when not.
    sealers: BTreeMap<String, Sealer>,
    binding: PathBinding,
    /// Values sealed so far, and how many one request may seal: each costs a signature, and
    /// the masking pass cannot stop for the time budget.
    sealed: std::sync::atomic::AtomicUsize,
    max_values: usize,
}

impl FieldSealer {
    /// Fetches the data keys of `rules` under `context`: one for all when unbound, one per rule
    /// when bound (concurrently). `expected_bytes` bounds what will be sealed (the request's
    /// size), counted against the data key cache's byte limit.
    pub async fn prepare<K: DataKeys>(
        esdk: &Esdk<K>,
        context: &EncryptionContext,
        rules: &[&JsonPath],
        binding: PathBinding,
        expected_bytes: u64,
    ) -> Result<Self, CryptoError> {
        let contexts: BTreeMap<String, EncryptionContext> = match binding {
            PathBinding::Unbound => BTreeMap::from([(String::new(), context.clone())]),
            PathBinding::Bound => rules
                .iter()
                .map(|rule| {
                    Ok((
                        rule.as_str().to_owned(),
                        field_context(context, rule, binding)?,
                    ))
                })
                .collect::<Result<_, CryptoError>>()?,
        };
        let sealers = stream::iter(contexts)
            .map(|(rule, context)| async move {
                esdk.sealer(&context, expected_bytes)
                    .await
                    .map(|sealer| (rule, sealer))
            })
            .buffer_unordered(KMS_CONCURRENCY)
            .try_collect()
            .await?;
        Ok(Self {
            sealers,
            binding,
            sealed: std::sync::atomic::AtomicUsize::new(0),
            max_values: usize::MAX,
        })
    }

    /// Refuses to seal more than `max` values (the request is answered with the error).
    pub fn with_max_values(mut self, max: usize) -> Self {
        self.max_values = max;
        self
    }

    /// As a masker's sealer.
    pub fn shared(self) -> Arc<dyn ValueSealer> {
        Arc::new(self)
    }
}

impl ValueSealer for FieldSealer {
    fn seal(&self, json: &[u8], rule: &JsonPath) -> Result<String, MaskError> {
        let key = match self.binding {
            PathBinding::Unbound => "",
            PathBinding::Bound => rule.as_str(),
        };
        let sealer = self.sealers.get(key).ok_or(MaskError::NoSealer)?;
        let sealed = self
            .sealed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if sealed >= self.max_values {
            return Err(MaskError::TooManyValues {
                max: self.max_values,
            });
        }
        sealer
            .seal_json(json)
            .map_err(|error| MaskError::Seal(error.to_string()))
    }
}

/// Where a value that could not be decrypted sits, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("records[{record}] at {path}: {error}")]
pub struct FieldError {
    pub record: usize,
    /// The value's location in its record (`$.cards[1]`).
    pub path: String,
    pub error: FieldFailure,
}

/// Why a selected value was not decrypted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldFailure {
    #[error("the value is a {0}, not an encrypted value (a base64 string)")]
    NotCiphertext(&'static str),
    #[error("the value is {len} characters long; encrypted values are at most {max}")]
    TooLong { len: usize, max: usize },
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

/// Limits of one [`decrypt_fields`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptLimits {
    /// Selected values across all records.
    pub max_fields: usize,
    /// Characters of one selected value.
    pub max_value_len: usize,
}

/// Why [`decrypt_fields`] gave nothing back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptFieldsError {
    #[error("the rules select more than {max} values")]
    TooManyFields { max: usize },
    #[error(transparent)]
    Field(#[from] FieldError),
}

/// A selected value: its record, its JSON pointer (to put it back) and its path (to name it).
struct Target {
    record: usize,
    pointer: String,
    path: String,
    rule: usize,
}

/// Replaces each value `rules` select in `records` with what it decrypts to, or changes nothing
/// and names the first value (in document order) that failed. Returns how many were decrypted.
pub async fn decrypt_fields<K: DataKeys>(
    esdk: &Esdk<K>,
    records: &mut [Value],
    rules: &[JsonPath],
    context: &EncryptionContext,
    binding: PathBinding,
    limits: DecryptLimits,
) -> Result<usize, DecryptFieldsError> {
    let mut targets = Vec::new();
    for (record, value) in records.iter().enumerate() {
        let states: Vec<PathState> = rules.iter().map(JsonPath::start).collect();
        let mut walk = Walk {
            rules,
            record,
            targets: &mut targets,
            max: limits.max_fields,
        };
        walk.visit(value, &states, &mut String::new(), &mut String::from("$"))?;
    }
    let contexts: Vec<EncryptionContext> = rules
        .iter()
        .map(|rule| field_context(context, rule, binding))
        .collect::<Result<_, _>>()
        .map_err(|error| FieldError {
            record: 0,
            path: "$".to_owned(),
            error: error.into(),
        })?;
    let records_ref: &[Value] = records;
    let (targets_ref, contexts_ref) = (&targets, &contexts);
    // Indices, not references, into the stream: its futures must be `Send` for any lifetime.
    let values: Vec<Value> = stream::iter(0..targets.len())
        .map(|index| {
            let target = &targets_ref[index];
            async move {
                let fail = |error: FieldFailure| FieldError {
                    record: target.record,
                    path: target.path.clone(),
                    error,
                };
                let value = records_ref
                    .get(target.record)
                    .and_then(|record| record.pointer(&target.pointer));
                let text = match value {
                    Some(Value::String(text)) => text,
                    Some(other) => return Err(fail(FieldFailure::NotCiphertext(kind(other)))),
                    None => return Err(fail(FieldFailure::NotCiphertext("missing value"))),
                };
                if text.len() > limits.max_value_len {
                    return Err(fail(FieldFailure::TooLong {
                        len: text.len(),
                        max: limits.max_value_len,
                    }));
                }
                esdk.decrypt_json(text, &contexts_ref[target.rule])
                    .await
                    .map_err(|error| fail(error.into()))
            }
        })
        // In order, so that the error reported is the first value's, whatever finished first;
        // the first error drops the calls still in flight and starts no more (a request of
        // forged messages costs at most `KMS_CONCURRENCY` KMS calls past its first failure).
        .buffered(KMS_CONCURRENCY)
        .try_collect()
        .await?;
    for (target, value) in targets.iter().zip(values) {
        if let Some(slot) = records
            .get_mut(target.record)
            .and_then(|record| record.pointer_mut(&target.pointer))
        {
            *slot = value;
        }
    }
    Ok(targets.len())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Finds the values rules select in one record.
struct Walk<'r, 't> {
    rules: &'r [JsonPath],
    record: usize,
    targets: &'t mut Vec<Target>,
    max: usize,
}

impl Walk<'_, '_> {
    /// `pointer` is the RFC 6901 pointer of `value`, `path` its JSONPath for messages. A value a
    /// rule selects is a target as a whole: nothing below it is looked at.
    fn visit(
        &mut self,
        value: &Value,
        states: &[PathState],
        pointer: &mut String,
        path: &mut String,
    ) -> Result<(), DecryptFieldsError> {
        let selected = self
            .rules
            .iter()
            .zip(states)
            .rposition(|(rule, state)| rule.accepts(*state));
        if let Some(rule) = selected {
            if self.targets.len() == self.max {
                return Err(DecryptFieldsError::TooManyFields { max: self.max });
            }
            self.targets.push(Target {
                record: self.record,
                pointer: pointer.clone(),
                path: path.clone(),
                rule,
            });
            return Ok(());
        }
        let (pointer_len, path_len) = (pointer.len(), path.len());
        match value {
            Value::Object(members) => {
                for (key, child) in members {
                    let next = self.step(states, Step::Key(key));
                    pointer.push('/');
                    pointer.push_str(&key.replace('~', "~0").replace('/', "~1"));
                    if key
                        .chars()
                        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
                    {
                        path.push('.');
                        path.push_str(key);
                    } else {
                        path.push_str("['");
                        path.push_str(&key.replace('\\', "\\\\").replace('\'', "\\'"));
                        path.push_str("']");
                    }
                    self.visit(child, &next, pointer, path)?;
                    pointer.truncate(pointer_len);
                    path.truncate(path_len);
                }
            }
            Value::Array(items) => {
                for (index, child) in items.iter().enumerate() {
                    let next = self.step(states, Step::Index(index));
                    pointer.push('/');
                    pointer.push_str(&index.to_string());
                    path.push_str(&format!("[{index}]"));
                    self.visit(child, &next, pointer, path)?;
                    pointer.truncate(pointer_len);
                    path.truncate(path_len);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn step(&self, states: &[PathState], step: Step<'_>) -> Vec<PathState> {
        self.rules
            .iter()
            .zip(states)
            .map(|(rule, state)| rule.step(*state, step))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeKms;
    use super::*;
    use crate::crypto::CachePolicy;
    use crate::mask::{JsonMasker, Strategy};
    use serde_json::json;

    const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn esdk() -> Esdk<FakeKms> {
        Esdk::new(FakeKms::default(), ARN)
            .unwrap()
            .with_cache(CachePolicy::default())
    }

    fn tenant(value: &str) -> EncryptionContext {
        EncryptionContext::from_pairs([("tenant", value)]).unwrap()
    }

    fn path(text: &str) -> JsonPath {
        JsonPath::parse(text).unwrap()
    }

    const LIMITS: DecryptLimits = DecryptLimits {
        max_fields: 100,
        max_value_len: 1 << 20,
    };

    fn record() -> Value {
        json!({
            "id": 7,
            "email": "zoë@example.com",
            "ssn": "123-45-6789",
            "cards": [4111111111111111u64, "5500 0000 0000 0004"],
            "address": {"postcode": 12000, "street": "Straße 1"},
            "note": "call 415-555-0100",
        })
    }

    /// Masks `records` with `rules` (encrypt among them) through the streaming masker.
    async fn seal(
        esdk: &Esdk<FakeKms>,
        records: &[Value],
        rules: &[(&str, Strategy)],
        context: &EncryptionContext,
        binding: PathBinding,
    ) -> Vec<Value> {
        let rules: Vec<(JsonPath, Strategy)> = rules.iter().map(|(p, s)| (path(p), *s)).collect();
        let encrypting: Vec<&JsonPath> = rules
            .iter()
            .filter(|(_, s)| *s == Strategy::Encrypt)
            .map(|(p, _)| p)
            .collect();
        let sealer = FieldSealer::prepare(esdk, context, &encrypting, binding, 1 << 20)
            .await
            .unwrap();
        let masker = rules
            .into_iter()
            .fold(JsonMasker::new(), |m, (p, s)| m.rule(p, s))
            .sealer(Some(sealer.shared()));
        records
            .iter()
            .map(|record| masker.mask(record).unwrap().0)
            .collect()
    }

    #[tokio::test]
    async fn fields_round_trip_with_one_kms_call_each_way() {
        let esdk = esdk();
        let rules = [
            ("$.email", Strategy::Encrypt),
            ("$.ssn", Strategy::Encrypt),
            ("$.cards[*]", Strategy::Encrypt),
            ("$.address", Strategy::Encrypt),
        ];
        let records = vec![record(), record(), record()];
        let mut sealed = seal(&esdk, &records, &rules, &tenant("a"), PathBinding::Unbound).await;
        assert_eq!(esdk.data_keys().generated(), 1);
        for record in &sealed {
            for field in ["email", "ssn", "address"] {
                assert!(
                    record[field].as_str().unwrap().starts_with("AgV4"),
                    "{field}"
                );
            }
            assert!(record["cards"][0].as_str().unwrap().starts_with("AgV4"));
            // Outside the rules, detection still masks.
            assert_eq!(record["id"], 7);
            assert!(!record["note"].as_str().unwrap().contains("555-0100"));
        }
        let paths: Vec<JsonPath> = rules.iter().map(|(p, _)| path(p)).collect();
        let count = decrypt_fields(
            &esdk,
            &mut sealed,
            &paths,
            &tenant("a"),
            PathBinding::Unbound,
            LIMITS,
        )
        .await
        .unwrap();
        assert_eq!(count, 3 * 5);
        assert_eq!(esdk.data_keys().decrypted(), 1);
        for record in &sealed {
            assert_eq!(record["email"], "zoë@example.com");
            assert_eq!(record["cards"][0], 4111111111111111u64);
            assert_eq!(
                record["address"],
                json!({"postcode": 12000, "street": "Straße 1"})
            );
        }
    }

    #[tokio::test]
    async fn a_whole_record_is_one_value() {
        let esdk = esdk();
        let mut sealed = seal(
            &esdk,
            &[record()],
            &[("$", Strategy::Encrypt)],
            &tenant("a"),
            PathBinding::Unbound,
        )
        .await;
        assert!(sealed[0].as_str().unwrap().starts_with("AgV4"));
        decrypt_fields(
            &esdk,
            &mut sealed,
            &[path("$")],
            &tenant("a"),
            PathBinding::Unbound,
            LIMITS,
        )
        .await
        .unwrap();
        assert_eq!(sealed[0], record());
    }

    #[tokio::test]
    async fn bound_fields_cannot_be_moved_and_nothing_changes_on_failure() {
        let esdk = esdk();
        let rules = [("$.email", Strategy::Encrypt), ("$.ssn", Strategy::Encrypt)];
        let sealed = seal(&esdk, &[record()], &rules, &tenant("a"), PathBinding::Bound).await;
        // One data key per bound rule.
        assert_eq!(esdk.data_keys().generated(), 2);
        let paths = [path("$.email"), path("$.ssn")];
        let mut moved = sealed.clone();
        moved[0]["email"] = sealed[0]["ssn"].clone();
        let before = moved.clone();
        let error = decrypt_fields(
            &esdk,
            &mut moved,
            &paths,
            &tenant("a"),
            PathBinding::Bound,
            LIMITS,
        )
        .await
        .unwrap_err();
        let DecryptFieldsError::Field(field) = error else {
            panic!("{error:?}")
        };
        assert_eq!((field.record, field.path.as_str()), (0, "$.email"));
        assert_eq!(
            field.error,
            FieldFailure::Crypto(CryptoError::ContextMismatch)
        );
        assert_eq!(moved, before, "no partial result");
        // Unbound, the same move goes unnoticed: what binding is for.
        let unbound = seal(
            &esdk,
            &[record()],
            &rules,
            &tenant("a"),
            PathBinding::Unbound,
        )
        .await;
        let mut moved = unbound.clone();
        moved[0]["email"] = unbound[0]["ssn"].clone();
        decrypt_fields(
            &esdk,
            &mut moved,
            &paths,
            &tenant("a"),
            PathBinding::Unbound,
            LIMITS,
        )
        .await
        .unwrap();
        assert_eq!(moved[0]["email"], "123-45-6789");
        // A caller's own `field` entry would be ambiguous.
        let context = EncryptionContext::from_pairs([("tenant", "a"), ("field", "$.x")]).unwrap();
        let error = FieldSealer::prepare(&esdk, &context, &[&paths[0]], PathBinding::Bound, 1)
            .await
            .unwrap_err();
        assert!(
            matches!(error, CryptoError::InvalidContextKey { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn bad_values_are_named_and_limits_hold() {
        let esdk = esdk();
        let sealed = seal(
            &esdk,
            &[record(), record()],
            &[("$.ssn", Strategy::Encrypt)],
            &tenant("a"),
            PathBinding::Unbound,
        )
        .await;
        let paths = [path("$.ssn")];
        let run = |mut records: Vec<Value>, context: EncryptionContext, limits| {
            let esdk = &esdk;
            let paths = &paths;
            async move {
                decrypt_fields(
                    esdk,
                    &mut records,
                    paths,
                    &context,
                    PathBinding::Unbound,
                    limits,
                )
                .await
            }
        };
        let field_error = |result: Result<usize, DecryptFieldsError>| match result {
            Err(DecryptFieldsError::Field(field)) => (field.record, field.path, field.error),
            other => panic!("{other:?}"),
        };
        let (record, path, error) = field_error(run(sealed.clone(), tenant("b"), LIMITS).await);
        assert_eq!((record, path.as_str()), (0, "$.ssn"));
        assert_eq!(error, FieldFailure::Crypto(CryptoError::ContextMismatch));

        let mut truncated = sealed.clone();
        let text = truncated[1]["ssn"].as_str().unwrap().to_owned();
        truncated[1]["ssn"] = json!(&text[..text.len() - 40]);
        let (record, _, error) = field_error(run(truncated, tenant("a"), LIMITS).await);
        assert_eq!(record, 1);
        assert!(matches!(error, FieldFailure::Crypto(_)), "{error:?}");

        let mut number = sealed.clone();
        number[0]["ssn"] = json!(123456789);
        let (_, _, error) = field_error(run(number, tenant("a"), LIMITS).await);
        assert_eq!(error, FieldFailure::NotCiphertext("number"));

        let mut not_base64 = sealed.clone();
        not_base64[0]["ssn"] = json!("123-45-6789");
        let (_, _, error) = field_error(run(not_base64, tenant("a"), LIMITS).await);
        assert!(
            matches!(error, FieldFailure::Crypto(CryptoError::NotAMessage(_))),
            "{error:?}"
        );

        let small = DecryptLimits {
            max_fields: 1,
            ..LIMITS
        };
        assert_eq!(
            run(sealed.clone(), tenant("a"), small).await,
            Err(DecryptFieldsError::TooManyFields { max: 1 })
        );
        let short = DecryptLimits {
            max_value_len: 100,
            ..LIMITS
        };
        let (_, _, error) = field_error(run(sealed, tenant("a"), short).await);
        assert!(
            matches!(error, FieldFailure::TooLong { max: 100, .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn detection_after_a_sealed_container_still_sees_its_notes() {
        // The sealed object holds containers the first scan took notes of; the value after it
        // must still be read as a secret beside its key id.
        let esdk = esdk();
        let record = json!({
            "a": {"inner": [{"x": 1}], "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"},
            "creds": {"AccessKeyId": "AKIAIOSFODNN7EXAMPLE",
                      "other": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
        });
        let sealed = seal(
            &esdk,
            &[record],
            &[("$.a", Strategy::Encrypt)],
            &tenant("a"),
            PathBinding::Unbound,
        )
        .await;
        let text = sealed[0].to_string();
        assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
        assert!(!text.contains("AKIAIOSFODNN7EXAMPLE"), "{text}");
    }

    #[test]
    fn encrypt_without_a_sealer_is_an_error_not_a_leak() {
        let masker = JsonMasker::new().rule(path("$.ssn"), Strategy::Encrypt);
        let error = masker.mask(&record()).unwrap_err();
        assert!(error.to_string().contains("encryption key"), "{error}");
    }
}
