//! Configuration of `loadtest`, from environment variables (the lab's names where it had them).

use std::time::Duration;

use secure_lambda::config::{env_parse, env_required, env_string, ConfigError};
use secure_lambda::secrets::CachePolicy;

use crate::request::Caps;

/// `USER_NAME` as the template deploys it until `suitectl encrypt-env` has recorded a ciphertext:
/// the default of its `LoadTestUserName` parameter.
pub const USER_NAME_PLACEHOLDER: &str = "set-me-with-suitectl-encrypt-env";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `API_URL`: what to call (the suite's `GET /orders` in the template).
    pub api_url: String,
    /// `CLIENT_ID`: the Cognito app client users sign in through.
    pub client_id: String,
    /// `USERPOOL_ID`: the user pool (logged, and checked to be set).
    pub user_pool_id: String,
    /// `USER_NAME`: the KMS-encrypted user name(s), comma separated once decrypted.
    pub user_name_variable: String,
    /// `PASSWORD_SECRET_PREFIX` / `PASSWORD_SECRET_KEY`: secret `<prefix><user>`, JSON key.
    pub password_prefix: String,
    pub password_key: String,
    /// `SIGN_IN_INTERVAL_MS`: least time between two sign-ins.
    pub sign_in_interval: Duration,
    /// `REQUEST_TIMEOUT_MS`: per call.
    pub request_timeout: Duration,
    /// `LOG_CALLS`: log every call of runs up to this many calls, about this many samples beyond.
    pub log_calls: u64,
    /// `KMS_RETRY_WITHOUT_CONTEXT`: also try decrypting without a context (off).
    pub kms_retry_without_context: bool,
    /// `WORKER_KEY_SECRET_ID`: the secret whose generated value signs worker messages.
    pub worker_key_secret_id: String,
    /// `LOG_USER_NAMES`: show user names in full in logs and responses (off: masked).
    pub log_user_names: bool,
    /// `MAX_DURATION_SECONDS`, `MAX_CALLS`, `MAX_CALLS_PER_SECOND`, `MAX_CONCURRENCY`,
    /// `MAX_WORKERS`: the caps of every run, all workers together.
    pub caps: Caps,
    pub cache: CachePolicy,
}

/// The labs' name for the worker key (samconfig.toml's `lab` env, the local stack). A deployed
/// function is always given its stack's secret.
pub const DEFAULT_WORKER_KEY_SECRET_ID: &str = "loadtest/worker-key";

/// A whole number from 1 to `max`, `default` when unset. The upper bounds keep a cap a cap: the
/// duration within Lambda's 15 minutes less set-up, the others near what one function can drive.
fn bounded(name: &str, default: u64, max: u64) -> Result<u64, ConfigError> {
    let value = env_parse(name, default, "a whole number")?;
    if (1..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::new(name, format!("must be 1 to {max}")))
    }
}

