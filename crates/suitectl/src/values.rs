//! The secret values `suitectl seed` writes: from flags, environment variables or a JSON file,
//! with the lab's values as the default only for the local stack.

use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

/// The lab's values, used on the local stack unless others are given.
pub mod lab_defaults {
    pub const DB_PASSWORD: &str = "SuperSecretPass123!";
    pub const API_KEY: &str = "sk-abc123-this-is-a-secret-key";
    pub const USER_PASSWORD: &str = "lab_password";
}

/// The secret values to seed.
#[derive(Debug, Clone)]
pub struct SeedValues {
    pub db_password: SecretString,
    pub api_key: SecretString,
    pub user_password: SecretString,
}

impl SeedValues {
    /// The lab's values.
    pub fn lab() -> Self {
        Self {
            db_password: SecretString::from(lab_defaults::DB_PASSWORD),
            api_key: SecretString::from(lab_defaults::API_KEY),
            user_password: SecretString::from(lab_defaults::USER_PASSWORD),
        }
    }
}

/// The shape of `--values-file`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValuesFile {
    pub db_password: Option<SecretString>,
    pub api_key: Option<SecretString>,
    pub user_password: Option<SecretString>,
}

impl ValuesFile {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read values file {}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "values file {} is not a JSON object with dbPassword, apiKey, userPassword (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })
    }
}

/// Picks each value from the flag/env, else the file, else the lab default when allowed.
pub fn resolve(
    flags: ValuesFile,
    file: Option<ValuesFile>,
    allow_lab_defaults: bool,
) -> anyhow::Result<SeedValues> {
    let file = file.unwrap_or_default();
    let lab = SeedValues::lab();
    let pick = |flag: Option<SecretString>,
                from_file: Option<SecretString>,
                default: SecretString,
                how: &str|
     -> anyhow::Result<SecretString> {
        match flag.or(from_file) {
            Some(value) => Ok(value),
            None if allow_lab_defaults => Ok(default),
            None => anyhow::bail!(
                "no value for {how}: this is not the local stack, so lab defaults are off \
                 (give it by flag, environment variable or --values-file, or pass --lab-defaults)"
            ),
        }
    };
    Ok(SeedValues {
        db_password: pick(
            flags.db_password,
            file.db_password,
            lab.db_password,
            "the database password (--db-password / SUITECTL_DB_PASSWORD)",
        )?,
        api_key: pick(flags.api_key, file.api_key, lab.api_key, "the API key (--api-key / SUITECTL_API_KEY)")?,
        user_password: pick(
            flags.user_password,
            file.user_password,
            lab.user_password,
            "the users' password (--user-password / SUITECTL_USER_PASSWORD)",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn flags_win_over_file_and_defaults_need_permission() {
        let flags = ValuesFile {
            db_password: Some(SecretString::from("from-flag")),
            ..Default::default()
        };
        let file = ValuesFile {
            db_password: Some(SecretString::from("from-file")),
            api_key: Some(SecretString::from("key-from-file")),
            ..Default::default()
        };
        let values = resolve(flags, Some(file), true).unwrap();
        assert_eq!(values.db_password.expose_secret(), "from-flag");
        assert_eq!(values.api_key.expose_secret(), "key-from-file");
        assert_eq!(values.user_password.expose_secret(), lab_defaults::USER_PASSWORD);

        let err = resolve(ValuesFile::default(), None, false).unwrap_err().to_string();
        assert!(err.contains("database password") && !err.contains(lab_defaults::DB_PASSWORD), "{err}");
    }

    #[test]
    fn debug_of_values_is_redacted() {
        let printed = format!("{:?}", SeedValues::lab());
        assert!(!printed.contains(lab_defaults::DB_PASSWORD) && !printed.contains(lab_defaults::USER_PASSWORD));
    }
}
