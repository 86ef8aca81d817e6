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
    /// `MAX_DURATION_SECONDS` and the other caps.
    pub caps: Caps,
    pub cache: CachePolicy,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        let api_url = env_required("API_URL")?;
        if !(api_url.starts_with("https://") || api_url.starts_with("http://"))
            || api_url.parse::<hyper::Uri>().is_err()
        {
            return Err(ConfigError::new("API_URL", "must be an http(s) URL"));
        }
        let max_duration = env_parse("MAX_DURATION_SECONDS", 600u64, "a whole number of seconds")?;
        if !(1..=840).contains(&max_duration) {
            return Err(ConfigError::new(
                "MAX_DURATION_SECONDS",
                "must be 1 to 840 (Lambda's 15-minute limit, minus set-up)",
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
            sign_in_interval: Duration::from_millis(env_parse(
                "SIGN_IN_INTERVAL_MS",
                200,
                "a whole number of milliseconds",
            )?),
            request_timeout: Duration::from_millis(env_parse(
                "REQUEST_TIMEOUT_MS",
                10_000,
                "a whole number of milliseconds",
            )?),
            log_calls: env_parse("LOG_CALLS", 20, "a whole number")?,
            kms_retry_without_context: env_parse(
                "KMS_RETRY_WITHOUT_CONTEXT",
                false,
                "true or false",
            )?,
            caps: Caps {
                max_duration: Duration::from_secs(max_duration),
                ..Caps::default()
            },
            cache: CachePolicy::from_env()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unset_user_name_names_the_command_that_sets_it() {
        // The only test in this crate that sets USER_NAME: tests share the process environment.
        for value in ["", USER_NAME_PLACEHOLDER] {
            std::env::set_var("API_URL", "https://example.com/orders");
            std::env::set_var("USER_NAME", value);
            let error = Config::from_env().unwrap_err();
            assert_eq!(error.variable, "USER_NAME");
            assert!(error.message.contains("suitectl encrypt-env"), "{error}");
        }
    }
}
