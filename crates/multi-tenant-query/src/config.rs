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
    /// How the tenant role is assumed and its sessions kept.
    pub sessions: TenantSessions,
}

/// What one assumed-role session may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionScope {
    /// One user's partition: IAM separates users and tenants (the default).
    User,
    /// Every user of one tenant: IAM separates tenants, the function separates users. STS calls
    /// fall by the number of active users per tenant.
    Tenant,
}

/// `TENANT_SESSION_SCOPE`, `TENANT_SESSION_SECONDS`, `TENANT_SESSION_CACHE_SIZE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantSessions {
    pub scope: SessionScope,
    /// Session length asked of STS; the role's `MaxSessionDuration` must be at least this (the
    /// template sets both from one parameter).
    pub duration_seconds: i32,
    /// Scopes whose credentials are kept (least recently used evicted first).
    pub cache_size: usize,
}

impl TenantSessions {
    /// STS's bounds of `DurationSeconds` for a role session.
    pub const MIN_SECONDS: i32 = 900;
    pub const MAX_SECONDS: i32 = 43_200;
    pub const DEFAULT_SECONDS: i32 = 3600;
    /// About 2.7 KB per cached scope (see `memory_per_cached_scope_sizes_the_bound` in
    /// `dynamo.rs`, counting a 2 KB session token): 3,000 scopes hold about 8.0 MB, 3% of the
    /// function's 256 MB. A sandbox serving more active users than this at once per session
    /// length is better served per tenant, or with more memory and a larger bound.
    pub const DEFAULT_CACHE_SIZE: usize = 3000;
    /// A bound on memory (about 270 MB at this size: needs a larger function) whatever the
    /// variable says.
    pub const MAX_CACHE_SIZE: usize = 100_000;

    pub fn from_env() -> Result<Self, ConfigError> {
        let scope = match env_string("TENANT_SESSION_SCOPE", "user")?.as_str() {
            "user" => SessionScope::User,
            "tenant" => SessionScope::Tenant,
            _ => {
                return Err(ConfigError::new(
                    "TENANT_SESSION_SCOPE",
                    "must be `user` or `tenant`",
                ))
            }
        };
        let duration_seconds = env_parse(
            "TENANT_SESSION_SECONDS",
            Self::DEFAULT_SECONDS,
            "a whole number of seconds",
        )?;
        if !(Self::MIN_SECONDS..=Self::MAX_SECONDS).contains(&duration_seconds) {
            return Err(ConfigError::new(
                "TENANT_SESSION_SECONDS",
                format!(
                    "must be between {} and {} (and at most the tenant role's MaxSessionDuration)",
                    Self::MIN_SECONDS,
                    Self::MAX_SECONDS
                ),
            ));
        }
        let cache_size = env_parse(
            "TENANT_SESSION_CACHE_SIZE",
            Self::DEFAULT_CACHE_SIZE,
            "a whole number",
        )?;
        if !(1..=Self::MAX_CACHE_SIZE).contains(&cache_size) {
            return Err(ConfigError::new(
                "TENANT_SESSION_CACHE_SIZE",
                format!("must be between 1 and {}", Self::MAX_CACHE_SIZE),
            ));
        }
        Ok(Self {
            scope,
            duration_seconds,
            cache_size,
        })
    }
}

impl Default for TenantSessions {
    fn default() -> Self {
        Self {
            scope: SessionScope::User,
            duration_seconds: Self::DEFAULT_SECONDS,
            cache_size: Self::DEFAULT_CACHE_SIZE,
        }
    }
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
            sessions: TenantSessions::from_env()?,
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
            sessions: TenantSessions::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_sessions_are_read_from_the_environment_and_checked() {
        // This test alone sets the TENANT_SESSION_* variables (tests share the environment).
        assert_eq!(TenantSessions::from_env(), Ok(TenantSessions::default()));
        std::env::set_var("TENANT_SESSION_SCOPE", "tenant");
        std::env::set_var("TENANT_SESSION_SECONDS", "43200");
        std::env::set_var("TENANT_SESSION_CACHE_SIZE", "300");
        assert_eq!(
            TenantSessions::from_env(),
            Ok(TenantSessions {
                scope: SessionScope::Tenant,
                duration_seconds: 43_200,
                cache_size: 300,
            })
        );
        for (name, bad) in [
            ("TENANT_SESSION_SCOPE", "everyone"),
            ("TENANT_SESSION_SECONDS", "899"),
            ("TENANT_SESSION_SECONDS", "43201"),
            ("TENANT_SESSION_SECONDS", "an hour"),
            ("TENANT_SESSION_CACHE_SIZE", "0"),
            ("TENANT_SESSION_CACHE_SIZE", "100001"),
        ] {
            let good = std::env::var(name).unwrap();
            std::env::set_var(name, bad);
            let error = TenantSessions::from_env().unwrap_err();
            assert!(error.to_string().contains(name), "{name}={bad}: {error}");
            std::env::set_var(name, good);
        }
        for name in [
            "TENANT_SESSION_SCOPE",
            "TENANT_SESSION_SECONDS",
            "TENANT_SESSION_CACHE_SIZE",
        ] {
            std::env::remove_var(name);
        }
    }
}
