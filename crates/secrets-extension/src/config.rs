//! The nine variables of AWS's layer, with its defaults, ranges and clamping.
//!
//! AWS clamps an out-of-range TTL with a warning instead of failing, and a function swapped onto
//! this extension must start with the variables it already has, so every out-of-range number
//! is clamped and reported in [`Config::warnings`]. Text that is not a number or a known word
//! is an error naming the variable: a typo should not silently become a default.

use std::fmt;
use std::time::Duration;

/// The longest TTL AWS accepts for either cache (5 minutes).
pub const MAX_TTL: Duration = Duration::from_secs(300);
/// The largest cache AWS accepts.
pub const MAX_CACHE_SIZE: usize = 1000;
/// The longest TTL `PARAMETERS_SECRETS_EXTENSION_MAX_TTL` may allow (one day).
pub const EXTENDED_MAX_TTL: Duration = Duration::from_secs(86_400);

/// Log verbosity, as `PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
    None,
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub http_port: u16,
    pub cache_enabled: bool,
    pub cache_size: usize,
    /// Outbound connections per AWS client.
    pub max_connections: usize,
    pub log_level: LogLevel,
    pub secrets_ttl: Duration,
    /// `None` is AWS's default of 0: no timeout.
    pub secrets_timeout: Option<Duration>,
    pub parameters_ttl: Duration,
    pub parameters_timeout: Option<Duration>,
    /// Extras of this extension, all off by default so that the defaults stay AWS's.
    pub extras: Extras,
    /// One line per clamped variable, for the log.
    pub warnings: Vec<String>,
}

/// What AWS's layer does not do, each opt-in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extras {
    /// `PARAMETERS_SECRETS_EXTENSION_REFRESH_NOW=true`: `refreshNow=true` (or `1`) in a query
    /// reads AWS now, as AWS's open-source agent allows.
    pub refresh_now: bool,
    /// `PARAMETERS_SECRETS_EXTENSION_PING=true`: `GET /ping` answers `healthy`, without a token.
    pub ping: bool,
    /// `PARAMETERS_SECRETS_EXTENSION_METRICS=true`: cache and upstream counters as CloudWatch
    /// EMF lines, every minute while running and at shutdown.
    pub metrics: bool,
    /// `PARAMETERS_SECRETS_EXTENSION_PREFETCH`: request targets (`/secretsmanager/get?secretId=db`,
    /// `/systemsmanager/parameters/get?name=/app/x&withDecryption=true`), separated by `;`, read at
    /// init in batches.
    pub prefetch: Vec<String>,
}

