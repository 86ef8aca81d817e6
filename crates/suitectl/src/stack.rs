//! Where `suitectl` finds a stack's resources: the stack's outputs (template.yaml's `Outputs`), so
//! that it never disagrees with the template and holds no resource name of its own. A deployed
//! stack's outputs come from CloudFormation (`--stack-name`); the local stack's come from a file
//! with the same keys (`--stack-outputs tests/local-stack.json`).

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use aws_smithy_types::error::display::DisplayErrorContext;

/// The output keys `suitectl` reads: template.yaml's `Outputs` (and tests/local-stack.json).
pub mod keys {
    pub const DB_SECRET_ID: &str = "DbSecretId";
    pub const MASKING_KEY_SECRET_ID: &str = "MaskingKeySecretId";
    pub const CURSOR_KEY_SECRET_ID: &str = "CursorKeySecretId";
    pub const WORKER_KEY_SECRET_ID: &str = "LoadTestWorkerKeySecretId";
    pub const APP_PARAMETER_PATH: &str = "AppParameterPath";
    pub const ORDERS_TABLE_NAME: &str = "OrdersTableName";
    pub const USER_NAME_KEY_ALIAS: &str = "UserNameKeyAlias";
    /// The KMS key of data-masking's encrypt strategy and data-decrypt.
    pub const FIELD_KEY_ALIAS: &str = "FieldKeyAlias";
    pub const LOAD_TEST_FUNCTION_NAME: &str = "LoadTestFunctionName";
    pub const LOAD_TEST_USER_SECRET_PREFIX: &str = "LoadTestUserSecretPrefix";
    pub const USER_POOL_ID: &str = "UserPoolId";
    pub const USER_POOL_CLIENT_ID: &str = "UserPoolClientId";
    /// The claim multi-tenant-query keys orders on (`cognito:username` when absent).
    pub const USER_ID_CLAIM: &str = "UserIdClaim";
    /// Only in a local stack's file: the pool and client `suitectl seed` creates there, where no
    /// template made them.
    pub const USER_POOL_NAME: &str = "UserPoolName";
    pub const USER_POOL_CLIENT_NAME: &str = "UserPoolClientName";
}

/// The template parameter that carries loadtest's encrypted `USER_NAME`.
pub const USER_NAME_PARAMETER: &str = "LoadTestUserName";

/// A stack's outputs, by key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackOutputs {
    /// Where they came from, for error messages: "stack <name>" or the file.
    source: String,
    values: BTreeMap<String, String>,
    stack_name: Option<String>,
}

impl StackOutputs {
    /// The outputs of the deployed stack `stack_name` (CloudFormation `DescribeStacks`).
    pub async fn describe(
        cloudformation: &aws_sdk_cloudformation::Client,
        stack_name: &str,
    ) -> Result<Self> {
        let described = cloudformation
            .describe_stacks()
            .stack_name(stack_name)
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "reading the outputs of stack {stack_name}: {}",
                    DisplayErrorContext(&e)
                )
            })?;
        let stack = described
            .stacks()
            .first()
            .ok_or_else(|| anyhow!("stack {stack_name} not found"))?;
        let values = stack
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_owned(), o.output_value()?.to_owned())))
            .collect();
        Ok(Self {
            source: format!("stack {stack_name}"),
            values,
            stack_name: Some(stack_name.to_owned()),
        })
    }

    /// Outputs from a JSON object of string values (a local stack's, or saved from a deployed one).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading stack outputs from {}", path.display()))?;
        let values: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| {
            anyhow!(
                "{} is not a JSON object of output keys to string values (line {}, column {})",
                path.display(),
                e.line(),
                e.column()
            )
        })?;
        Ok(Self::from_values(path.display().to_string(), values))
    }

    pub fn from_values(source: impl Into<String>, values: BTreeMap<String, String>) -> Self {
        Self {
            source: source.into(),
            values,
            stack_name: None,
        }
    }

    /// The deployed stack's name; `None` for outputs read from a file.
    pub fn stack_name(&self) -> Option<&str> {
        self.stack_name.as_deref()
    }

    /// The output `key`, or an error naming it and where it was looked for.
    pub fn get(&self, key: &str) -> Result<&str> {
        self.optional(key).ok_or_else(|| {
            anyhow!(
                "{} has no output {key} (was it deployed from this repository's template.yaml?)",
                self.source
            )
        })
    }

    pub fn optional(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }
}

