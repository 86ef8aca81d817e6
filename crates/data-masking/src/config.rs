//! Configuration of `data-masking`, from environment variables.

use secure_lambda::config::{env_parse, env_string, ConfigError};
use secure_lambda::crypto::Suite;
use secure_lambda::secrets::CachePolicy;

/// What the function does with a request: one binary, two functions with two roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Masks records (rules, detection, tokens, and `encrypt` when a key is configured).
    Mask,
    /// Decrypts the values `encrypt` sealed: a separate privilege, deployed as its own function.
    Decrypt,
}

/// Reversible masking: the KMS key and how values are sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// `ENCRYPTION_KEY_ARN`: the full ARN of the KMS key data keys are made under.
    pub key_arn: String,
    /// `ENCRYPTION_SUITE`: `0x0578` (signed, Powertools' default) or `0x0478`.
    pub suite: Suite,
}

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
    /// `DATA_MASKING_MODE`: `mask` (default) or `decrypt`.
    pub mode: Mode,
    /// Set when `ENCRYPTION_KEY_ARN` is (required in decrypt mode).
    pub encryption: Option<Encryption>,
    /// `TENANT_CLAIM`: the verified ID token claim naming the caller's tenant (HTTP routes).
    pub tenant_claim: String,
    /// `MAX_DECRYPT_FIELDS`: values one request may decrypt, or encrypt, across its records.
    pub max_decrypt_fields: usize,
}

impl Config {
    pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
    pub const DEFAULT_MAX_DEPTH: usize = 32;
    /// serde_json refuses deeper documents while parsing, so a larger limit would never apply.
    pub const MAX_DEPTH_CEILING: usize = 100;
    pub const DEFAULT_MASKING_KEY_SECRET_ID: &'static str = "data-masking/token-key";
    pub const DEFAULT_TENANT_CLAIM: &'static str = "custom:tenantId";
    pub const DEFAULT_MAX_DECRYPT_FIELDS: usize = 1000;

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
        let mode = mode_from_env()?;
        let encryption = encryption_from_env(mode)?;
        let max_decrypt_fields = env_parse(
            "MAX_DECRYPT_FIELDS",
            Self::DEFAULT_MAX_DECRYPT_FIELDS,
            "a whole number",
        )?;
        if max_decrypt_fields == 0 {
            return Err(ConfigError::new("MAX_DECRYPT_FIELDS", "must be at least 1"));
        }
        Ok(Self {
            max_body_bytes,
            max_depth,
            masking_key_secret_id: env_string(
                "MASKING_KEY_SECRET_ID",
                Self::DEFAULT_MASKING_KEY_SECRET_ID,
            )?,
            cache: CachePolicy::from_env()?,
            mode,
            encryption,
            tenant_claim: env_string("TENANT_CLAIM", Self::DEFAULT_TENANT_CLAIM)?,
            max_decrypt_fields,
        })
    }
}

fn mode_from_env() -> Result<Mode, ConfigError> {
    match env_string("DATA_MASKING_MODE", "mask")?.as_str() {
        "mask" => Ok(Mode::Mask),
        "decrypt" => Ok(Mode::Decrypt),
        _ => Err(ConfigError::new(
            "DATA_MASKING_MODE",
            "must be `mask` or `decrypt`",
        )),
    }
}

fn encryption_from_env(mode: Mode) -> Result<Option<Encryption>, ConfigError> {
    let key_arn = env_string("ENCRYPTION_KEY_ARN", "")?;
    if key_arn.is_empty() {
        if mode == Mode::Decrypt {
            return Err(ConfigError::new(
                "ENCRYPTION_KEY_ARN",
                "is required in decrypt mode (the full ARN of the KMS key)",
            ));
        }
        return Ok(None);
    }
    let suite = match env_string("ENCRYPTION_SUITE", "0x0578")?.as_str() {
        "0x0578" => Suite::CommitKeyEcdsaP384,
        "0x0478" => Suite::CommitKey,
        _ => {
            return Err(ConfigError::new(
                "ENCRYPTION_SUITE",
                "must be 0x0578 (signed, the default) or 0x0478",
            ))
        }
    };
    Ok(Some(Encryption { key_arn, suite }))
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_body_bytes: Self::DEFAULT_MAX_BODY_BYTES,
            max_depth: Self::DEFAULT_MAX_DEPTH,
            masking_key_secret_id: Self::DEFAULT_MASKING_KEY_SECRET_ID.to_owned(),
            cache: CachePolicy::default(),
            mode: Mode::Mask,
            encryption: None,
            tenant_claim: Self::DEFAULT_TENANT_CLAIM.to_owned(),
            max_decrypt_fields: Self::DEFAULT_MAX_DECRYPT_FIELDS,
        }
    }
}
