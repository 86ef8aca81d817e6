//! `suitectl seed`: puts the lab flows' values, idempotently, into the resources a stack names.
//!
//! Each step looks first and changes only what differs, so a second run reports `unchanged`
//! everywhere. After `sam deploy` it fills only what CloudFormation cannot hold (secret values,
//! SecureString parameters, users and their passwords); on the local stack, where no template
//! ran, it also creates the secrets, key, table, user pool and app client under the names given.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use aws_config::SdkConfig;
use aws_sdk_cognitoidentityprovider as cognito;
use aws_sdk_dynamodb as dynamodb;
use aws_smithy_types::error::display::DisplayErrorContext;
use secrecy::{ExposeSecret, SecretString};
use secure_lambda::aws::{classify, FailureKind};
use secure_lambda::tenant::{order_sort_key, Identity, TenantId, UserId, PARTITION_KEY, SORT_KEY};
use serde::Serialize;

use crate::lab;
use crate::stack::{Names, UserIdClaim, UserPool};
use crate::values::SeedValues;

/// What a step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::Unchanged => "unchanged",
        })
    }
}

/// Identifiers of what was seeded (no secret values), for the functions' configuration.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SeedOutputs {
    pub region: String,
    pub db_secret_id: String,
    pub masking_key_secret_id: String,
    pub cursor_key_secret_id: String,
    pub worker_key_secret_id: String,
    pub kms_key_id: String,
    pub kms_key_arn: String,
    pub kms_alias: String,
    /// The reversible-masking key: data-masking's and data-decrypt's `ENCRYPTION_KEY_ARN`.
    pub field_key_arn: String,
    pub table_name: String,
    pub user_pool_id: String,
    pub app_client_id: String,
    pub users: Vec<String>,
}

/// Progress lines go through this, so the CLI prints them and tests can collect them.
pub type Progress<'a> = &'a (dyn Fn(&str) + Sync);

/// The AWS clients seeding uses.
pub struct Clients {
    pub secrets: aws_sdk_secretsmanager::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub kms: aws_sdk_kms::Client,
    pub dynamodb: dynamodb::Client,
    pub cognito: cognito::Client,
    region: String,
}

impl Clients {
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            secrets: aws_sdk_secretsmanager::Client::new(config),
            ssm: aws_sdk_ssm::Client::new(config),
            kms: aws_sdk_kms::Client::new(config),
            dynamodb: dynamodb::Client::new(config),
            cognito: cognito::Client::new(config),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
        }
    }
}