/// `SIGN_IN_INTERVAL_MS`: 0 to 10 s (a larger spacing would stall every run's sign-ins).
fn sign_in_interval_ms() -> Result<u64, ConfigError> {
    let name = "SIGN_IN_INTERVAL_MS";
    let value = env_parse(name, 200, "a whole number of milliseconds")?;
    if value > 10_000 {
        return Err(ConfigError::new(name, "must be 0 to 10000"));
    }
    Ok(value)
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let api_url = env_required("API_URL")?;
        if !(api_url.starts_with("https://") || api_url.starts_with("http://"))
            || api_url.parse::<hyper::Uri>().is_err()
        {
            return Err(ConfigError::new("API_URL", "must be an http(s) URL"));
        }
        let defaults = Caps::default();
        let max_duration = bounded("MAX_DURATION_SECONDS", defaults.max_duration.as_secs(), 840)?;
        let caps = Caps {
            max_duration: Duration::from_secs(max_duration),
            max_calls: bounded("MAX_CALLS", defaults.max_calls, 10_000_000)?,
            max_rate: bounded("MAX_CALLS_PER_SECOND", defaults.max_rate.into(), 20_000)?
                .try_into()
                .map_err(|_| ConfigError::new("MAX_CALLS_PER_SECOND", "is too large"))?,
            max_concurrency: bounded("MAX_CONCURRENCY", defaults.max_concurrency.into(), 1024)?
                .try_into()
                .map_err(|_| ConfigError::new("MAX_CONCURRENCY", "is too large"))?,
            max_workers: bounded("MAX_WORKERS", defaults.max_workers.into(), 32)?
                .try_into()
                .map_err(|_| ConfigError::new("MAX_WORKERS", "is too large"))?,
        };
        if caps.max_workers > caps.max_concurrency {
            return Err(ConfigError::new(
                "MAX_WORKERS",
                "may not exceed MAX_CONCURRENCY: every worker keeps at least one call in flight",
            ));
        }
        let user_name_variable = "USER_NAME";
        if env_string(user_name_variable, USER_NAME_PLACEHOLDER)? == USER_NAME_PLACEHOLDER {
            return Err(ConfigError::new(
                user_name_variable,
                "holds no encrypted user name yet: run `suitectl encrypt-env --stack-name <stack>` \
                 (it records the ciphertext in samconfig.toml), then `sam deploy`",
            ));
        }
        Ok(Self {
            api_url,
            client_id: env_required("CLIENT_ID")?,
            user_pool_id: env_required("USERPOOL_ID")?,
            user_name_variable: user_name_variable.to_owned(),
            password_prefix: env_string("PASSWORD_SECRET_PREFIX", "")?,
            password_key: env_string("PASSWORD_SECRET_KEY", "Password")?,
            sign_in_interval: Duration::from_millis(sign_in_interval_ms()?),
            // With the longest run (MAX_DURATION_SECONDS 840) and the fan-out's margins, a
            // worker's wait stays under Lambda's 900 s limit.
            request_timeout: Duration::from_millis(bounded("REQUEST_TIMEOUT_MS", 10_000, 30_000)?),
            log_calls: env_parse("LOG_CALLS", 20, "a whole number")?,
            kms_retry_without_context: env_parse(
                "KMS_RETRY_WITHOUT_CONTEXT",
                false,
                "true or false",
            )?,
            worker_key_secret_id: env_string("WORKER_KEY_SECRET_ID", DEFAULT_WORKER_KEY_SECRET_ID)?,
            log_user_names: env_parse("LOG_USER_NAMES", false, "true or false")?,
            caps,
            cache: CachePolicy::from_env()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The only test in this crate that reads the configuration from the environment (tests
    /// share the process environment): the checks run one after another.
    #[test]
    fn configuration_errors_name_the_variable() {
        std::env::set_var("API_URL", "https://example.com/orders");
        for value in ["", USER_NAME_PLACEHOLDER] {
            std::env::set_var("USER_NAME", value);
            let error = Config::from_env().unwrap_err();
            assert_eq!(error.variable, "USER_NAME");
            assert!(error.message.contains("suitectl encrypt-env"), "{error}");
        }
        // Caps that contradict each other, or would stall or outlast the function.
        std::env::set_var("USER_NAME", "AQICAHh-ciphertext");
        std::env::set_var("CLIENT_ID", "client");
        std::env::set_var("USERPOOL_ID", "us-east-1_pool");
        for (variable, value, named) in [
            ("MAX_CONCURRENCY", "4", "MAX_WORKERS"),
            (
                "SIGN_IN_INTERVAL_MS",
                "18446744073709551615",
                "SIGN_IN_INTERVAL_MS",
            ),
            ("SIGN_IN_INTERVAL_MS", "10001", "SIGN_IN_INTERVAL_MS"),
            ("REQUEST_TIMEOUT_MS", "300000", "REQUEST_TIMEOUT_MS"),
        ] {
            std::env::set_var(variable, value);
            let error = Config::from_env().unwrap_err();
            std::env::remove_var(variable);
            assert_eq!(error.variable, named, "{variable}={value}: {error}");
        }
    }
}
