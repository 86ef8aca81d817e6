//! Configuration of `multi-tenant-query`, from environment variables.

use std::time::Duration;

use secure_lambda::config::{env_parse, env_required, env_seconds, env_string, ConfigError};
use secure_lambda::secrets::CachePolicy;

/// Where the orders are, how identities are checked, and the paging limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table_name: String,
    /// `TENANT_ROLE_ARN`: the role assumed, with the caller's tenant and user as session tags,
    /// for every query. Its policy limits DynamoDB to the partition those tags name.
    pub tenant_role_arn: String,
    /// `CURSOR_KEY_SECRET_ID`: secret whose value seals pagination cursors.
    pub cursor_key_secret_id: String,
    /// `DEFAULT_LIMIT` / `MAX_LIMIT`: orders per response.
    pub default_limit: usize,
    pub max_limit: usize,
    /// Bearer-token verification, when `USER_POOL_ID` and `APP_CLIENT_ID` are set.
    pub tokens: Option<TokenConfig>,
    /// `TENANT_CLAIM` / `USER_CLAIM`: the claims naming the tenant and the user.
    pub tenant_claim: String,
    pub user_claim: String,
    pub cache: CachePolicy,
}

/// Where ID tokens come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenConfig {
    pub region: String,
    pub user_pool_id: String,
    pub app_client_id: String,
    /// `JWKS_URL`; by default the pool's, under `AWS_ENDPOINT_URL` when that is set.
    pub jwks_url: Option<String>,
    /// `TOKEN_LEEWAY_SECONDS`: clock skew allowed on `exp` and `nbf`.
    pub leeway: Duration,
}

impl Config {
    pub const DEFAULT_TABLE_NAME: &'static str = "MultiTenantApp";
    pub const DEFAULT_CURSOR_KEY_SECRET_ID: &'static str = "multi-tenant-query/cursor-key";
    pub const DEFAULT_TENANT_CLAIM: &'static str = "custom:tenantId";
    pub const DEFAULT_USER_CLAIM: &'static str = "cognito:username";
    /// DynamoDB pages are at most 1 MB; beyond a few hundred orders a caller should page.
    pub const LIMIT_CEILING: usize = 1000;

    pub fn from_env() -> Result<Self, ConfigError> {
        let default_limit = env_parse("DEFAULT_LIMIT", 50, "a whole number")?;
        let max_limit = env_parse("MAX_LIMIT", 100, "a whole number")?;
        if !(1..=Self::LIMIT_CEILING).contains(&max_limit) {
            return Err(ConfigError::new(
                "MAX_LIMIT",
                format!("must be between 1 and {}", Self::LIMIT_CEILING),
            ));
        }
        if !(1..=max_limit).contains(&default_limit) {
            return Err(ConfigError::new(
                "DEFAULT_LIMIT",
                "must be between 1 and MAX_LIMIT",
            ));
        }
        let tenant_role_arn = env_required("TENANT_ROLE_ARN")?;
        if !tenant_role_arn.starts_with("arn:") || !tenant_role_arn.contains(":role/") {
            return Err(ConfigError::new(
                "TENANT_ROLE_ARN",
                "must be an IAM role ARN",
            ));
        }
        let pool = env_string("USER_POOL_ID", "")?;
        let client = env_string("APP_CLIENT_ID", "")?;
        let tokens = match (pool.is_empty(), client.is_empty()) {
            (true, true) => None,
            (false, false) => Some(TokenConfig {
                region: env_string("AWS_REGION", "us-east-1")?,
                user_pool_id: pool,
                app_client_id: client,
                jwks_url: Some(env_string("JWKS_URL", "")?).filter(|u| !u.is_empty()),
                leeway: env_seconds("TOKEN_LEEWAY_SECONDS", Duration::from_secs(60))?,
            }),
            _ => {
                return Err(ConfigError::new(
                    "USER_POOL_ID",
                    "USER_POOL_ID and APP_CLIENT_ID must be set together",
                ))
            }
        };
        Ok(Self {
            table_name: env_string("TABLE_NAME", Self::DEFAULT_TABLE_NAME)?,
            tenant_role_arn,
            cursor_key_secret_id: env_string(
                "CURSOR_KEY_SECRET_ID",
                Self::DEFAULT_CURSOR_KEY_SECRET_ID,
            )?,
            default_limit,
            max_limit,
            tokens,
            tenant_claim: env_string("TENANT_CLAIM", Self::DEFAULT_TENANT_CLAIM)?,
            user_claim: env_string("USER_CLAIM", Self::DEFAULT_USER_CLAIM)?,
            cache: CachePolicy::from_env()?,
        })
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            table_name: Self::DEFAULT_TABLE_NAME.to_owned(),
            tenant_role_arn: "arn:aws:iam::123456789012:role/tenant-query".to_owned(),
            cursor_key_secret_id: Self::DEFAULT_CURSOR_KEY_SECRET_ID.to_owned(),
            default_limit: 50,
            max_limit: 100,
            tokens: None,
            tenant_claim: Self::DEFAULT_TENANT_CLAIM.to_owned(),
            user_claim: Self::DEFAULT_USER_CLAIM.to_owned(),
            cache: CachePolicy::default(),
        }
    }
}