/// The user pool and app client `suitectl seed` fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserPool {
    /// A deployed stack's: its users go there, where the API's authorizer trusts them.
    Existing { pool_id: String, client_id: String },
    /// The local stack's, found by name or created.
    Named {
        pool_name: String,
        client_name: String,
    },
}

/// Every resource `suitectl seed` writes to, as the stack names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    /// Secret ids: ARNs from a deployed stack, names on the local stack.
    pub db_secret_id: String,
    pub masking_key_secret_id: String,
    pub cursor_key_secret_id: String,
    pub worker_key_secret_id: String,
    /// Parameter Store path without a trailing slash, e.g. `/app`.
    pub parameter_path: String,
    pub table_name: String,
    /// `alias/...`.
    pub kms_alias: String,
    /// `alias/...` of the reversible-masking key.
    pub field_key_alias: String,
    /// Each loadtest user's password is the secret `<prefix><user>`.
    pub user_secret_prefix: String,
    pub user_pool: UserPool,
    /// Which of a user's ids their orders are keyed on.
    pub user_id_claim: UserIdClaim,
}

/// The ID-token claim multi-tenant-query takes the user from (template parameter `UserIdClaim`,
/// the function's `USER_CLAIM`): the sample orders are keyed on the same id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserIdClaim {
    /// `cognito:username`: the labs' choice. A user deleted and re-created under the same name
    /// inherits the old user's orders.
    Username,
    /// `sub`: never reused; the production choice.
    Sub,
}

impl UserIdClaim {
    pub fn parse(claim: &str) -> Result<Self> {
        match claim {
            "cognito:username" => Ok(Self::Username),
            "sub" => Ok(Self::Sub),
            other => bail!(
                "output {}: `{other}` is not a claim suitectl can key orders on (cognito:username or sub)",
                keys::USER_ID_CLAIM
            ),
        }
    }

    pub fn claim(self) -> &'static str {
        match self {
            Self::Username => "cognito:username",
            Self::Sub => "sub",
        }
    }
}

impl Names {
    pub fn from_outputs(outputs: &StackOutputs) -> Result<Self> {
        let parameter_path = outputs.get(keys::APP_PARAMETER_PATH)?;
        if !parameter_path.starts_with('/') || parameter_path.ends_with('/') {
            bail!(
                "output {} must be a path like /app (a leading slash, none at the end)",
                keys::APP_PARAMETER_PATH
            );
        }
        let kms_alias = outputs.get(keys::USER_NAME_KEY_ALIAS)?;
        if !kms_alias.starts_with("alias/") {
            bail!(
                "output {} must be a KMS alias name (alias/...)",
                keys::USER_NAME_KEY_ALIAS
            );
        }
        let field_key_alias = outputs.get(keys::FIELD_KEY_ALIAS)?;
        if !field_key_alias.starts_with("alias/") {
            bail!(
                "output {} must be a KMS alias name (alias/...)",
                keys::FIELD_KEY_ALIAS
            );
        }
        let user_pool = match (
            outputs.optional(keys::USER_POOL_ID),
            outputs.optional(keys::USER_POOL_CLIENT_ID),
        ) {
            (Some(pool_id), Some(client_id)) => UserPool::Existing {
                pool_id: pool_id.to_owned(),
                client_id: client_id.to_owned(),
            },
            _ => UserPool::Named {
                pool_name: outputs.get(keys::USER_POOL_NAME)?.to_owned(),
                client_name: outputs.get(keys::USER_POOL_CLIENT_NAME)?.to_owned(),
            },
        };
        Ok(Self {
            db_secret_id: outputs.get(keys::DB_SECRET_ID)?.to_owned(),
            masking_key_secret_id: outputs.get(keys::MASKING_KEY_SECRET_ID)?.to_owned(),
            cursor_key_secret_id: outputs.get(keys::CURSOR_KEY_SECRET_ID)?.to_owned(),
            worker_key_secret_id: outputs.get(keys::WORKER_KEY_SECRET_ID)?.to_owned(),
            parameter_path: parameter_path.to_owned(),
            table_name: outputs.get(keys::ORDERS_TABLE_NAME)?.to_owned(),
            kms_alias: kms_alias.to_owned(),
            field_key_alias: field_key_alias.to_owned(),
            user_secret_prefix: outputs.get(keys::LOAD_TEST_USER_SECRET_PREFIX)?.to_owned(),
            user_pool,
            user_id_claim: outputs
                .optional(keys::USER_ID_CLAIM)
                .map_or(Ok(UserIdClaim::Username), UserIdClaim::parse)?,
        })
    }

