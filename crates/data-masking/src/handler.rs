//! The `data-masking` handler: the lab's sample users, or caller records masked by field rules
//! and detection, some values perhaps encrypted; in decrypt mode, those values put back.
//!
//! Direct invocations send the request as the event; HTTP callers `POST /mask` (IAM) or
//! `POST /encrypt` (Cognito ID token) it as the body, and `POST /decrypt` to the decrypt
//! function. The encryption context of a direct invocation is the one it names (its IAM caller
//! answers for it); over HTTP its tenant is the verified token's. Logs carry counts and the
//! masked output only, never the input; nothing of a ciphertext or a decrypted value.

use std::collections::BTreeMap;

use secure_lambda::crypto::fields::{
    decrypt_fields, DecryptFieldsError, DecryptLimits, FieldError, FieldFailure, FieldSealer,
    PathBinding,
};
use secure_lambda::crypto::{CryptoError, DataKeys, EncryptionContext, Esdk};
use secure_lambda::envelope::{self, EventText, HttpRequest, Invocation, ResponseStyle};
use secure_lambda::mask::{
    JsonMaskError, JsonMasker, JsonOut, MaskError, MaskReport, PiiKind, StreamError, TokenKey,
};
use secure_lambda::runtime::{self, Function};
use secure_lambda::secrets::{CacheCounters, ParameterSource, SecretSource, SecretStore};
use secure_lambda::ApiError;
use serde_json::{json, Map, Value};

use crate::config::{Config, Mode};
use crate::request::{self, EncryptionRequest, MaskText, RecordsEnd, RequestText};
use crate::sample;

/// How much of the masked output a log line shows.
const LOG_PREVIEW_CHARS: usize = 2048;

/// Lambda's limit on a synchronous invocation's response, in bytes. A request near the 6 MB
/// request limit can mask to more than this (the response carries the records as an escaped
/// string), and Lambda would fail the invocation with no answer to the caller; the function
/// answers 413 instead.
pub const LAMBDA_RESPONSE_LIMIT_BYTES: usize = 6_291_556;

/// The function: limits, the store that holds the token key, and the envelope encryption of
/// reversible masking (when a key is configured).
pub struct DataMasking<S, P, K> {
    store: SecretStore<S, P>,
    config: Config,
    esdk: Option<Esdk<K>>,
    /// How a request's records' end is found first (tests compare the two ways).
    records_end: RecordsEnd,
}

impl<S: SecretSource, P: ParameterSource, K: DataKeys> DataMasking<S, P, K> {
    pub fn new(store: SecretStore<S, P>, config: Config, esdk: Option<Esdk<K>>) -> Self {
        Self {
            store,
            config,
            esdk,
            records_end: RecordsEnd::FromBack,
        }
    }

    #[cfg(test)]
    pub fn store(&self) -> &SecretStore<S, P> {
        &self.store
    }

    /// One event's text to its response's text. The records are masked from the request's text
    /// straight into the response: memory is the event, its body and the response, each once.
    pub async fn answer_text(&self, event: String) -> String {
        let max = self.config.max_body_bytes;
        let event = match EventText::parse(event, max, || request::too_large(max)) {
            Ok(event) => event,
            Err(error) => return finish(ResponseStyle::Direct, Err(error)),
        };
        let style = event.style();
        let work = self.respond(event);
        let outcome = match runtime::budget_end() {
            Some(end) => tokio::time::timeout_at(end, work)
                .await
                .unwrap_or_else(|_| Err(runtime::out_of_time())),
            None => work.await,
        };
        finish(style, outcome)
    }