/// Seeds everything into the resources `names` gives (a deployed stack's, or the local stack's,
/// which it creates); stops at the first failure with a message naming the step.
pub async fn seed(
    clients: &Clients,
    names: &Names,
    values: &SeedValues,
    progress: Progress<'_>,
) -> Result<SeedOutputs> {
    let change = put_db_secret(clients, &names.db_secret_id, values.db_password.as_ref()).await?;
    progress(&format!("secret {}: {change}", names.db_secret_id));
    for id in [
        &names.masking_key_secret_id,
        &names.cursor_key_secret_id,
        &names.worker_key_secret_id,
    ] {
        let change = ensure_generated_key(clients, id).await?;
        progress(&format!("secret {id}: {change}"));
    }

    for parameter in lab::PARAMETERS {
        let value = match parameter.value {
            Some(value) => SecretString::from(value),
            None => values.api_key.clone(),
        };
        let name = names.parameter(parameter.name);
        let change = put_parameter(clients, &name, parameter.secure, &value).await?;
        let kind = if parameter.secure {
            "SecureString"
        } else {
            "String"
        };
        progress(&format!("parameter {name} ({kind}): {change}"));
    }

    let (kms_key_id, kms_key_arn, change) = ensure_kms_key(clients, &names.kms_alias).await?;
    progress(&format!(
        "KMS key {} ({kms_key_id}): {change}",
        names.kms_alias
    ));

    let (field_key_id, field_key_arn, change) =
        ensure_kms_key(clients, &names.field_key_alias).await?;
    progress(&format!(
        "KMS key {} ({field_key_id}): {change}",
        names.field_key_alias
    ));

    let table = &names.table_name;
    let change = ensure_table(clients, table, progress).await?;
    progress(&format!("DynamoDB table {table}: {change}"));
    let (user_pool_id, app_client_id) = match &names.user_pool {
        UserPool::Existing { pool_id, client_id } => {
            check_existing_pool(clients, pool_id, client_id).await?;
            progress(&format!(
                "Cognito user pool {pool_id}, app client {client_id}: unchanged"
            ));
            (pool_id.clone(), client_id.clone())
        }
        UserPool::Named {
            pool_name,
            client_name,
        } => {
            let (pool_id, change) = ensure_user_pool(clients, pool_name).await?;
            progress(&format!(
                "Cognito user pool {pool_name} ({pool_id}): {change}"
            ));
            let (client_id, change) = ensure_app_client(clients, &pool_id, client_name).await?;
            progress(&format!(
                "Cognito app client {client_name} ({client_id}): {change}"
            ));
            (pool_id, client_id)
        }
    };
    // Each user's id as multi-tenant-query reads it from their token (`Names::user_id_claim`).
    let mut user_ids = HashMap::new();
    for user in lab::USERS {
        let change = ensure_user(clients, &user_pool_id, &user, &values.user_password).await?;
        progress(&format!(
            "Cognito user {} (tenant {}): {change}",
            user.username, user.tenant
        ));
        let id = match names.user_id_claim {
            UserIdClaim::Username => user.username.to_owned(),
            UserIdClaim::Sub => user_sub(clients, &user_pool_id, user.username).await?,
        };
        user_ids.insert(user.username, id);
        let secret = serde_json::json!({ lab::USER_SECRET_PASSWORD_KEY: values.user_password.expose_secret() });
        let id = names.user_secret(user.username);
        let change = put_json_secret(clients, &id, &SecretString::from(secret.to_string())).await?;
        progress(&format!("secret {id}: {change}"));
    }

    for order in lab::ORDERS {
        let user_id = user_ids.get(order.user).ok_or_else(|| {
            anyhow!(
                "lab order {}: user {} is not a seeded user",
                order.order_id,
                order.user
            )
        })?;
        put_order(clients, table, &order, user_id).await?;
    }
    progress(&format!(
        "DynamoDB items: {} orders written, keyed on {}",
        lab::ORDERS.len(),
        names.user_id_claim.claim()
    ));

    Ok(SeedOutputs {
        region: clients.region.clone(),
        db_secret_id: names.db_secret_id.clone(),
        masking_key_secret_id: names.masking_key_secret_id.clone(),
        cursor_key_secret_id: names.cursor_key_secret_id.clone(),
        worker_key_secret_id: names.worker_key_secret_id.clone(),
        kms_key_id,
        kms_key_arn,
        kms_alias: names.kms_alias.clone(),
        field_key_arn,
        table_name: table.clone(),
        user_pool_id,
        app_client_id,
        users: lab::USERS.iter().map(|u| u.username.to_owned()).collect(),
    })
}

/// A deployed stack's pool and client: they must exist; they are never created here.
async fn check_existing_pool(clients: &Clients, pool_id: &str, client_id: &str) -> Result<()> {
    clients
        .cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
        .map_err(|e| anyhow!("user pool {pool_id}: {}", DisplayErrorContext(&e)))?;
    clients
        .cognito
        .describe_user_pool_client()
        .user_pool_id(pool_id)
        .client_id(client_id)
        .send()
        .await
        .map_err(|e| anyhow!("app client {client_id}: {}", DisplayErrorContext(&e)))?;
    Ok(())
}

/// A deployed stack's secrets are given by ARN and exist once it is deployed; only a name (the
/// local stack's) is created when missing.
fn creatable(id: &str) -> Result<()> {
    if id.starts_with("arn:") {
        bail!("secret {id} does not exist: is the stack deployed completely?");
    }
    Ok(())
}

fn is_not_found<E>(
    error: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> bool
where
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
{
    classify(error).kind == FailureKind::NotFound
}

/// A key secret (data-masking's token key, multi-tenant-query's cursor key, loadtest's worker
/// key): 64 random characters from Secrets Manager's own generator. An existing key is never
/// replaced: tokens and cursors made with it would stop matching.
async fn ensure_generated_key(clients: &Clients, id: &str) -> Result<Change> {
    match clients
        .secrets
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
    {
        Ok(output) if output.secret_string().is_some_and(|v| v.len() >= 16) => {
            return Ok(Change::Unchanged)
        }
        Ok(_) => {}
        Err(e) if is_not_found(&e) => {}
        Err(e) => return Err(anyhow!("reading secret {id}: {}", DisplayErrorContext(&e))),
    }
    let random = clients
        .secrets
        .get_random_password()
        .password_length(64)
        .exclude_punctuation(true)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "generating a key for secret {id}: {}",
                DisplayErrorContext(&e)
            )
        })?;
    let key = SecretString::from(random.random_password().unwrap_or_default().to_owned());
    if key.expose_secret().len() < 16 {
        return Err(anyhow!(
            "generating a key for secret {id}: Secrets Manager returned no password"
        ));
    }
    put_json_secret(clients, id, &key).await
}

