//! Configuration of `secure-config`, from environment variables with the lab's names as defaults.

use secure_lambda::config::{env_string, ConfigError};
use secure_lambda::secrets::CachePolicy;

/// Where the function finds what it serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `DB_SECRET_ID`: the database credentials secret (JSON with host, port, dbname, username, password).
    pub db_secret_id: String,
    /// `API_URL_PARAMETER`: String parameter with the API base URL.
    pub api_url_parameter: String,
    /// `API_KEY_PARAMETER`: SecureString parameter with the API key.
    pub api_key_parameter: String,
    /// `MAX_ITEMS_PARAMETER`: String parameter with an integer.
    pub max_items_parameter: String,
    /// `FEATURE_FLAGS_PATH`: path whose parameters are the feature flags.
    pub feature_flags_path: String,
    /// `CACHE_TTL_SECONDS`, `CACHE_MAX_STALE_SECONDS`, `CACHE_NEGATIVE_TTL_SECONDS`.
    pub cache: CachePolicy,
}

impl Config {
    pub const DEFAULT_DB_SECRET_ID: &'static str = "prod/database/credentials";
    pub const DEFAULT_API_URL_PARAMETER: &'static str = "/app/config/api-url";
    pub const DEFAULT_API_KEY_PARAMETER: &'static str = "/app/secrets/api-key";
    pub const DEFAULT_MAX_ITEMS_PARAMETER: &'static str = "/app/config/max-items";
    pub const DEFAULT_FEATURE_FLAGS_PATH: &'static str = "/app/config/feature-flags";

    pub fn from_env() -> Result<Self, ConfigError> {
        let config = Self {
            db_secret_id: env_string("DB_SECRET_ID", Self::DEFAULT_DB_SECRET_ID)?,
            api_url_parameter: env_string("API_URL_PARAMETER", Self::DEFAULT_API_URL_PARAMETER)?,
            api_key_parameter: env_string("API_KEY_PARAMETER", Self::DEFAULT_API_KEY_PARAMETER)?,
            max_items_parameter: env_string(
                "MAX_ITEMS_PARAMETER",
                Self::DEFAULT_MAX_ITEMS_PARAMETER,
            )?,
            feature_flags_path: env_string("FEATURE_FLAGS_PATH", Self::DEFAULT_FEATURE_FLAGS_PATH)?,
            cache: CachePolicy::from_env()?,
        };
        for (variable, name) in [
            ("API_URL_PARAMETER", &config.api_url_parameter),
            ("API_KEY_PARAMETER", &config.api_key_parameter),
            ("MAX_ITEMS_PARAMETER", &config.max_items_parameter),
            ("FEATURE_FLAGS_PATH", &config.feature_flags_path),
        ] {
            if !name.starts_with('/') {
                return Err(ConfigError::new(
                    variable,
                    "must be a parameter name or path starting with `/`",
                ));
            }
        }
        Ok(config)
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            db_secret_id: Self::DEFAULT_DB_SECRET_ID.to_owned(),
            api_url_parameter: Self::DEFAULT_API_URL_PARAMETER.to_owned(),
            api_key_parameter: Self::DEFAULT_API_KEY_PARAMETER.to_owned(),
            max_items_parameter: Self::DEFAULT_MAX_ITEMS_PARAMETER.to_owned(),
            feature_flags_path: Self::DEFAULT_FEATURE_FLAGS_PATH.to_owned(),
            cache: CachePolicy::default(),
        }
    }
}