    /// `<path>/<relative>`, e.g. `/app` + `config/api-url`.
    pub fn parameter(&self, relative: &str) -> String {
        format!("{}/{relative}", self.parameter_path)
    }

    /// The secret holding `user`'s password.
    pub fn user_secret(&self, user: &str) -> String {
        format!("{}{user}", self.user_secret_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs(pairs: &[(&str, &str)]) -> StackOutputs {
        StackOutputs::from_values(
            "stack test",
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    const DEPLOYED: [(&str, &str); 12] = [
        (
            keys::DB_SECRET_ID,
            "arn:aws:secretsmanager:eu-west-1:1:secret:s/db-AbCdEf",
        ),
        (keys::MASKING_KEY_SECRET_ID, "arn:mask"),
        (keys::CURSOR_KEY_SECRET_ID, "arn:cursor"),
        (keys::WORKER_KEY_SECRET_ID, "arn:worker"),
        (keys::APP_PARAMETER_PATH, "/s"),
        (keys::ORDERS_TABLE_NAME, "s-orders"),
        (keys::USER_NAME_KEY_ALIAS, "alias/s-user-name"),
        (keys::FIELD_KEY_ALIAS, "alias/s-field-key"),
        (keys::LOAD_TEST_FUNCTION_NAME, "s-loadtest"),
        (keys::LOAD_TEST_USER_SECRET_PREFIX, "s/loadtest-users/"),
        (keys::USER_POOL_ID, "eu-west-1_abc"),
        (keys::USER_POOL_CLIENT_ID, "client"),
    ];

    #[test]
    fn a_deployed_stack_names_every_resource() {
        let names = Names::from_outputs(&outputs(&DEPLOYED)).unwrap();
        assert_eq!(names.table_name, "s-orders");
        assert_eq!(names.worker_key_secret_id, "arn:worker");
        assert_eq!(names.field_key_alias, "alias/s-field-key");
        assert_eq!(names.parameter("config/api-url"), "/s/config/api-url");
        assert_eq!(names.user_secret("student"), "s/loadtest-users/student");
        assert_eq!(
            names.user_pool,
            UserPool::Existing {
                pool_id: "eu-west-1_abc".into(),
                client_id: "client".into()
            }
        );
    }

    #[test]
    fn a_missing_or_malformed_output_is_named() {
        let missing = outputs(&DEPLOYED[1..]);
        let error = Names::from_outputs(&missing).unwrap_err().to_string();
        assert!(
            error.contains("stack test has no output DbSecretId"),
            "{error}"
        );

        let pairs: Vec<_> = DEPLOYED
            .iter()
            .map(|&(k, v)| match k {
                keys::APP_PARAMETER_PATH => (k, "/s/"),
                _ => (k, v),
            })
            .collect();
        let error = Names::from_outputs(&outputs(&pairs))
            .unwrap_err()
            .to_string();
        assert!(error.contains(keys::APP_PARAMETER_PATH), "{error}");

        // Without a pool id, the local stack's pool name is required.
        let no_pool: Vec<_> = DEPLOYED
            .iter()
            .copied()
            .filter(|(k, _)| ![keys::USER_POOL_ID, keys::USER_POOL_CLIENT_ID].contains(k))
            .collect();
        let no_pool = outputs(&no_pool);
        let error = Names::from_outputs(&no_pool).unwrap_err().to_string();
        assert!(error.contains(keys::USER_POOL_NAME), "{error}");
    }

    #[test]
    fn the_local_stack_file_has_the_same_keys() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/local-stack.json");
        let names = Names::from_outputs(&StackOutputs::read(&path).unwrap()).unwrap();
        assert!(matches!(names.user_pool, UserPool::Named { .. }));
    }
}