/// The database secret: the lab's connection fields with `password` (given, or kept as it is).
async fn put_db_secret(
    clients: &Clients,
    id: &str,
    password: Option<&SecretString>,
) -> Result<Change> {
    let password = match password {
        Some(password) => password.expose_secret().to_owned(),
        None => {
            let current = clients
                .secrets
                .get_secret_value()
                .secret_id(id)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "secret {id} has no value to keep and no password was given \
                         (--db-password / SUITECTL_DB_PASSWORD): {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            let json = current.secret_string().and_then(parse_json);
            match json.as_ref().and_then(|j| j.get("password")).and_then(|p| p.as_str()) {
                Some(existing) => existing.to_owned(),
                None => bail!(
                    "secret {id} has no `password` to keep; give one with --db-password / SUITECTL_DB_PASSWORD"
                ),
            }
        }
    };
    let value = serde_json::json!({
        "username": lab::DB_USERNAME,
        "password": password,
        "host": lab::DB_HOST,
        "port": lab::DB_PORT,
        "dbname": lab::DB_NAME,
    });
    put_json_secret(clients, id, &SecretString::from(value.to_string())).await
}

/// Creates the secret, or stores a new version when its JSON differs from the current one.
async fn put_json_secret(clients: &Clients, id: &str, value: &SecretString) -> Result<Change> {
    let current = clients
        .secrets
        .get_secret_value()
        .secret_id(id)
        .send()
        .await;
    match current {
        Ok(output) => {
            let same = match (output.secret_string(), parse_json(value.expose_secret())) {
                (Some(text), Some(wanted)) => parse_json(text).as_ref() == Some(&wanted),
                _ => false,
            };
            if same {
                return Ok(Change::Unchanged);
            }
            clients
                .secrets
                .put_secret_value()
                .secret_id(id)
                .secret_string(value.expose_secret())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "storing a new version of secret {id}: {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            Ok(Change::Updated)
        }
        Err(e) if is_not_found(&e) => {
            creatable(id)?;
            clients
                .secrets
                .create_secret()
                .name(id)
                .description("Seeded by suitectl (secure Lambda suite)")
                .secret_string(value.expose_secret())
                .send()
                .await
                .map_err(|e| anyhow!("creating secret {id}: {}", DisplayErrorContext(&e)))?;
            Ok(Change::Created)
        }
        Err(e) => Err(anyhow!("reading secret {id}: {}", DisplayErrorContext(&e))),
    }
}

fn parse_json(text: &str) -> Option<serde_json::Value> {
    serde_json::from_str(text).ok()
}

async fn put_parameter(
    clients: &Clients,
    name: &str,
    secure: bool,
    value: &SecretString,
) -> Result<Change> {
    use aws_sdk_ssm::types::ParameterType;
    let wanted_type = if secure {
        ParameterType::SecureString
    } else {
        ParameterType::String
    };
    let existing = clients
        .ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await;
    let change = match existing {
        Ok(output) => {
            let parameter = output.parameter();
            let same_value = parameter.and_then(|p| p.value()) == Some(value.expose_secret());
            let same_type = parameter.and_then(|p| p.r#type()) == Some(&wanted_type);
            if same_value && same_type {
                return Ok(Change::Unchanged);
            }
            Change::Updated
        }
        Err(e) if is_not_found(&e) => Change::Created,
        Err(e) => {
            return Err(anyhow!(
                "reading parameter {name}: {}",
                DisplayErrorContext(&e)
            ))
        }
    };
    // SecureString without a key id uses the account's `alias/aws/ssm` key, as the lab does.
    clients
        .ssm
        .put_parameter()
        .name(name)
        .r#type(wanted_type)
        .value(value.expose_secret())
        .overwrite(change == Change::Updated)
        .description("Seeded by suitectl (secure Lambda suite)")
        .send()
        .await
        .map_err(|e| anyhow!("writing parameter {name}: {}", DisplayErrorContext(&e)))?;
    Ok(change)
}

async fn ensure_kms_key(clients: &Clients, alias: &str) -> Result<(String, String, Change)> {
    match clients.kms.describe_key().key_id(alias).send().await {
        Ok(output) => {
            let metadata = output
                .key_metadata()
                .ok_or_else(|| anyhow!("DescribeKey {alias} answered without key metadata"))?;
            let arn = metadata.arn().unwrap_or_default().to_owned();
            Ok((metadata.key_id().to_owned(), arn, Change::Unchanged))
        }
        Err(e) if is_not_found(&e) => {
            let created = clients
                .kms
                .create_key()
                .description(
                    "Encrypts the loadtest USER_NAME environment variable (secure Lambda suite)",
                )
                .send()
                .await
                .map_err(|e| anyhow!("creating KMS key: {}", DisplayErrorContext(&e)))?;
            let metadata = created
                .key_metadata()
                .ok_or_else(|| anyhow!("CreateKey answered without key metadata"))?;
            let key_id = metadata.key_id().to_owned();
            let arn = metadata.arn().unwrap_or_default().to_owned();
            clients
                .kms
                .enable_key_rotation()
                .key_id(&key_id)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "enabling rotation of KMS key {key_id}: {}",
                        DisplayErrorContext(&e)
                    )
                })?;
            clients
                .kms
                .create_alias()
                .alias_name(alias)
                .target_key_id(&key_id)
                .send()
                .await
                .map_err(|e| anyhow!("creating {alias}: {}", DisplayErrorContext(&e)))?;
            Ok((key_id, arn, Change::Created))
        }
        Err(e) => Err(anyhow!("looking up {alias}: {}", DisplayErrorContext(&e))),
    }
}

