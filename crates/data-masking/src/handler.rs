//! The `data-masking` handler: the lab's sample users, or caller records masked by field rules
//! and detection.
//!
//! Direct invocations send the request as the event; HTTP callers `POST /mask` it as the body.
//! Logs carry counts and the masked output only, never the input.

use secure_lambda::envelope::{HttpRequest, Invocation};
use secure_lambda::mask::{JsonMaskError, JsonMasker, MaskReport, PiiKind, TokenKey};
use secure_lambda::runtime::Function;
use secure_lambda::secrets::{CacheCounters, ParameterSource, SecretSource, SecretStore};
use secure_lambda::ApiError;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::request::{self, MaskRequest, Request};
use crate::sample;

/// How much of the masked output a log line shows.
const LOG_PREVIEW_CHARS: usize = 2048;

/// The function: limits, and the store that holds the token key.
pub struct DataMasking<S, P> {
    store: SecretStore<S, P>,
    config: Config,
}

impl<S: SecretSource, P: ParameterSource> DataMasking<S, P> {
    pub fn new(store: SecretStore<S, P>, config: Config) -> Self {
        Self { store, config }
    }

    #[cfg(test)]
    pub fn store(&self) -> &SecretStore<S, P> {
        &self.store
    }

    async fn answer(&self, invocation: &Invocation) -> Result<Value, ApiError> {
        if let Invocation::Http(http) = invocation {
            self.check_http(http)?;
        }
        match request::parse(invocation.json_payload()?, self.config.max_body_bytes)? {
            Request::SampleUsers => self.sample_users(),
            Request::Mask(request) => self.mask(request).await,
        }
    }

    /// `POST /mask` (or `POST /` through a function URL), body within the limit.
    fn check_http(&self, http: &HttpRequest) -> Result<(), ApiError> {
        http.expect_route("POST", "/mask")?;
        let body_len = http.body.as_ref().map_or(0, String::len);
        if body_len > self.config.max_body_bytes {
            return Err(request::too_large(self.config.max_body_bytes).with_field("body"));
        }
        Ok(())
    }

    fn sample_users(&self) -> Result<Value, ApiError> {
        let masker = sample::rules()
            .into_iter()
            .fold(JsonMasker::new(), |m, (path, strategy)| {
                m.rule(path, strategy)
            });
        let (users, report) = self.mask_records(&masker, &sample::users())?;
        log_outcome(&users, &report);
        Ok(json!({
            "message": "Sample users with PII masked: email, phone and SSN in the lab formats; id, name and memberSince unchanged",
            "users": users,
        }))
    }

    async fn mask(&self, request: MaskRequest) -> Result<Value, ApiError> {
        let token_key = if request.uses_tokens() {
            Some(self.token_key().await?)
        } else {
            None
        };
        let masker = request
            .rules
            .iter()
            .fold(JsonMasker::new(), |m, (path, strategy)| {
                m.rule(path.clone(), *strategy)
            })
            .detect(request.detect)
            .token_key(token_key);
        let (records, report) = self.mask_records(&masker, &request.records)?;
        log_outcome(&records, &report);
        Ok(json!({
            "message": format!("Masked {} record(s)", records.len()),
            "records": records,
            "summary": summary(&report),
        }))
    }

    fn mask_records(
        &self,
        masker: &JsonMasker,
        records: &[Value],
    ) -> Result<(Vec<Value>, MaskReport), ApiError> {
        let masker = masker.clone().max_depth(self.config.max_depth);
        let mut total = MaskReport::default();
        let mut out = Vec::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let (masked, report) = masker.mask(record).map_err(|e| match e {
                JsonMaskError::TooDeep { max } => ApiError::bad_request(
                    "TooDeep",
                    format!("the record is nested deeper than {max} levels"),
                )
                .with_field(format!("records[{index}]")),
                JsonMaskError::Rule { .. } => ApiError::new(500, "MaskingFailed", e.to_string())
                    .with_field(format!("records[{index}]")),
            })?;
            total.by_rule += report.by_rule;
            for kind in PiiKind::ALL {
                total.detected.0[kind as usize] += report.detected.get(kind);
            }
            out.push(masked);
        }
        Ok((out, total))
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

fn summary(report: &MaskReport) -> Value {
    let detected: Map<String, Value> = PiiKind::ALL
        .into_iter()
        .filter(|kind| report.detected.get(*kind) > 0)
        .map(|kind| (kind.name().to_owned(), report.detected.get(kind).into()))
        .collect();
    json!({"maskedByRule": report.by_rule, "detected": detected})
}

/// Logs counts and a preview of the masked output (the log writer redacts again on the way out).
fn log_outcome(masked: &[Value], report: &MaskReport) {
    let preview = serialized_prefix(masked, LOG_PREVIEW_CHARS);
    tracing::info!(
        records = masked.len(),
        masked_by_rule = report.by_rule,
        detected = report.detected.total(),
        masked = %preview,
        "masked records"
    );
}

/// The first `max` bytes of `value`'s JSON, without serializing the rest (a large request's
/// output is not written out only to be cut).
fn serialized_prefix(value: &[Value], max: usize) -> String {
    struct Prefix(Vec<u8>, usize);
    impl std::io::Write for Prefix {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let room = self.1 - self.0.len();
            self.0.extend_from_slice(&bytes[..bytes.len().min(room)]);
            if bytes.len() > room {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut prefix = Prefix(Vec::with_capacity(max.min(4096)), max);
    let complete = serde_json::to_writer(&mut prefix, value).is_ok();
    let mut text = String::from_utf8_lossy(&prefix.0).into_owned();
    if !complete {
        text.push_str("...");
    }
    text
}

impl<S: SecretSource, P: ParameterSource> Function for DataMasking<S, P> {
    const NAME: &'static str = "data-masking";

    async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
        self.answer(&invocation).await
    }

    fn cache_counters(&self) -> Option<CacheCounters> {
        Some(self.store.counters())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
    use secure_lambda::secrets::CachePolicy;

    fn function(config: Config) -> DataMasking<MemorySecrets, MemoryParameters> {
        let secrets = MemorySecrets::default();
        secrets.put(
            &config.masking_key_secret_id,
            "0123456789abcdef0123456789abcdef",
        );
        let store = SecretStore::new(secrets, MemoryParameters::default(), CachePolicy::default());
        DataMasking::new(store, config)
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
    fn log_previews_stop_at_their_limit() {
        let records = vec![json!({"a": "x".repeat(100)}), json!(1)];
        assert_eq!(serialized_prefix(&records[1..], 100), "[1]");
        let cut = serialized_prefix(&records, 10);
        assert_eq!(cut, r#"[{"a":"xxx..."#);
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
        );
        let response = short.handle(event.clone()).await;
        assert_eq!(response["statusCode"], 502);
        assert!(!response.to_string().contains("tiny-key"));

        let missing = DataMasking::new(
            SecretStore::new(
                MemorySecrets::default(),
                MemoryParameters::default(),
                CachePolicy::default(),
            ),
            Config::default(),
        );
        let response = missing.handle(event).await;
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
}