    async fn respond(&self, event: EventText) -> Result<String, ApiError> {
        let style = event.style();
        let (text, http) = match &event {
            EventText::Direct(text) => (text.as_str(), None),
            EventText::Http { request, body } => {
                check_route(request, self.config.mode)?;
                (body.as_str(), Some(request))
            }
        };
        let direct = style == ResponseStyle::Direct;
        if self.config.mode == Mode::Decrypt {
            return self.decrypt(style, http, text).await;
        }
        let mut how = self.records_end;
        loop {
            let request =
                match request::parse_text_with(text, self.config.max_body_bytes, direct, how)? {
                    RequestText::SampleUsers => {
                        return Ok(envelope::respond(style, 200, &self.sample_users()?).to_string())
                    }
                    RequestText::Mask(request) => request,
                };
            // Where the records start in the text, for the line and column of a number JSON
            // cannot hold (`1e400`), found only as the records are read.
            let offset = (request.records.as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
            let guessed = request.records_end_guessed;
            let error = match self.mask(style, http, request).await {
                Ok(response) => return Ok(response),
                Err(Masking::MaskedWhole(error)) => return Err(error),
                // The records may end before the guessed end, and the members between be
                // rules: no error is answered from a guess.
                Err(_) if guessed => {
                    how = RecordsEnd::Scanned;
                    continue;
                }
                Err(error) => error,
            };
            // The records were checked as they were masked: text that is not JSON anywhere
            // gets JSON's error, as if it had been read whole first.
            request::check_json(text, direct)?;
            return Err(match error {
                Masking::Syntax(at) => request::not_json_at(direct, text, offset + at),
                Masking::Api(error) | Masking::MaskedWhole(error) => error,
            });
        }
    }

    /// The envelope encryption, or the error for a request that needs it where none is set up.
    fn esdk(&self, field: String) -> Result<&Esdk<K>, ApiError> {
        self.esdk.as_ref().ok_or_else(|| {
            ApiError::bad_request(
                "EncryptionNotConfigured",
                "this function has no KMS key for reversible masking (ENCRYPTION_KEY_ARN)",
            )
            .with_field(field)
        })
    }

    /// The sealer of a request's `encrypt` rules: its data keys fetched now, under the context
    /// the caller may use.
    async fn sealer(
        &self,
        http: Option<&HttpRequest>,
        request: &MaskText<'_>,
    ) -> Result<Option<std::sync::Arc<dyn secure_lambda::mask::ValueSealer>>, ApiError> {
        let encrypting = request.encrypting();
        let Some(first) = encrypting.first() else {
            return Ok(None);
        };
        let esdk = self.esdk(format!("rules.{}", first.as_str()))?;
        let context = encryption_context(http, &request.encryption, &self.config.tenant_claim)?;
        let sealer = FieldSealer::prepare(
            esdk,
            &context,
            &encrypting,
            binding(&request.encryption),
            request.records.len() as u64,
        )
        .await
        .map_err(|error| context_field(ApiError::from(&error)))?
        .with_max_values(self.config.max_decrypt_fields);
        Ok(Some(sealer.shared()))
    }

    /// Decrypt mode: the values the request's paths select, put back.
    async fn decrypt(
        &self,
        style: ResponseStyle,
        http: Option<&HttpRequest>,
        text: &str,
    ) -> Result<String, ApiError> {
        let direct = style == ResponseStyle::Direct;
        let esdk = self.esdk("fields".to_owned())?;
        let mut request = request::parse_decrypt(text, self.config.max_body_bytes, direct)?;
        let context = encryption_context(http, &request.encryption, &self.config.tenant_claim)?;
        let limits = DecryptLimits {
            max_fields: self.config.max_decrypt_fields,
            max_value_len: self.config.max_body_bytes,
        };
        let count = decrypt_fields(
            esdk,
            &mut request.records,
            &request.fields,
            &context,
            binding(&request.encryption),
            limits,
        )
        .await
        .map_err(decrypt_error)?;
        let records = request.records.len();
        let body = json!({
            "records": request.records,
            "message": format!("Decrypted {count} value(s) in {records} record(s)"),
            "decrypted": count,
        });
        let response = envelope::respond(style, 200, &body).to_string();
        if response.len() > LAMBDA_RESPONSE_LIMIT_BYTES {
            return Err(response_too_large(records, response.len()));
        }
        tracing::info!(records, decrypted = count, "decrypted values");
        Ok(response)
    }

    fn sample_users(&self) -> Result<Value, ApiError> {
        let masker = sample::rules()
            .into_iter()
            .fold(JsonMasker::new(), |m, (path, strategy)| {
                m.rule(path, strategy)
            })
            .max_depth(self.config.max_depth);
        let mut total = MaskReport::default();
        let mut users = Vec::new();
        for (index, user) in sample::users().iter().enumerate() {
            let (masked, report) = masker
                .mask(user)
                .map_err(|error| mask_error(StreamError::Record { index, error }))?;
            add(&mut total, &report);
            users.push(masked);
        }
        let preview = Value::Array(users.clone()).to_string();
        log_outcome(users.len(), &total, preview.as_bytes(), false);
        Ok(json!({
            "message": "Sample users with PII masked: email, phone and SSN in the lab formats; id, name and memberSince unchanged",
            "users": users,
        }))
    }

    /// The response to a mask request: the envelope, with the body written into it as the
    /// records are masked.
    async fn mask(
        &self,
        style: ResponseStyle,
        http: Option<&HttpRequest>,
        request: MaskText<'_>,
    ) -> Result<String, Masking> {
        let token_key = if request.uses_tokens() {
            Some(self.token_key().await.map_err(Masking::Api)?)
        } else {
            None
        };
        let sealer = self.sealer(http, &request).await.map_err(Masking::Api)?;
        // A preview would show whole ciphertexts.
        let preview_chars = if sealer.is_some() {
            0
        } else {
            LOG_PREVIEW_CHARS
        };
        let masker = request
            .rules
            .iter()
            .fold(JsonMasker::new(), |m, (path, strategy)| {
                m.rule(path.clone(), *strategy)
            })
            .detect(request.detect)
            .token_key(token_key)
            .sealer(sealer)
            .max_depth(self.config.max_depth);
        let mut outcome = Err(StreamError::NotAnArray);
        let mut preview = (Vec::new(), false);
        // Masks mostly keep lengths; escaping the body as a string adds a byte per quote and
        // backslash. Sized close to what is written: the buffer grows in small steps past it.
        let escapes = quotes_and_backslashes(request.records);
        let capacity = request.records.len() + escapes + request.records.len() / 32 + 1024;
        let response = envelope::respond_text(style, 200, capacity, |buf| {
            let mut out = JsonOut::quoted(buf);
            out.push(br#"{"records":"#);
            out.start_preview(preview_chars);
            outcome = masker.mask_records(request.records, &mut out);
            preview = out.take_preview();
            if let Ok((count, report)) = &outcome {
                out.push(br#","message":"#);
                out.string(&format!("Masked {count} record(s)"));
                out.push(br#","summary":"#);
                out.push(summary(report).to_string().as_bytes());
                out.push(b"}");
            }
        });
        let (count, report) = match outcome {
            Ok(done) => done,
            Err(StreamError::Syntax { at }) => return Err(Masking::Syntax(at)),
            Err(error) => return Err(Masking::Api(mask_error(error))),
        };
        if response.len() > LAMBDA_RESPONSE_LIMIT_BYTES {
            return Err(Masking::MaskedWhole(response_too_large(
                count,
                response.len(),
            )));
        }
        log_outcome(count, &report, &preview.0, preview.1);
        Ok(response)
    }

    /// The `token` strategy's key: the secret's value.
    async fn token_key(&self) -> Result<TokenKey, ApiError> {
        let bytes = self
            .store
            .key_material(&self.config.masking_key_secret_id, TokenKey::MIN_LEN)
            .await
            .map_err(|e| ApiError::from(&e))?;
        TokenKey::new(bytes).ok_or_else(|| {
            ApiError::new(
                500,
                "MaskingKeyRejected",
                "the masking key was not accepted",
            )
        })
    }
}

/// How many `"` and `\\` `text` holds: what escaping it as a string adds. Counted in blocks whose
/// count fits a byte, which the compiler turns into vector compares (a 5 MB body is counted in
/// well under a millisecond).
fn quotes_and_backslashes(text: &str) -> usize {
    text.as_bytes()
        .chunks(64)
        .map(|block| {
            let in_block: u8 = block
                .iter()
                .map(|b| u8::from(*b == b'"') + u8::from(*b == b'\\'))
                .sum();
            usize::from(in_block)
        })
        .sum()
}

/// Why masking stopped: an answer, or JSON the records' reader refused at a byte of them.
enum Masking {
    Api(ApiError),
    Syntax(usize),
    /// Every record was read and masked, and the answer is still an error (over the response
    /// limit): the records end where they were taken to end.
    MaskedWhole(ApiError),
}

/// Over Lambda's response limit: the caller is told to send less, naming the records.
fn response_too_large(records: usize, len: usize) -> ApiError {
    ApiError::new(
        413,
        "ResponseTooLarge",
        format!(
            "the {records} record(s) make a response of {len} bytes, over Lambda's response \
             limit of {LAMBDA_RESPONSE_LIMIT_BYTES} bytes: send fewer records per request"
        ),
    )
    .with_field("records")
}

/// Mask mode: `POST /mask` or `POST /encrypt`; decrypt mode: `POST /decrypt` (or `POST /`
/// through a function URL).
fn check_route(http: &HttpRequest, mode: Mode) -> Result<(), ApiError> {
    match mode {
        Mode::Mask if http.path.trim_end_matches('/') == "/encrypt" => {
            http.expect_route("POST", "/encrypt")
        }
        Mode::Mask => http.expect_route("POST", "/mask"),
        Mode::Decrypt => http.expect_route("POST", "/decrypt"),
    }
}

fn binding(request: &EncryptionRequest) -> PathBinding {
    if request.bind_paths {
        PathBinding::Bound
    } else {
        PathBinding::Unbound
    }
}

/// Names `context` as the field of an error about the encryption context.
fn context_field(error: ApiError) -> ApiError {
    match error.code.as_str() {
        "InvalidContext" if error.field.is_none() => error.with_field("context"),
        _ => error,
    }
}

/// The encryption context a request may use.
///
/// - Direct invocation: the `context` it names, at least one entry (its IAM caller answers for
///   it).
/// - HTTP: the tenant of the verified ID token (`tenant` = the `TENANT_CLAIM` claim) plus any
///   other entries the body names; a body naming another tenant is refused (403). A route
///   without a JWT authorizer (`POST /mask`, signed with IAM) proves no tenant and is refused.
fn encryption_context(
    http: Option<&HttpRequest>,
    request: &EncryptionRequest,
    tenant_claim: &str,
) -> Result<EncryptionContext, ApiError> {
    let given = request.context.clone().unwrap_or_default();
    let entries: BTreeMap<String, String> = match http {
        None => {
            if given.is_empty() {
                return Err(ApiError::bad_request(
                    "MissingField",
                    "encrypting and decrypting need an encryption context: \
                     `\"context\": {\"tenant\": \"...\"}`",
                )
                .with_field("context"));
            }
            given
        }
        Some(http) => {
            let claims = http.jwt_claims.as_ref().ok_or_else(|| {
                ApiError::new(
                    403,
                    "TenantNotVerified",
                    "encrypting and decrypting over HTTP need the tenant of a verified Cognito \
                     ID token: POST /encrypt or /decrypt with an Authorization header",
                )
            })?;
            let tenant = claims
                .get(tenant_claim)
                .and_then(Value::as_str)
                .filter(|tenant| !tenant.is_empty())
                .ok_or_else(|| {
                    ApiError::new(
                        403,
                        "MissingIdentityClaim",
                        format!("the token has no `{tenant_claim}` claim"),
                    )
                })?;
            // KMS compares context key names without case: `Tenant` or `TENANT` beside the
            // verified `tenant` would be read as the tenant by a key policy or in CloudTrail.
            let odd_key = given.keys().find(|key| {
                !key.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.')
                })
            });
            if let Some(key) = odd_key {
                return Err(ApiError::bad_request(
                    "InvalidContext",
                    "context keys over HTTP are lower-case ASCII letters, digits, `_`, `-` and `.`",
                )
                .with_field(format!("context.{key}")));
            }
            let mut entries = given;
            if entries.get("tenant").is_some_and(|named| named != tenant) {
                return Err(ApiError::new(
                    403,
                    "TenantMismatch",
                    "the context names another tenant than the verified token's",
                )
                .with_field("context.tenant"));
            }
            entries.insert("tenant".to_owned(), tenant.to_owned());
            entries
        }
    };
    EncryptionContext::from_pairs(entries).map_err(|error| context_field(ApiError::from(&error)))
}

/// A decrypt failure: 400/403 naming the value (`records[2].ssn`), never its text.
fn decrypt_error(error: DecryptFieldsError) -> ApiError {
    match error {
        DecryptFieldsError::TooManyFields { max } => ApiError::bad_request(
            "TooManyFields",
            format!("the paths select more than {max} values: send fewer records per request"),
        )
        .with_field("fields"),
        // A path binding cannot use: the request's fault, not a value's.
        DecryptFieldsError::Field(FieldError {
            error: FieldFailure::Crypto(error @ CryptoError::UnbindablePath(_)),
            ..
        }) => ApiError::from(&error),
        DecryptFieldsError::Field(field) => {
            let location = format!(
                "records[{}]{}",
                field.record,
                field.path.strip_prefix('$').unwrap_or(&field.path)
            );
            let api = match &field.error {
                FieldFailure::NotCiphertext(_) => {
                    ApiError::bad_request("NotCiphertext", field.error.to_string())
                }
                FieldFailure::TooLong { .. } => {
                    ApiError::new(413, "ValueTooLarge", field.error.to_string())
                }
                FieldFailure::Crypto(error) => ApiError::from(error),
            };
            api.with_field(location)
        }
    }
}

/// The response text for an outcome; logs the status.
fn finish(style: ResponseStyle, outcome: Result<String, ApiError>) -> String {
    let status = outcome.as_ref().map_or_else(|e| e.status, |_| 200);
    tracing::info!(status, function = "data-masking", "invocation done");
    outcome.unwrap_or_else(|error| envelope::respond_error(style, &error).to_string())
}

fn mask_error(error: StreamError) -> ApiError {
    match error {
        StreamError::Record {
            index,
            error: JsonMaskError::TooDeep { max },
        } => ApiError::bad_request(
            "TooDeep",
            format!("the record is nested deeper than {max} levels"),
        )
        .with_field(format!("records[{index}]")),
        StreamError::Record {
            error:
                JsonMaskError::Rule {
                    source: source @ MaskError::TooManyValues { .. },
                    ..
                },
            ..
        } => ApiError::new(413, "TooManyValues", source.to_string()).with_field("records"),
        StreamError::Record { index, error } => {
            ApiError::new(500, "MaskingFailed", error.to_string())
                .with_field(format!("records[{index}]"))
        }
        // The request's text was read as JSON before: not reached.
        StreamError::Syntax { .. } | StreamError::NotAnArray => {
            ApiError::bad_request("InvalidField", "`records` must be an array")
                .with_field("records")
        }
    }
}

fn add(total: &mut MaskReport, report: &MaskReport) {
    total.by_rule += report.by_rule;
    for kind in PiiKind::ALL {
        total.detected.0[kind as usize] += report.detected.get(kind);
    }
}

fn summary(report: &MaskReport) -> Value {
    let detected: Map<String, Value> = PiiKind::ALL
        .into_iter()
        .filter(|kind| report.detected.get(*kind) > 0)
        .map(|kind| (kind.name().to_owned(), report.detected.get(kind).into()))
        .collect();
    json!({"maskedByRule": report.by_rule, "detected": detected})
}

/// Logs counts and the first bytes of the masked output as it was written (the log writer
/// redacts again on the way out).
fn log_outcome(records: usize, report: &MaskReport, preview: &[u8], cut: bool) {
    let mut preview = String::from_utf8_lossy(preview).into_owned();
    if cut {
        preview.push_str("...");
    }
    tracing::info!(
        records,
        masked_by_rule = report.by_rule,
        detected = report.detected.total(),
        masked = %preview,
        "masked records"
    );
}

impl<S: SecretSource, P: ParameterSource, K: DataKeys> Function for DataMasking<S, P, K> {
    const NAME: &'static str = "data-masking";

    /// Serves an invocation already parsed the same way as its text: see [`Self::answer_text`].
    async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
        let event = match invocation {
            Invocation::Direct(map) => EventText::Direct(Value::Object(map).to_string()),
            Invocation::Http(mut request) => {
                let body = request.body.take().unwrap_or_default();
                if body.len() > self.config.max_body_bytes {
                    return Err(request::too_large(self.config.max_body_bytes).with_field("body"));
                }
                EventText::Http { request, body }
            }
        };
        let response: Value = serde_json::from_str(&self.respond(event).await?)
            .map_err(|_| ApiError::new(500, "InternalError", "the response could not be read"))?;
        response["body"]
            .as_str()
            .and_then(|body| serde_json::from_str(body).ok())
            .ok_or_else(|| ApiError::new(500, "InternalError", "the response could not be read"))
    }

    /// Tests' entry: the event's text through [`Self::answer_text`], as the runtime serves it.
    async fn handle(&self, event: Value) -> Value {
        let text = self.answer_text(event.to_string()).await;
        serde_json::from_str(&text).unwrap_or_else(|_| {
            let error = ApiError::new(500, "InternalError", "the response could not be read");
            envelope::respond_error(ResponseStyle::Direct, &error)
        })
    }

    async fn handle_text(&self, event: String) -> String {
        self.answer_text(event).await
    }

    fn cache_counters(&self) -> Option<CacheCounters> {
        Some(self.store.counters())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_lambda::crypto::fake::FakeKms;
    use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
    use secure_lambda::secrets::CachePolicy;
    use serde_json::value::RawValue;

    const KEY_ARN: &str =
        "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn function(config: Config) -> DataMasking<MemorySecrets, MemoryParameters, FakeKms> {
        let secrets = MemorySecrets::default();
        secrets.put(
            &config.masking_key_secret_id,
            "0123456789abcdef0123456789abcdef",
        );
        let store = SecretStore::new(secrets, MemoryParameters::default(), CachePolicy::default());
        let esdk = Esdk::new(FakeKms::default(), KEY_ARN)
            .unwrap()
            .with_cache(secure_lambda::crypto::CachePolicy::default());
        DataMasking::new(store, config, Some(esdk))
    }

    fn body(response: &Value) -> Value {
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
    }

    fn http(method: &str, path: &str, body: &str) -> Value {
        json!({
            "version": "2.0",
            "rawPath": path,
            "requestContext": {"http": {"method": method, "path": path}},
            "headers": {"content-type": "application/json"},
            "body": body,
            "isBase64Encoded": false
        })
    }

    #[test]
    fn quotes_and_backslashes_are_counted_across_blocks() {
        for text in [
            String::new(),
            "\"".repeat(64),
            "\\".repeat(200),
            format!("{}é\"{}", "a".repeat(63), "\\\"x".repeat(90)),
        ] {
            let naive = text.bytes().filter(|b| matches!(b, b'"' | b'\\')).count();
            assert_eq!(quotes_and_backslashes(&text), naive, "{text}");
        }
    }

    #[tokio::test]
    async fn empty_event_masks_the_lab_sample_users() {
        let response = function(Config::default()).handle(json!({})).await;
        assert_eq!(response["statusCode"], 200);
        assert_eq!(response["headers"]["Content-Type"], "application/json");
        let body = body(&response);
        assert_eq!(
            body["users"],
            json!([
                {"id": "USR-001", "name": "Jane Doe", "email": "j***e@example.com",
                 "phone": "***-***-**67", "ssn": "***-**-6789", "memberSince": "2023-01-15"},
                {"id": "USR-002", "name": "John Smith", "email": "j***h@example.com",
                 "phone": "***-***-**43", "ssn": "***-**-4321", "memberSince": "2023-06-20"}
            ])
        );
        assert!(body["message"].is_string());
    }

    #[tokio::test]
    async fn records_are_masked_by_rules_and_detection() {
        let response = function(Config::default())
            .handle(json!({
                "records": [
                    {"customer": "a@example.com", "note": "card 4111 1111 1111 1111", "orderId": "4111111111111112", "count": 3},
                    {"customer": "b@example.com", "password": "hunter2"}
                ],
                "rules": {"$.customer": "token"}
            }))
            .await;
        assert_eq!(response["statusCode"], 200, "{response}");
        let body = body(&response);
        let records = &body["records"];
        let token = records[0]["customer"].as_str().unwrap();
        assert!(token.starts_with("tok_"), "{token}");
        assert_ne!(token, records[1]["customer"].as_str().unwrap());
        assert_eq!(records[0]["note"], "card ****-****-****-1111");
        assert_eq!(
            records[0]["orderId"], "4111111111111112",
            "fails Luhn: not a card"
        );
        assert_eq!(
            records[0]["count"], 3,
            "numbers that need no mask stay numbers"
        );
        assert_eq!(records[1]["password"], "[REDACTED:SECRET]");
        assert_eq!(body["summary"]["maskedByRule"], 2);
        assert_eq!(body["summary"]["detected"], json!({"CARD": 1, "SECRET": 1}));
    }

    #[tokio::test]
    async fn tokens_are_stable_across_invocations() {
        let f = function(Config::default());
        let event = json!({"records": [{"id": "x-1"}], "rules": {"$.id": "token"}});
        let first = body(&f.handle(event.clone()).await);
        let second = body(&f.handle(event).await);
        assert_eq!(first["records"], second["records"]);
        assert_eq!(
            f.store().counters().aws_calls,
            1,
            "the key is fetched once and cached"
        );
    }

    #[tokio::test]
    async fn http_post_mask_is_served_and_other_routes_are_not() {
        let f = function(Config::default());
        let ok = f
            .handle(http(
                "POST",
                "/mask",
                r#"{"records":[{"ssn":"123-45-6789"}]}"#,
            ))
            .await;
        assert_eq!(ok["statusCode"], 200);
        assert_eq!(body(&ok)["records"][0]["ssn"], "***-**-6789");

        for (method, path, status) in [("GET", "/mask", 405), ("POST", "/unmask", 404)] {
            let response = f.handle(http(method, path, "{}")).await;
            assert_eq!(response["statusCode"], status, "{method} {path}");
        }
    }

    /// A request under the request limit whose answer is over Lambda's response limit (the
    /// records travel back as an escaped string): a 413 naming the records, not an invocation
    /// that Lambda fails without an answer.
    #[tokio::test]
    async fn an_answer_over_lambdas_response_limit_is_a_413() {
        let f = function(Config {
            max_body_bytes: 6_000_000,
            ..Config::default()
        });
        let records = vec![r#"["aa","bb"]"#; 480_000].join(",");
        let event = format!(r#"{{"records":[{records}]}}"#);
        assert!(event.len() < 6_000_000 && event.len() > 5_500_000);
        let answer: Value = serde_json::from_str(&f.answer_text(event).await).unwrap();
        assert_eq!(answer["statusCode"], 413, "{answer}");
        let body = body(&answer);
        assert_eq!(body["error"]["code"], "ResponseTooLarge");
        assert_eq!(body["error"]["field"], "records");

        // Just under the limit once escaped: answered whole.
        let records = vec![r#"["aa","bb"]"#; 300_000].join(",");
        let answer: Value =
            serde_json::from_str(&f.answer_text(format!(r#"{{"records":[{records}]}}"#)).await)
                .unwrap();
        assert_eq!(answer["statusCode"], 200);
        assert!(answer.to_string().len() <= LAMBDA_RESPONSE_LIMIT_BYTES);
    }

    #[tokio::test]
    async fn bad_input_is_a_400_that_says_what_is_wrong() {
        let config = Config {
            max_body_bytes: 200,
            max_depth: 4,
            ..Config::default()
        };
        let f = function(config);
        let mut deep = json!("leaf");
        for _ in 0..6 {
            deep = json!({ "a": deep });
        }
        let cases = [
            (http("POST", "/mask", "{not json"), "InvalidBody"),
            (http("POST", "/mask", "[1,2]"), "InvalidBody"),
            (
                http(
                    "POST",
                    "/mask",
                    &format!(r#"{{"records":["{}"]}}"#, "x".repeat(300)),
                ),
                "PayloadTooLarge",
            ),
            (json!({"records": [deep]}), "TooDeep"),
            (json!({"records": "not an array"}), "InvalidField"),
            (json!([1, 2, 3]), "InvalidEvent"),
        ];
        for (event, code) in cases {
            let response = f.handle(event.clone()).await;
            let status = if code == "PayloadTooLarge" { 413 } else { 400 };
            assert_eq!(response["statusCode"], status, "{event}");
            assert_eq!(body(&response)["error"]["code"], code, "{event}");
        }
    }

    /// A number JSON cannot hold, met only as the records are masked: the same 400 as a body or
    /// event that is not JSON, with nothing of the records written back.
    #[tokio::test]
    async fn numbers_json_cannot_hold_are_invalid_json() {
        let f = function(Config::default());
        let response = f
            .handle(http("POST", "/mask", r#"{"records":[{"a":"x"},1e400]}"#))
            .await;
        assert_eq!(response["statusCode"], 400);
        assert_eq!(body(&response)["error"]["code"], "InvalidBody");
        assert_eq!(body(&response)["error"]["field"], "body");
        let response = f
            .answer_text(r#"{"records":[{"a":"x"},1e400]}"#.to_owned())
            .await;
        let response: Value = serde_json::from_str(&response).unwrap();
        assert_eq!(body(&response)["error"]["code"], "InvalidEvent");
        assert!(body(&response)["error"]["message"]
            .as_str()
            .unwrap()
            .contains("line 1, column 23"));
    }

    /// A function with no masking key and no KMS key.
    fn keyless() -> DataMasking<MemorySecrets, MemoryParameters, FakeKms> {
        DataMasking::new(
            SecretStore::new(
                MemorySecrets::default(),
                MemoryParameters::default(),
                CachePolicy::default(),
            ),
            Config::default(),
            None,
        )
    }

    /// The records' end read backward (a check, or a guess the masker checks) against the end
    /// found by a pass over the records: the same answer, byte for byte, for requests whose
    /// members after the records are every shape a guess can meet (a large array or string
    /// after the records, records beyond the budget, members the request may not have, text
    /// that is not JSON in and after the records, rules that need keys).
    #[tokio::test]
    async fn the_records_end_read_backward_answers_as_a_pass_over_them() {
        let scanned = |config: Config| DataMasking {
            records_end: RecordsEnd::Scanned,
            ..function(config)
        };
        let big = format!(
            "[{}1]",
            r#"{"email":"jane@example.com","n":[1,"]"]},"#.repeat(3000)
        );
        let records = r#"[{"email":"jane@example.com","ssn":"123-45-6789"},[1,"]\"["]]"#;
        let rules = r#"{"$..email":"redact"}"#;
        let bodies = [
            format!(r#"{{"records":{records},"rules":{rules}}}"#),
            format!(r#"{{"records":{big},"rules":{rules}}}"#),
            format!(r#"{{"records":{big} , "rules" : {rules} , "detect":false }}"#),
            format!(r#"{{"rules":{rules},"records":{big}}}"#),
            format!(r#"{{"records":{records},"other":{big},"rules":{rules}}}"#),
            format!(r#"{{"records":{records},"bindPaths":{big}}}"#),
            format!(
                r#"{{"records":{records},"rules":{rules},"note":"{}"}}"#,
                "a".repeat(70_000)
            ),
            format!(r#"{{"records":{big},"rules":{{"$..email":"token"}}}}"#),
            format!(r#"{{"records":{big},"records":{records}}}"#),
            format!(r#"{{"records":[1,],"other":{big}}}"#),
            format!(r#"{{"records":{big}],"rules":{rules}}}"#),
            format!(r#"{{"records":[1e400],"rules":{rules},"x":{big}}}"#),
            format!(r#"{{"records":{records},"rules":{rules},}}"#),
            format!(r#"{{"records":{records}"rules":{rules}}}"#),
            r#"{"records":[[1],[2]],"rules":{"$[0]":"redact"},"z":[[3],[4]]}"#.to_owned(),
        ];
        let mut masked = 0;
        // The second limit refuses the large records (413) but not the small ones.
        for max_body_bytes in [Config::default().max_body_bytes, 100_000] {
            let config = Config {
                max_body_bytes,
                ..Config::default()
            };
            let guessing = function(config.clone());
            let reference = scanned(config);
            for body in &bodies {
                for event in [body.clone(), http("POST", "/mask", body).to_string()] {
                    let got = guessing.answer_text(event.clone()).await;
                    let want = reference.answer_text(event).await;
                    assert_eq!(got, want, "{}", &body[..body.len().min(300)]);
                    masked += usize::from(got.contains(r#""statusCode":200"#));
                }
            }
        }
        // Both answers and refusals were compared.
        assert!(masked >= 10, "{masked}");
        // A request refused whatever its records' end reads no key on the way.
        let f = function(Config::default());
        let body = format!(r#"{{"records":{records},"other":{big},"rules":{{"$.a":"token"}}}}"#);
        let response: Value = serde_json::from_str(&f.answer_text(body).await).unwrap();
        assert_eq!(response["statusCode"], 400, "{response}");
        let reads = f.store().counters();
        assert_eq!((reads.hits, reads.misses), (0, 0));
    }

    /// `line L, column C` of serde_json's error for `text` read whole, as the function read a
    /// request before its records were checked as they are masked (each member's raw text).
    fn where_json_fails(text: &str) -> String {
        let error = serde_json::from_str::<BTreeMap<String, &RawValue>>(text).unwrap_err();
        format!("line {}, column {}", error.line(), error.column())
    }

    /// Records are checked as they are masked, not read whole first: whatever else is wrong with
    /// a request, text that is not JSON still gets serde_json's error for the whole text (its
    /// line and column), as when the whole text was read before anything else.
    #[tokio::test]
    async fn records_that_are_not_json_get_the_whole_texts_error() {
        let f = function(Config::default());
        let deep = format!(r#"{{"records":[{}1{}]}}"#, "[".repeat(130), "]".repeat(130));
        let nested_limit = format!(r#"{{"records":[{}1{}]}}"#, "[".repeat(40), "]".repeat(40));
        let cases = [
            r#"{"records":[{"a":"x"},{"b":tru}]}"#.to_owned(),
            "{\n \"records\": [\n  {\"a\": 1},\n  {\"a\": 2,}\n ]\n}".to_owned(),
            r#"{"records":[{"a":"x"}]]}"#.to_owned(),
            r#"{"records":[{"a":"x"}}"#.to_owned(),
            r#"{"records":[{"a":"x"} "#.to_owned(),
            r#"{"records":[{"a":"\q"}]}"#.to_owned(),
            r#"{"records":[{"a":"x"}], "rules": {"$.a": "blur"}, "extra": [}"#.to_owned(),
            r#"{"records":[{"a":"x"}], "detect": "yes", "records2": [1 2]}"#.to_owned(),
            r#"{"rules": {"$.a": "email"}, "records":[{"a":01}]}"#.to_owned(),
            format!(r#"{{"records":[{{"a":"{}"}}, nul]}}"#, "x".repeat(100_000)),
        ];
        for text in &cases {
            let at = where_json_fails(text);
            for (event, code) in [
                (text.clone(), "InvalidEvent"),
                (http("POST", "/mask", text).to_string(), "InvalidBody"),
            ] {
                let response: Value = serde_json::from_str(&f.answer_text(event).await).unwrap();
                let error = &body(&response)["error"];
                assert_eq!(error["code"], code, "{text:.80}");
                assert!(
                    error["message"].as_str().unwrap().contains(&at),
                    "{text:.80}: {error} (serde_json: {at})"
                );
            }
        }
        // Nested past the masker's limit (serde_json reads a member's raw text at any depth; a
        // direct event is refused by its depth before either): the masker's own error.
        let response = f.handle(http("POST", "/mask", &deep)).await;
        assert_eq!(body(&response)["error"]["code"], "TooDeep");
        let response = f.handle(http("POST", "/mask", &nested_limit)).await;
        assert_eq!(body(&response)["error"]["code"], "TooDeep");
    }

    /// Rules that need a key (tokens, encryption) make the records read whole before the key is
    /// fetched: records that are not JSON cost no AWS call.
    #[tokio::test]
    async fn records_that_are_not_json_are_refused_before_any_key_is_fetched() {
        // No masking key and no KMS key: a fetch would answer 4xx/5xx naming them, not InvalidEvent.
        let f = keyless();
        for rule in ["token", "encrypt"] {
            let text = format!(
                r#"{{"records":[{{"a":"x"}},{{"a":tru}}],"rules":{{"$.a":"{rule}"}},"context":{{"t":"1"}}}}"#
            );
            let response: Value = serde_json::from_str(&f.answer_text(text.clone()).await).unwrap();
            let error = &body(&response)["error"];
            assert_eq!(error["code"], "InvalidEvent", "{rule}: {error}");
            let at = where_json_fails(&text);
            assert!(error["message"].as_str().unwrap().contains(&at), "{error}");
        }
        let reads = f.store().counters();
        assert_eq!((reads.hits, reads.misses), (0, 0));
    }

    #[tokio::test]
    async fn a_missing_or_short_key_is_a_dependency_error_without_the_value() {
        let secrets = MemorySecrets::default();
        secrets.put("short", "tiny-key");
        let store = SecretStore::new(secrets, MemoryParameters::default(), CachePolicy::default());
        let event = json!({"records": [{"id": "x"}], "rules": {"$.id": "token"}});

        let short = DataMasking::new(
            store,
            Config {
                masking_key_secret_id: "short".into(),
                ..Config::default()
            },
            None::<Esdk<FakeKms>>,
        );
        let response = short.handle(event.clone()).await;
        assert_eq!(response["statusCode"], 502);
        assert!(!response.to_string().contains("tiny-key"));

        let response = keyless().handle(event).await;
        assert_eq!(body(&response)["error"]["code"], "SecretNotFound");
    }

    /// Every shape the masking issues list, through the handler with default detection: none of
    /// the sensitive parts may come back.
    #[tokio::test]
    async fn hostile_shapes_do_not_come_back() {
        let f = function(Config::default());
        let cases: Vec<(Value, &[&str])> = vec![
            (json!({"note": "SSN:123-45-6789"}), &["123-45-6789"]),
            (
                json!({"note": "card:4111111111111111"}),
                &["4111111111111111"],
            ),
            (json!({"note": "phone:415-555-2671"}), &["415-555-2671"]),
            (
                json!({"password": {"current": "hunter2-very-secret"}}),
                &["hunter2-very-secret"],
            ),
            (
                json!({"client_secret": {"value": "s3cr3t-abcdef"}}),
                &["s3cr3t-abcdef"],
            ),
            (
                json!({"note": "declined:\n4111 1111 1111 1111"}),
                &["4111 1111 1111 1111"],
            ),
            (
                json!({"row": "jane\t4111111111111111\tok"}),
                &["4111111111111111"],
            ),
            (
                json!({"body": "[{\"user\":\"a\",\"password\":\"hunter2-very-secret"}),
                &["hunter2"],
            ),
            (
                json!({"body": "{\"token\":\"ab\\\"cdefSECRETTAIL\"}"}),
                &["SECRETTAIL", "cdef"],
            ),
            (
                json!({"Name": "/prod/db/password", "Value": "pg-Secret-1"}),
                &["pg-Secret-1"],
            ),
            (
                json!([{"name": "API_TOKEN", "value": "tok-Secret-2"}]),
                &["tok-Secret-2"],
            ),
            (
                json!({"ParameterKey": "DbPassword", "ParameterValue": "cfn-Secret-3"}),
                &["cfn-Secret-3"],
            ),
            (
                json!({"dsn": "mysql://root:S3cretPassw0rd@db:3306/app"}),
                &["S3cretPassw0rd"],
            ),
            (
                json!({"header": "Set-Cookie: sid=Qw3rTy8uIoP1aSdFgHjK; HttpOnly"}),
                &["Qw3rTy8uIoP1aSdFgHjK"],
            ),
            (
                json!({"key": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE\n-----END OPENSSH PRIVATE KEY-----"}),
                &["b3BlbnNzaC1rZXktdjE"],
            ),
            (
                json!({"note": "key [REDACTED:AWS_ACCESS_KEY] and wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}),
                &["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
            ),
            (
                json!({"note": "ghp_0123456789abcdefghijABCDEFGHIJ012345 xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOp sk_live_4eC39HqLyjWDarjtT1zdp7dc"}),
                &["ghp_0123456789", "xoxb-1234567890", "sk_live_4eC39"],
            ),
            (
                json!({"note": "paid with 4111.1111.1111.1111 today"}),
                &["4111.1111.1111"],
            ),
        ];
        for (record, secrets) in cases {
            let response = f.handle(json!({"records": [record.clone()]})).await;
            assert_eq!(response["statusCode"], 200, "{record}");
            let text = response.to_string();
            let body = body(&response).to_string();
            for secret in secrets {
                assert!(
                    !text.contains(secret),
                    "{secret} came back for {record}: {body}"
                );
                assert!(
                    !body.contains(secret),
                    "{secret} came back for {record}: {body}"
                );
            }
        }
    }

    /// A rule of 16 recursive steps on a 32-deep record answers at once (it took 22 s when
    /// paths were matched by backtracking).
    #[tokio::test]
    async fn recursive_rules_do_not_backtrack() {
        let mut record = json!("leaf");
        for _ in 0..30 {
            record = json!({ "a": record });
        }
        let rule = format!("${}", "..a".repeat(16));
        let started = std::time::Instant::now();
        let response = function(Config::default())
            .handle(json!({"records": [record], "rules": {rule: "redact"}}))
            .await;
        assert_eq!(response["statusCode"], 200, "{response}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    /// The token key's read fails as every AWS failure does in the suite: timeout 504,
    /// throttling 503.
    #[tokio::test]
    async fn key_read_failures_map_to_one_status_each() {
        use secure_lambda::secrets::{Resource, SecretError, Transient};
        for (kind, status, code) in [
            (Transient::Timeout, 504, "DependencyTimeout"),
            (Transient::Throttled, 503, "DependencyUnavailable"),
        ] {
            let f = function(Config::default());
            f.store()
                .secret_source()
                .fail_next(vec![SecretError::Unavailable {
                what: Resource::Secret,
                name: Config::default().masking_key_secret_id,
                kind,
                detail:
                    "ThrottlingException: arn:aws:secretsmanager:us-east-1:123456789012:secret:k"
                        .into(),
            }]);
            let response = f
                .handle(json!({"records": [{"id": "x"}], "rules": {"$.id": "token"}}))
                .await;
            assert_eq!(response["statusCode"], status, "{response}");
            assert_eq!(body(&response)["error"]["code"], code);
            assert!(!response.to_string().contains("123456789012"));
        }
    }

    fn decrypter() -> DataMasking<MemorySecrets, MemoryParameters, FakeKms> {
        function(Config {
            mode: Mode::Decrypt,
            ..Config::default()
        })
    }

    fn with_claims(mut event: Value, tenant: &str) -> Value {
        event["requestContext"]["authorizer"] =
            json!({"jwt": {"claims": {"custom:tenantId": tenant, "cognito:username": "u1"}}});
        event
    }

    fn customer() -> Value {
        json!({"id": 7, "email": "zoë@example.com", "ssn": "123-45-6789",
               "cards": [4111111111111111u64], "note": "call 415-555-0100"})
    }

    #[tokio::test]
    async fn encrypted_fields_come_back_through_the_decrypt_function_only() {
        let masker = function(Config::default());
        let response = masker
            .handle(json!({
                "records": [customer(), customer()],
                "rules": {"$.email": "encrypt", "$.ssn": "encrypt", "$.cards[*]": "encrypt"},
                "context": {"tenant": "a"}
            }))
            .await;
        assert_eq!(response["statusCode"], 200, "{response}");
        let sealed = body(&response)["records"].clone();
        assert!(sealed[0]["ssn"].as_str().unwrap().starts_with("AgV4"));
        assert!(!sealed[0]["note"].as_str().unwrap().contains("555-0100"));
        assert_eq!(body(&response)["summary"]["maskedByRule"], 6);

        // The masking function does not decrypt.
        let refused = masker
            .handle(json!({"records": sealed, "fields": ["$.ssn"], "context": {"tenant": "a"}}))
            .await;
        assert_eq!(refused["statusCode"], 400, "{refused}");

        let decrypter = decrypter();
        let request = |context: Value| {
            json!({"records": sealed, "fields": ["$.email", "$.ssn", "$.cards[*]"],
                   "context": context})
        };
        let response = decrypter.handle(request(json!({"tenant": "a"}))).await;
        assert_eq!(response["statusCode"], 200, "{response}");
        let opened = body(&response);
        assert_eq!(opened["decrypted"], 6);
        assert_eq!(opened["records"][0]["email"], "zoë@example.com");
        assert_eq!(opened["records"][1]["cards"][0], 4111111111111111u64);
        assert_eq!(decrypter.esdk.as_ref().unwrap().data_keys().decrypted(), 1);

        for context in [
            json!({"tenant": "b"}),
            json!({"tenant": "a", "x": "y"}),
            json!({"x": "a"}),
        ] {
            let response = decrypter.handle(request(context.clone())).await;
            assert_eq!(response["statusCode"], 403, "{context}");
            let error = &body(&response)["error"];
            assert_eq!(error["code"], "ContextMismatch");
            // The first value in the record's order (keys sorted) is named.
            assert_eq!(error["field"], "records[0].cards[0]");
        }
        let response = decrypter
            .handle(json!({"records": sealed, "fields": ["$.ssn"]}))
            .await;
        assert_eq!(body(&response)["error"]["field"], "context");
    }

    #[tokio::test]
    async fn over_http_the_tenant_is_the_verified_tokens() {
        let masker = function(Config::default());
        let request = json!({"records": [customer()], "rules": {"$": "encrypt"}}).to_string();
        // POST /mask is signed with IAM: it proves no tenant.
        let response = masker.handle(http("POST", "/mask", &request)).await;
        assert_eq!(response["statusCode"], 403, "{response}");
        assert_eq!(body(&response)["error"]["code"], "TenantNotVerified");

        let response = masker
            .handle(with_claims(http("POST", "/encrypt", &request), "a"))
            .await;
        assert_eq!(response["statusCode"], 200, "{response}");
        let sealed = body(&response)["records"].clone();
        assert!(
            sealed[0].as_str().unwrap().starts_with("AgV4"),
            "whole record"
        );

        let claimed_other = json!({"records": [customer()], "rules": {"$.ssn": "encrypt"},
                                   "context": {"tenant": "b"}})
        .to_string();
        let response = masker
            .handle(with_claims(http("POST", "/encrypt", &claimed_other), "a"))
            .await;
        assert_eq!(response["statusCode"], 403);
        assert_eq!(body(&response)["error"]["field"], "context.tenant");

        let decrypter = decrypter();
        let ask = json!({"records": sealed, "fields": ["$"]}).to_string();
        let response = decrypter
            .handle(with_claims(http("POST", "/decrypt", &ask), "a"))
            .await;
        assert_eq!(response["statusCode"], 200, "{response}");
        assert_eq!(body(&response)["records"][0], customer());
        let response = decrypter
            .handle(with_claims(http("POST", "/decrypt", &ask), "b"))
            .await;
        assert_eq!(response["statusCode"], 403);
        assert!(!response.to_string().contains("123-45-6789"));
        let response = decrypter.handle(http("POST", "/mask", &ask)).await;
        assert_eq!(response["statusCode"], 404, "{response}");
    }

    #[tokio::test]
    async fn tenant_look_alike_keys_and_unbindable_paths_are_refused_before_kms() {
        let masker = function(Config::default());
        for key in ["Tenant", "TENANT", "tenant\u{200b}", "ｔｅｎａｎｔ", "a b"] {
            let request = json!({"records": [customer()], "rules": {"$.ssn": "encrypt"},
                                 "context": {key: "b"}})
            .to_string();
            let response = masker
                .handle(with_claims(http("POST", "/encrypt", &request), "a"))
                .await;
            assert_eq!(response["statusCode"], 400, "{key}: {response}");
            assert_eq!(body(&response)["error"]["code"], "InvalidContext");
            assert_eq!(body(&response)["error"]["field"], format!("context.{key}"));
        }
        // One context for every value a wildcard selects: swaps among them would go unnoticed.
        for rule in ["$.*", "$..ssn", "$.cards[*]"] {
            let request = json!({"records": [customer()], "rules": {rule: "encrypt"},
                                 "context": {"tenant": "a"}, "bindPaths": true})
            .to_string();
            let response = masker.handle(serde_json::from_str(&request).unwrap()).await;
            assert_eq!(response["statusCode"], 400, "{rule}: {response}");
            assert_eq!(
                body(&response)["error"]["code"],
                "UnbindablePath",
                "{response}"
            );
            assert_eq!(body(&response)["error"]["field"], "bindPaths");
            let ask = json!({"records": [customer()], "fields": [rule],
                             "context": {"tenant": "a"}, "bindPaths": true});
            let response = decrypter().handle(ask).await;
            assert_eq!(response["statusCode"], 400, "{rule}: {response}");
            assert_eq!(
                body(&response)["error"]["code"],
                "UnbindablePath",
                "{response}"
            );
        }
        assert_eq!(masker.esdk.as_ref().unwrap().data_keys().generated(), 0);
    }

    #[tokio::test]
    async fn an_encrypt_request_seals_at_most_the_configured_number_of_values() {
        let masker = function(Config {
            max_decrypt_fields: 3,
            ..Config::default()
        });
        let records: Vec<Value> = (0..4).map(|_| customer()).collect();
        let request = json!({"records": records, "rules": {"$.ssn": "encrypt"},
                             "context": {"tenant": "a"}});
        let response = masker.handle(request).await;
        assert_eq!(response["statusCode"], 413, "{response}");
        assert_eq!(body(&response)["error"]["code"], "TooManyValues");
        assert_eq!(body(&response)["error"]["field"], "records");
        assert!(!response.to_string().contains("AgV4"), "{response}");
        let request = json!({"records": records[..3], "rules": {"$.ssn": "encrypt"},
                             "context": {"tenant": "a"}});
        assert_eq!(masker.handle(request).await["statusCode"], 200);
    }

    #[tokio::test]
    async fn bad_ciphertexts_are_4xx_naming_the_value_and_leak_nothing() {
        let masker = function(Config::default());
        let response = masker
            .handle(
                json!({"records": [customer()], "rules": {"$.ssn": "encrypt"},
                           "context": {"tenant": "a"}}),
            )
            .await;
        let good = body(&response)["records"][0]["ssn"]
            .as_str()
            .unwrap()
            .to_owned();
        let raw =
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, &good).unwrap();
        let encode = |bytes: &[u8]| {
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
        };
        let flip = |at: usize| {
            let mut bytes = raw.clone();
            bytes[at] ^= 1;
            encode(&bytes)
        };
        let mut v1 = raw.clone();
        v1[0] = 1;
        let cases: Vec<(Value, u16, &str)> = vec![
            (json!("not base64!"), 400, "InvalidCiphertext"),
            (json!(&good[..good.len() / 2]), 400, "InvalidCiphertext"),
            (json!(flip(40)), 400, "InvalidCiphertext"),
            (json!(flip(raw.len() / 2)), 400, "InvalidCiphertext"),
            (json!(flip(raw.len() - 3)), 400, "InvalidCiphertext"),
            (json!(encode(&v1)), 400, "InvalidCiphertext"),
            (json!(123456789), 400, "NotCiphertext"),
            (json!({"a": 1}), 400, "NotCiphertext"),
        ];
        let decrypter = decrypter();
        let mut sealed = customer();
        sealed["ssn"] = json!(good);
        for (value, status, code) in cases {
            let mut record = customer();
            record["ssn"] = value.clone();
            let response = decrypter
                .handle(json!({"records": [sealed, record], "fields": ["$.ssn"],
                               "context": {"tenant": "a"}}))
                .await;
            assert_eq!(response["statusCode"], status, "{value}: {response}");
            let error = &body(&response)["error"];
            assert_eq!(error["code"], code, "{value}");
            assert_eq!(error["field"], "records[1].ssn", "{value}");
            assert!(!response.to_string().contains("123-45-6789"));
        }
        let mut sealed = customer();
        sealed["ssn"] = json!(good);
        let response = decrypter
            .handle(
                json!({"records": [sealed.clone(), sealed], "fields": ["$.ssn", "$.email"],
                           "context": {"tenant": "a"}}),
            )
            .await;
        assert_eq!(response["statusCode"], 400, "{response}");
        assert_eq!(body(&response)["error"]["field"], "records[0].email");
        let too_many = function(Config {
            mode: Mode::Decrypt,
            max_decrypt_fields: 1,
            ..Config::default()
        });
        let response = too_many
            .handle(
                json!({"records": [sealed.clone(), sealed], "fields": ["$.ssn"],
                           "context": {"tenant": "a"}}),
            )
            .await;
        assert_eq!(body(&response)["error"]["code"], "TooManyFields");
        for (request, field) in [
            (json!({"records": [], "fields": []}), "fields"),
            (json!({"records": [], "fields": ["ssn"]}), "fields[0]"),
            (
                json!({"records": [], "fields": ["$.a"], "context": {"t": 1}}),
                "context.t",
            ),
            (
                json!({"records": [], "fields": ["$.a"], "context": {"aws-crypto-x": "1"}}),
                "context",
            ),
        ] {
            let response = decrypter.handle(request.clone()).await;
            assert_eq!(response["statusCode"], 400, "{request}");
            assert_eq!(body(&response)["error"]["field"], field, "{request}");
        }
    }

    #[tokio::test]
    async fn encrypt_needs_a_context_and_a_key() {
        let response = function(Config::default())
            .handle(json!({"records": [customer()], "rules": {"$.ssn": "encrypt"}}))
            .await;
        assert_eq!(response["statusCode"], 400);
        assert_eq!(body(&response)["error"]["field"], "context");
        let keyless = DataMasking::new(
            SecretStore::new(
                MemorySecrets::default(),
                MemoryParameters::default(),
                CachePolicy::default(),
            ),
            Config::default(),
            None::<Esdk<FakeKms>>,
        );
        let response = keyless
            .handle(
                json!({"records": [customer()], "rules": {"$.ssn": "encrypt"},
                           "context": {"tenant": "a"}}),
            )
            .await;
        assert_eq!(response["statusCode"], 400);
        let error = &body(&response)["error"];
        assert_eq!(error["code"], "EncryptionNotConfigured");
        assert_eq!(error["field"], "rules.$.ssn");
    }
}