async fn ensure_table(clients: &Clients, table: &str, progress: Progress<'_>) -> Result<Change> {
    use dynamodb::types::{
        AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
        SseSpecification, TableStatus,
    };
    match clients
        .dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
    {
        Ok(_) => return Ok(Change::Unchanged),
        Err(e) if is_not_found(&e) => {}
        Err(e) => {
            return Err(anyhow!(
                "looking up table {table}: {}",
                DisplayErrorContext(&e)
            ))
        }
    }
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
    };
    clients
        .dynamodb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(PARTITION_KEY)?)
        .attribute_definitions(attribute(SORT_KEY)?)
        .key_schema(key(PARTITION_KEY, KeyType::Hash)?)
        .key_schema(key(SORT_KEY, KeyType::Range)?)
        .sse_specification(SseSpecification::builder().enabled(true).build())
        .send()
        .await
        .map_err(|e| anyhow!("creating table {table}: {}", DisplayErrorContext(&e)))?;
    for attempt in 0..120 {
        let described = clients
            .dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| anyhow!("waiting for table {table}: {}", DisplayErrorContext(&e)))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(Change::Created);
        }
        if attempt % 5 == 4 {
            progress(&format!("waiting for table {table} to become ACTIVE..."));
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(anyhow!(
        "table {table} did not become ACTIVE within 2 minutes"
    ))
}

/// A user's `sub`: the id Cognito never gives to another user.
async fn user_sub(clients: &Clients, pool_id: &str, username: &str) -> Result<String> {
    let user = clients
        .cognito
        .admin_get_user()
        .user_pool_id(pool_id)
        .username(username)
        .send()
        .await
        .map_err(|e| anyhow!("looking up user {username}: {}", DisplayErrorContext(&e)))?;
    user.user_attributes()
        .iter()
        .find(|a| a.name() == "sub")
        .and_then(|a| a.value())
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("user {username} has no sub attribute"))
}

/// Writes a lab order under `user_id` (the user's name or `sub`, as the stack keys orders).
async fn put_order(
    clients: &Clients,
    table: &str,
    order: &lab::LabOrder,
    user_id: &str,
) -> Result<()> {
    use dynamodb::types::AttributeValue;
    let identity = Identity::new(
        TenantId::parse(order.tenant).map_err(|e| anyhow!("lab order {}: {e}", order.order_id))?,
        UserId::parse(user_id).map_err(|e| anyhow!("lab order {}: {e}", order.order_id))?,
    );
    let item: HashMap<String, AttributeValue> = [
        (PARTITION_KEY, AttributeValue::S(identity.partition_key())),
        (SORT_KEY, AttributeValue::S(order_sort_key(order.order_id))),
        ("orderTotal", AttributeValue::N(order.total.to_owned())),
        ("status", AttributeValue::S(order.status.to_owned())),
        ("tenantId", AttributeValue::S(order.tenant.to_owned())),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    clients
        .dynamodb
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "writing order {}: {}",
                order.order_id,
                DisplayErrorContext(&e)
            )
        })?;
    Ok(())
}

