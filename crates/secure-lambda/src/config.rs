//! Reading a function's configuration from environment variables, once, at start-up.
//!
//! Errors name the variable and what was expected, never the value that was found: a value put
//! in the wrong variable may be a secret.

use std::str::FromStr;
use std::time::Duration;

/// A missing or malformed environment variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &str, message: impl Into<String>) -> Self {
        Self {
            variable: variable.to_owned(),
            message: message.into(),
        }
    }
}

fn read(name: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(value) if value.trim().is_empty() => Ok(None),
        Ok(value) => Ok(Some(value.trim().to_owned())),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::new(name, "is not valid UTF-8")),
    }
}

/// The variable's value, or `default` when it is unset or empty.
pub fn env_string(name: &str, default: &str) -> Result<String, ConfigError> {
    Ok(read(name)?.unwrap_or_else(|| default.to_owned()))
}

/// The variable's value; an error naming it when unset or empty.
pub fn env_required(name: &str) -> Result<String, ConfigError> {
    read(name)?.ok_or_else(|| ConfigError::new(name, "is required but not set"))
}

/// The variable parsed as `T`, or `default` when unset. `expected` describes the format.
pub fn env_parse<T: FromStr>(name: &str, default: T, expected: &str) -> Result<T, ConfigError> {
    match read(name)? {
        None => Ok(default),
        Some(text) => text
            .parse()
            .map_err(|_| ConfigError::new(name, format!("must be {expected}"))),
    }
}

/// A whole number of seconds, or `default` when unset.
pub fn env_seconds(name: &str, default: Duration) -> Result<Duration, ConfigError> {
    env_parse::<u64>(
        name,
        default.as_secs(),
        "a whole number of seconds (e.g. 300)",
    )
    .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each test uses its own variable names: tests run in parallel in one process.
    #[test]
    fn defaults_apply_when_unset_or_empty() {
        assert_eq!(env_string("SL_TEST_UNSET_A", "d").unwrap(), "d");
        std::env::set_var("SL_TEST_EMPTY_A", "  ");
        assert_eq!(env_string("SL_TEST_EMPTY_A", "d").unwrap(), "d");
        assert!(env_required("SL_TEST_EMPTY_A")
            .unwrap_err()
            .to_string()
            .contains("SL_TEST_EMPTY_A"));
    }

    #[test]
    fn parse_errors_name_the_variable_not_the_value() {
        std::env::set_var("SL_TEST_BAD_SECONDS", "hunter2");
        let err = env_seconds("SL_TEST_BAD_SECONDS", Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.variable, "SL_TEST_BAD_SECONDS");
        assert!(!err.to_string().contains("hunter2"));
        std::env::set_var("SL_TEST_GOOD_SECONDS", "42");
        assert_eq!(
            env_seconds("SL_TEST_GOOD_SECONDS", Duration::ZERO).unwrap(),
            Duration::from_secs(42)
        );
    }
}
