//! The `secure-config` handler: three actions over cached secrets and parameters.
//!
//! - `get_db_credentials`: the connection fields of the database secret, password redacted;
//! - `get_app_config`: API URL, API key (first 8 characters then a redaction marker), max items;
//! - `get_feature_flags`: every parameter under the flags path, `true` only for the text `true`.
//!
//! No action lists the actions; an unknown one is a 400 that lists them too.

use secrecy::ExposeSecret;
use secure_lambda::envelope::Invocation;
use secure_lambda::runtime::Function;
use secure_lambda::secrets::{CacheCounters, ParameterSource, SecretSource, SecretStore};
use secure_lambda::{request, ApiError, REDACTED};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::Config;

/// The actions, as callers name them.
pub const ACTIONS: [&str; 3] = ["get_db_credentials", "get_app_config", "get_feature_flags"];

/// Fields of the database secret returned to callers (the password is checked, never returned).
const DB_FIELDS: [&str; 4] = ["host", "port", "dbname", "username"];

/// How many leading characters of the API key a response may show.
const API_KEY_VISIBLE_PREFIX: usize = 8;
/// Keys shorter than this are redacted whole: 8 visible characters would be too much of them.
const API_KEY_MIN_LEN_FOR_PREFIX: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    DbCredentials,
    AppConfig,
    FeatureFlags,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::DbCredentials => ACTIONS[0],
            Action::AppConfig => ACTIONS[1],
            Action::FeatureFlags => ACTIONS[2],
        }
    }
}

/// The function: a store and where to look in it.
pub struct SecureConfig<S, P> {
    store: SecretStore<S, P>,
    config: Config,
}

impl<S: SecretSource, P: ParameterSource> SecureConfig<S, P> {
    pub fn new(store: SecretStore<S, P>, config: Config) -> Self {
        Self { store, config }
    }

    async fn answer(&self, invocation: &Invocation) -> Result<Value, ApiError> {
        let mut payload = invocation.json_payload()?;
        if let Invocation::Http(request) = invocation {
            if let Some(action) = request.query.get("action") {
                payload.insert("action".into(), Value::String(action.clone()));
            }
        }
        match parse_action(payload)? {
            None => Ok(json!({
                "message": "Secure configuration service: choose one of the available actions",
                "availableActions": ACTIONS,
            })),
            Some(action) => {
                tracing::info!(action = action.name(), "action");
                match action {
                    Action::DbCredentials => self.db_credentials().await,
                    Action::AppConfig => self.app_config().await,
                    Action::FeatureFlags => self.feature_flags().await,
                }
            }
        }
    }

    async fn db_credentials(&self) -> Result<Value, ApiError> {
        let secret = self.store.secret_json(&self.config.db_secret_id).await?;
        // The password must be there (a credential without one is broken) but is never returned.
        secret.string("password")?;
        let mut body = Map::new();
        body.insert(
            "message".into(),
            json!("Database credentials retrieved (password redacted)"),
        );
        for field in DB_FIELDS {
            let value = secret.get(field).cloned().ok_or_else(|| {
                ApiError::from(secure_lambda::secrets::SecretError::MissingKey {
                    name: self.config.db_secret_id.clone(),
                    key: field.to_owned(),
                })
            })?;
            body.insert(field.into(), value);
        }
        body.insert("password".into(), json!(REDACTED));
        Ok(Value::Object(body))
    }

    async fn app_config(&self) -> Result<Value, ApiError> {
        let names = [
            self.config.api_url_parameter.as_str(),
            self.config.api_key_parameter.as_str(),
            self.config.max_items_parameter.as_str(),
        ];
        let mut values = Vec::with_capacity(names.len());
        for (_, result) in self.store.parameters(&names).await {
            values.push(result?);
        }
        let [api_url, api_key, max_items] = values.as_slice() else {
            return Err(ApiError::new(
                500,
                "InternalError",
                "parameter batch returned an unexpected count",
            ));
        };
        let max_items_text = max_items.value().expose_secret().trim();
        let max_items: i64 = max_items_text.parse().map_err(|_| {
            ApiError::new(
                502,
                "InvalidParameterValue",
                format!("parameter `{}` must hold an integer", max_items.name),
            )
        })?;
        Ok(json!({
            "message": "Application configuration retrieved (API key redacted)",
            "apiUrl": api_url.value().expose_secret(),
            "apiKey": redact_api_key(api_key.value().expose_secret()),
            "maxItems": max_items,
        }))
    }