async fn ensure_user_pool(clients: &Clients, pool_name: &str) -> Result<(String, Change)> {
    use cognito::types::{PasswordPolicyType, SchemaAttributeType, UserPoolPolicyType};
    let mut next_token: Option<String> = None;
    loop {
        let page = clients
            .cognito
            .list_user_pools()
            .max_results(60)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| anyhow!("listing user pools: {}", DisplayErrorContext(&e)))?;
        if let Some(id) = page
            .user_pools()
            .iter()
            .find(|p| p.name() == Some(pool_name))
            .and_then(|p| p.id())
        {
            return Ok((id.to_owned(), Change::Unchanged));
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
            _ => break,
        }
    }
    // `tenantId` is immutable: a user can never move themselves to another tenant.
    let tenant = SchemaAttributeType::builder()
        .name(lab::TENANT_ATTRIBUTE)
        .attribute_data_type(cognito::types::AttributeDataType::String)
        .mutable(false)
        .developer_only_attribute(false)
        .build();
    // The lab's password (`lab_password`) has no upper case, digit or symbol; the policy is
    // relaxed to the lab's on pools that suitectl creates itself (the local stack).
    let policy = PasswordPolicyType::builder()
        .minimum_length(8)
        .require_lowercase(true)
        .require_uppercase(false)
        .require_numbers(false)
        .require_symbols(false)
        .build();
    let created = clients
        .cognito
        .create_user_pool()
        .pool_name(pool_name)
        .schema(tenant)
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(policy)
                .build(),
        )
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "creating user pool {}: {}",
                pool_name,
                DisplayErrorContext(&e)
            )
        })?;
    let id = created
        .user_pool()
        .and_then(|p| p.id())
        .ok_or_else(|| anyhow!("CreateUserPool answered without a pool id"))?;
    Ok((id.to_owned(), Change::Created))
}

async fn ensure_app_client(
    clients: &Clients,
    pool_id: &str,
    client_name: &str,
) -> Result<(String, Change)> {
    use cognito::types::ExplicitAuthFlowsType;
    let mut next_token: Option<String> = None;
    loop {
        let page = clients
            .cognito
            .list_user_pool_clients()
            .user_pool_id(pool_id)
            .max_results(60)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| anyhow!("listing app clients: {}", DisplayErrorContext(&e)))?;
        if let Some(id) = page
            .user_pool_clients()
            .iter()
            .find(|c| c.client_name() == Some(client_name))
            .and_then(|c| c.client_id())
        {
            return Ok((id.to_owned(), Change::Unchanged));
        }
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_owned()),
            _ => break,
        }
    }
    let tenant_claim = format!("custom:{}", lab::TENANT_ATTRIBUTE);
    let created = clients
        .cognito
        .create_user_pool_client()
        .user_pool_id(pool_id)
        .client_name(client_name)
        .generate_secret(false)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowUserPasswordAuth)
        .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
        .read_attributes(&tenant_claim)
        .read_attributes("email")
        // The tenant is readable but never writable by the app client.
        .write_attributes("email")
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "creating app client {}: {}",
                client_name,
                DisplayErrorContext(&e)
            )
        })?;
    let id = created
        .user_pool_client()
        .and_then(|c| c.client_id())
        .ok_or_else(|| anyhow!("CreateUserPoolClient answered without a client id"))?;
    Ok((id.to_owned(), Change::Created))
}

async fn ensure_user(
    clients: &Clients,
    pool_id: &str,
    user: &lab::LabUser,
    password: &SecretString,
) -> Result<Change> {
    use cognito::types::{AttributeType, MessageActionType};
    let change = match clients
        .cognito
        .admin_get_user()
        .user_pool_id(pool_id)
        .username(user.username)
        .send()
        .await
    {
        Ok(_) => Change::Unchanged,
        Err(e) if is_not_found(&e) => {
            let tenant = AttributeType::builder()
                .name(format!("custom:{}", lab::TENANT_ATTRIBUTE))
                .value(user.tenant)
                .build()
                .context("building the tenant attribute")?;
            clients
                .cognito
                .admin_create_user()
                .user_pool_id(pool_id)
                .username(user.username)
                .user_attributes(tenant)
                .message_action(MessageActionType::Suppress)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "creating user {}: {}",
                        user.username,
                        DisplayErrorContext(&e)
                    )
                })?;
            Change::Created
        }
        Err(e) => {
            return Err(anyhow!(
                "looking up user {}: {}",
                user.username,
                DisplayErrorContext(&e)
            ))
        }
    };
    // Always (re)set: idempotent, and it makes the password permanent (no NEW_PASSWORD_REQUIRED).
    clients
        .cognito
        .admin_set_user_password()
        .user_pool_id(pool_id)
        .username(user.username)
        .password(password.expose_secret())
        .permanent(true)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "setting the password of user {}: {}",
                user.username,
                DisplayErrorContext(&e)
            )
        })?;
    Ok(change)
}