/// A variable whose text is not of its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} must be {}", self.variable, self.expected)
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// Reads the variables through `lookup` (the process environment in production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let mut warnings = Vec::new();

        let number = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            get(name)
                .map(|v| {
                    v.parse::<u64>().map_err(|_| ConfigError {
                        variable: name,
                        expected: "a whole number",
                    })
                })
                .transpose()
        };
        let mut clamped = |name: &'static str, default: u64, min: u64, max: u64| {
            let value = number(name)?.unwrap_or(default);
            let clamped = value.clamp(min, max);
            if clamped != value {
                warnings.push(format!(
                    "{name} is out of range {min}..={max}; using {clamped}"
                ));
            }
            Ok::<u64, ConfigError>(clamped)
        };

        let http_port = clamped("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", 2773, 1, 65535)?;
        let cache_size = clamped(
            "PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE",
            1000,
            0,
            MAX_CACHE_SIZE as u64,
        )?;
        let max_connections = clamped(
            "PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS",
            3,
            1,
            u64::from(u32::MAX),
        )?;
        // Opt-in: a longer ceiling for the two TTLs (AWS's is 5 minutes).
        let max_ttl = clamped(
            "PARAMETERS_SECRETS_EXTENSION_MAX_TTL",
            MAX_TTL.as_secs(),
            MAX_TTL.as_secs(),
            EXTENDED_MAX_TTL.as_secs(),
        )?;
        let secrets_ttl = clamped("SECRETS_MANAGER_TTL", 300, 0, max_ttl)?;
        let parameters_ttl = clamped("SSM_PARAMETER_STORE_TTL", 300, 0, max_ttl)?;
        let timeout = |name: &'static str| {
            number(name).map(|ms| ms.filter(|ms| *ms > 0).map(Duration::from_millis))
        };
        let secrets_timeout = timeout("SECRETS_MANAGER_TIMEOUT_MILLIS")?;
        let parameters_timeout = timeout("SSM_PARAMETER_STORE_TIMEOUT_MILLIS")?;

        let cache_enabled = match get("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED") {
            None => true,
            Some(v) if v.eq_ignore_ascii_case("true") => true,
            Some(v) if v.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                return Err(ConfigError {
                    variable: "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED",
                    expected: "TRUE or FALSE",
                })
            }
        };
        let log_level = match get("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL")
            .map(|v| v.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("INFO") => LogLevel::Info,
            Some("DEBUG") => LogLevel::Debug,
            Some("WARN") => LogLevel::Warn,
            Some("ERROR") => LogLevel::Error,
            Some("NONE") => LogLevel::None,
            Some(_) => {
                return Err(ConfigError {
                    variable: "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL",
                    expected: "DEBUG, INFO, WARN, ERROR or NONE",
                })
            }
        };

        let flag = |name: &'static str| match get(name) {
            None => Ok(false),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(_) => Err(ConfigError {
                variable: name,
                expected: "TRUE or FALSE",
            }),
        };
        let extras = Extras {
            refresh_now: flag("PARAMETERS_SECRETS_EXTENSION_REFRESH_NOW")?,
            ping: flag("PARAMETERS_SECRETS_EXTENSION_PING")?,
            metrics: flag("PARAMETERS_SECRETS_EXTENSION_METRICS")?,
            prefetch: get("PARAMETERS_SECRETS_EXTENSION_PREFETCH")
                .map(|list| {
                    list.split(';')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };

        Ok(Self {
            // Both clamped into the type's range above.
            http_port: u16::try_from(http_port).unwrap_or(2773),
            cache_enabled,
            cache_size: usize::try_from(cache_size).unwrap_or(MAX_CACHE_SIZE),
            max_connections: usize::try_from(max_connections).unwrap_or(3),
            log_level,
            secrets_ttl: Duration::from_secs(secrets_ttl),
            secrets_timeout,
            parameters_ttl: Duration::from_secs(parameters_ttl),
            parameters_timeout,
            extras,
            warnings,
        })
    }

    /// Whether secrets are cached at all: AWS bypasses the cache when it is disabled, its size
    /// is 0, or the TTL is 0.
    pub fn caches_secrets(&self) -> bool {
        self.cache_enabled && self.cache_size > 0 && !self.secrets_ttl.is_zero()
    }

    /// Whether parameters are cached at all (same rule as [`Self::caches_secrets`]).
    pub fn caches_parameters(&self) -> bool {
        self.cache_enabled && self.cache_size > 0 && !self.parameters_ttl.is_zero()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_aws_defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.http_port, 2773);
        assert!(c.cache_enabled);
        assert_eq!(c.cache_size, 1000);
        assert_eq!(c.max_connections, 3);
        assert_eq!(c.log_level, LogLevel::Info);
        assert_eq!(c.secrets_ttl, Duration::from_secs(300));
        assert_eq!(c.parameters_ttl, Duration::from_secs(300));
        assert_eq!(c.secrets_timeout, None);
        assert_eq!(c.parameters_timeout, None);
        assert!(c.warnings.is_empty());
        assert!(c.caches_secrets() && c.caches_parameters());
    }

    #[test]
    fn out_of_range_values_are_clamped_with_a_warning() {
        let c = config(&[
            ("SECRETS_MANAGER_TTL", "900"),
            ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "5000"),
            ("PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS", "0"),
            ("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "70000"),
        ])
        .unwrap();
        assert_eq!(c.secrets_ttl, MAX_TTL);
        assert_eq!(c.cache_size, 1000);
        assert_eq!(c.max_connections, 1);
        assert_eq!(c.http_port, 65535);
        assert_eq!(c.warnings.len(), 4);
        assert!(c
            .warnings
            .iter()
            .any(|w| w.starts_with("SECRETS_MANAGER_TTL")));
    }

    #[test]
    fn words_in_either_case_and_timeouts() {
        let c = config(&[
            ("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "false"),
            ("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "debug"),
            ("SECRETS_MANAGER_TIMEOUT_MILLIS", "250"),
            ("SSM_PARAMETER_STORE_TIMEOUT_MILLIS", "0"),
        ])
        .unwrap();
        assert!(!c.cache_enabled && !c.caches_secrets());
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.secrets_timeout, Some(Duration::from_millis(250)));
        assert_eq!(c.parameters_timeout, None);
    }

    #[test]
    fn zero_ttl_or_size_bypasses_the_cache() {
        let c = config(&[("SSM_PARAMETER_STORE_TTL", "0")]).unwrap();
        assert!(c.caches_secrets() && !c.caches_parameters());
        let c = config(&[("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "0")]).unwrap();
        assert!(!c.caches_secrets() && !c.caches_parameters());
    }

    #[test]
    fn malformed_text_names_the_variable() {
        let e = config(&[("SECRETS_MANAGER_TTL", "5m")]).unwrap_err();
        assert_eq!(e.variable, "SECRETS_MANAGER_TTL");
        let e = config(&[("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "yes")]).unwrap_err();
        assert_eq!(e.variable, "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED");
        let e = config(&[("PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL", "TRACE")]).unwrap_err();
        assert_eq!(e.variable, "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL");
        let e = config(&[("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "-1")]).unwrap_err();
        assert_eq!(e.variable, "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT");
    }
}