    async fn feature_flags(&self) -> Result<Value, ApiError> {
        let parameters = self
            .store
            .parameters_by_path(&self.config.feature_flags_path, true)
            .await?;
        let flags: Map<String, Value> = parameters
            .iter()
            .map(|p| {
                (
                    p.leaf_name().to_owned(),
                    Value::Bool(p.value().expose_secret().trim() == "true"),
                )
            })
            .collect();
        Ok(json!({
            "message": "Feature flags retrieved",
            "flags": flags,
        }))
    }
}

/// What a caller sends: at most an action (in the body, the event, or the query string).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigRequest {
    #[serde(default)]
    action: Option<String>,
}

fn parse_action(payload: Map<String, Value>) -> Result<Option<Action>, ApiError> {
    let request: ConfigRequest = request::parse(payload)?;
    match request.action.as_deref() {
        None | Some("") => Ok(None),
        Some("get_db_credentials") => Ok(Some(Action::DbCredentials)),
        Some("get_app_config") => Ok(Some(Action::AppConfig)),
        Some("get_feature_flags") => Ok(Some(Action::FeatureFlags)),
        Some(other) => Err(ApiError::bad_request(
            "UnknownAction",
            format!(
                "unknown action `{}`; available actions: {}",
                truncate(other, 64),
                ACTIONS.join(", ")
            ),
        )
        .with_field("action")),
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// `sk-abc123-this-is-a-secret-key` → `sk-abc12...[REDACTED]`.
fn redact_api_key(key: &str) -> String {
    if key.chars().count() < API_KEY_MIN_LEN_FOR_PREFIX {
        return REDACTED.to_owned();
    }
    let prefix: String = key.chars().take(API_KEY_VISIBLE_PREFIX).collect();
    format!("{prefix}...{REDACTED}")
}

impl<S: SecretSource, P: ParameterSource> Function for SecureConfig<S, P> {
    const NAME: &'static str = "secure-config";

    async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
        self.answer(&invocation).await.map_err(|error| {
            if error.code == "UnknownAction" {
                error.with_extra("availableActions", json!(ACTIONS))
            } else {
                error
            }
        })
    }

    fn cache_counters(&self) -> Option<CacheCounters> {
        Some(self.store.counters())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
    use secure_lambda::secrets::{CachePolicy, ParameterKind, Resource, SecretError, Transient};

    const DB_SECRET: &str = r#"{"username":"admin","password":"SuperSecretPass123!","host":"mydb.cluster-abc123.us-east-1.rds.amazonaws.com","port":3306,"dbname":"orders"}"#;
    const API_KEY: &str = "sk-abc123-this-is-a-secret-key";

    fn function() -> SecureConfig<MemorySecrets, MemoryParameters> {
        let secrets = MemorySecrets::default();
        secrets.put(Config::DEFAULT_DB_SECRET_ID, DB_SECRET);
        let parameters = MemoryParameters::default();
        parameters.put(
            "/app/config/api-url",
            ParameterKind::String,
            "https://api.example.com/v2",
        );
        parameters.put("/app/secrets/api-key", ParameterKind::SecureString, API_KEY);
        parameters.put("/app/config/max-items", ParameterKind::String, "50");
        parameters.put(
            "/app/config/feature-flags/new-checkout",
            ParameterKind::String,
            "true",
        );
        parameters.put(
            "/app/config/feature-flags/dark-mode",
            ParameterKind::String,
            "false",
        );
        SecureConfig::new(
            SecretStore::new(secrets, parameters, CachePolicy::default()),
            Config::default(),
        )
    }

    async fn call(
        function: &SecureConfig<MemorySecrets, MemoryParameters>,
        event: Value,
    ) -> (u16, Value) {
        let response = function.handle(event).await;
        let text = response.to_string();
        assert!(
            !text.contains("SuperSecretPass123!") && !text.contains(API_KEY),
            "{text}"
        );
        let status = u16::try_from(response["statusCode"].as_u64().unwrap()).unwrap();
        let body = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
        (status, body)
    }

    #[tokio::test]
    async fn db_credentials_without_the_password() {
        let (status, body) = call(&function(), json!({"action": "get_db_credentials"})).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["host"],
            "mydb.cluster-abc123.us-east-1.rds.amazonaws.com"
        );
        assert_eq!(body["port"], 3306);
        assert_eq!(body["dbname"], "orders");
        assert_eq!(body["username"], "admin");
        assert_eq!(body["password"], REDACTED);
    }

    #[tokio::test]
    async fn app_config_in_one_batch() {
        let function = function();
        let (status, body) = call(&function, json!({"action": "get_app_config"})).await;
        assert_eq!(status, 200);
        assert_eq!(body["apiUrl"], "https://api.example.com/v2");
        assert_eq!(body["apiKey"], format!("sk-abc12...{REDACTED}"));
        assert_eq!(body["maxItems"], 50);
        assert_eq!(function.store.counters().aws_calls, 1);
    }

    #[tokio::test]
    async fn feature_flags_by_path() {
        let (status, body) = call(&function(), json!({"action": "get_feature_flags"})).await;
        assert_eq!(status, 200);
        assert_eq!(
            body["flags"],
            json!({"new-checkout": true, "dark-mode": false})
        );
    }

    #[tokio::test]
    async fn no_action_lists_actions_and_unknown_action_is_400() {
        let function = function();
        let (status, body) = call(&function, json!({})).await;
        assert_eq!(status, 200);
        assert_eq!(body["availableActions"], json!(ACTIONS));
        let (status, body) = call(&function, json!({"action": "drop_tables"})).await;
        assert_eq!(status, 400);
        assert_eq!(body["error"]["code"], "UnknownAction");
        assert_eq!(body["error"]["field"], "action");
        assert_eq!(body["availableActions"], json!(ACTIONS));
    }

    #[tokio::test]
    async fn wrong_shapes_are_400() {
        let function = function();
        for event in [
            json!("get_app_config"),
            json!([1]),
            json!(null),
            json!({"action": 7}),
            json!({"action": ["x"]}),
        ] {
            let (status, body) = call(&function, event.clone()).await;
            assert_eq!(status, 400, "{event}");
            assert!(body["error"]["message"].as_str().unwrap().len() > 10);
        }
    }

    #[tokio::test]
    async fn warm_invocations_make_no_aws_calls() {
        let function = function();
        for action in ACTIONS {
            call(&function, json!({ "action": action })).await;
        }
        let cold = function.store.counters().aws_calls;
        assert_eq!(cold, 3, "one secret, one parameter batch, one path read");
        for action in ACTIONS {
            call(&function, json!({ "action": action })).await;
        }
        assert_eq!(function.store.counters().aws_calls, cold);
    }

    #[tokio::test]
    async fn dependency_failures_are_structured_and_do_not_leak() {
        let empty = SecureConfig::new(
            SecretStore::new(
                MemorySecrets::default(),
                MemoryParameters::default(),
                CachePolicy::default(),
            ),
            Config::default(),
        );
        let (status, body) = call(&empty, json!({"action": "get_db_credentials"})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (502, Some("SecretNotFound"))
        );
        let (status, body) = call(&empty, json!({"action": "get_app_config"})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (502, Some("ParameterNotFound"))
        );

        let malformed = function();
        malformed
            .store
            .secret_source()
            .put(Config::DEFAULT_DB_SECRET_ID, "password=SuperSecretPass123!");
        malformed
            .store
            .invalidate_secret(&secure_lambda::secrets::SecretRequest::current(
                Config::DEFAULT_DB_SECRET_ID,
            ));
        let (status, body) = call(&malformed, json!({"action": "get_db_credentials"})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (502, Some("MalformedSecret"))
        );

        let denied = function();
        denied
            .store
            .secret_source()
            .deny(Config::DEFAULT_DB_SECRET_ID);
        let (status, body) = call(&denied, json!({"action": "get_db_credentials"})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (502, Some("DependencyAccessDenied"))
        );

        let throttled = function();
        throttled
            .store
            .secret_source()
            .fail_next(vec![SecretError::Unavailable {
                what: Resource::Secret,
                name: Config::DEFAULT_DB_SECRET_ID.into(),
                kind: Transient::Timeout,
                detail: "timed out".into(),
            }]);
        let (status, body) = call(&throttled, json!({"action": "get_db_credentials"})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (504, Some("DependencyTimeout"))
        );

        let throttled = function();
        throttled
            .store
            .secret_source()
            .fail_next(vec![SecretError::Unavailable {
                what: Resource::Secret,
                name: Config::DEFAULT_DB_SECRET_ID.into(),
                kind: Transient::Throttled,
                detail: "ThrottlingException: Rate exceeded for arn:aws:secretsmanager:us-east-1:123456789012:secret:x".into(),
            }]);
        let (status, body) = call(&throttled, json!({"action": "get_db_credentials"})).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("DependencyUnavailable"))
        );
        let text = body.to_string();
        assert!(
            text.contains("ThrottlingException") && !text.contains("123456789012"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn http_events_get_http_responses() {
        let event = json!({
            "version": "2.0",
            "rawPath": "/config",
            "queryStringParameters": {"action": "get_feature_flags"},
            "requestContext": {"http": {"method": "GET"}},
        });
        let response = function().handle(event).await;
        assert_eq!(response["statusCode"], 200);
        assert_eq!(response["cookies"], json!([]));
    }

    #[test]
    fn short_api_keys_are_redacted_whole() {
        assert_eq!(redact_api_key("sk-short"), REDACTED);
        assert_eq!(redact_api_key(API_KEY), format!("sk-abc12...{REDACTED}"));
    }
}
