//! Configuration of `data-masking`, from environment variables.

use secure_lambda::config::{env_parse, env_string, ConfigError};
use secure_lambda::secrets::CachePolicy;

/// Limits and where the token key lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `MAX_BODY_BYTES`: largest request (HTTP body, or the records of a direct invocation).
    pub max_body_bytes: usize,
    /// `MAX_DEPTH`: deepest nesting of a record.
    pub max_depth: usize,
    /// `MASKING_KEY_SECRET_ID`: Secrets Manager secret whose value keys the `token` strategy.
    pub masking_key_secret_id: String,
    /// `CACHE_TTL_SECONDS` and friends: how long the token key is cached.
    pub cache: CachePolicy,
}

impl Config {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_MAX_DEPTH: usize = 32;
    /// serde_json refuses deeper documents while parsing, so a larger limit would never apply.
    pub const MAX_DEPTH_CEILING: usize = 100;
    pub const DEFAULT_MASKING_KEY_SECRET_ID: &'static str = "data-masking/token-key";

    pub fn from_env() -> Result<Self, ConfigError> {
        let max_body_bytes = env_parse(
            "MAX_BODY_BYTES",
            Self::DEFAULT_MAX_BODY_BYTES,
            "a number of bytes (e.g. 1048576)",
        )?;
        if max_body_bytes == 0 {
            return Err(ConfigError::new("MAX_BODY_BYTES", "must be at least 1"));
        }
        let max_depth = env_parse("MAX_DEPTH", Self::DEFAULT_MAX_DEPTH, "a whole number")?;
        if !(1..=Self::MAX_DEPTH_CEILING).contains(&max_depth) {
            return Err(ConfigError::new(
                "MAX_DEPTH",
                format!("must be between 1 and {}", Self::MAX_DEPTH_CEILING),
            ));
        }
        Ok(Self {
            max_body_bytes,
            max_depth,
            masking_key_secret_id: env_string(
                "MASKING_KEY_SECRET_ID",
                Self::DEFAULT_MASKING_KEY_SECRET_ID,
            )?,
            cache: CachePolicy::from_env()?,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            masking_key_secret_id: Self::DEFAULT_MASKING_KEY_SECRET_ID.to_owned(),
            cache: CachePolicy::default(),
        }
    }
}
