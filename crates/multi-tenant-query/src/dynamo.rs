//! The orders table through tenant-scoped credentials (a token vending machine).
//!
//! For each caller the function assumes `TENANT_ROLE_ARN` with session tags `TenantId` and
//! `UserId`. That role's policy allows `Query`/`GetItem` only where `dynamodb:LeadingKeys` equals
//! `TENANT#${aws:PrincipalTag/TenantId}#USER#${aws:PrincipalTag/UserId}`, so even a bug in key
//! construction here cannot read another partition in AWS. The function's own role has no
//! DynamoDB access. Credentials are cached per identity until shortly before they expire.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sts::types::Tag;
use secure_lambda::aws::classify;
use secure_lambda::tenant::cursor::PageKey;
use secure_lambda::tenant::{Identity, ORDER_SORT_PREFIX, PARTITION_KEY, SORT_KEY};
use tokio::sync::Mutex;

use crate::orders::{Order, OrderStore, Page, StoreError};

/// Session length asked of STS (its minimum).
const SESSION_SECONDS: i32 = 900;
/// Credentials closer than this to expiry are replaced.
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(120);
/// Identities whose clients are kept; past this, expired ones are dropped first.
const MAX_CACHED_IDENTITIES: usize = 256;

struct ScopedClient {
    client: aws_sdk_dynamodb::Client,
    expires: SystemTime,
}

/// [`OrderStore`] over DynamoDB with per-identity assumed-role credentials.
pub struct TenantScopedOrders {
    sdk_config: SdkConfig,
    sts: aws_sdk_sts::Client,
    role_arn: String,
    table: String,
    clients: Mutex<HashMap<Identity, ScopedClient>>,
}

impl TenantScopedOrders {
    pub fn new(sdk_config: &SdkConfig, role_arn: String, table: String) -> Self {
        Self {
            sdk_config: sdk_config.clone(),
            sts: aws_sdk_sts::Client::new(sdk_config),
            role_arn,
            table,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// A DynamoDB client whose credentials can read only `identity`'s partition.
    async fn client_for(
        &self,
        identity: &Identity,
    ) -> Result<aws_sdk_dynamodb::Client, StoreError> {
        let mut clients = self.clients.lock().await;
        let now = SystemTime::now();
        if let Some(scoped) = clients.get(identity) {
            if scoped.expires > now + REFRESH_BEFORE_EXPIRY {
                return Ok(scoped.client.clone());
            }
        }
        let output = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(session_name(identity))
            .duration_seconds(SESSION_SECONDS)
            .tags(tag("TenantId", identity.tenant.as_str())?)
            .tags(tag("UserId", identity.user.as_str())?)
            .send()
            .await
            .map_err(|e| StoreError::Credentials(classify(&e)))?;
        let credentials = output
            .credentials()
            .ok_or_else(|| StoreError::Invalid("AssumeRole returned no credentials".into()))?;
        let expires = SystemTime::try_from(*credentials.expiration())
            .unwrap_or(now + Duration::from_secs(SESSION_SECONDS.unsigned_abs().into()));
        let provider = aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            Some(expires),
            "tenant-scoped-assume-role",
        );
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk_config)
            .credentials_provider(provider)
            .build();
        let client = aws_sdk_dynamodb::Client::from_conf(config);
        if clients.len() >= MAX_CACHED_IDENTITIES {
            clients.retain(|_, scoped| scoped.expires > now + REFRESH_BEFORE_EXPIRY);
            if clients.len() >= MAX_CACHED_IDENTITIES {
                clients.clear();
            }
        }
        clients.insert(
            identity.clone(),
            ScopedClient {
                client: client.clone(),
                expires,
            },
        );
        tracing::info!(tenant = %identity.tenant, user = %identity.user, "assumed the tenant-scoped role");
        Ok(client)
    }
}

fn tag(key: &str, value: &str) -> Result<Tag, StoreError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| StoreError::Invalid(format!("building session tag {key}: {e}")))
}

/// `t-<tenant>-u-<user>`, cut to STS's 64 characters (ids hold only characters STS allows).
fn session_name(identity: &Identity) -> String {
    let mut name = format!("t-{}-u-{}", identity.tenant, identity.user);
    name.truncate(64);
    name
}

impl OrderStore for TenantScopedOrders {
    async fn query(
        &self,
        identity: &Identity,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page, StoreError> {
        let client = self.client_for(identity).await?;
        let start = start.map(|key| {
            key.into_iter()
                .map(|(k, v)| (k, AttributeValue::S(v)))
                .collect::<HashMap<_, _>>()
        });
        let output = client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PARTITION_KEY)
            .expression_attribute_names("#sk", SORT_KEY)
            .expression_attribute_values(":pk", AttributeValue::S(identity.partition_key()))
            .expression_attribute_values(":prefix", AttributeValue::S(ORDER_SORT_PREFIX.into()))
            .projection_expression("PK, SK, orderTotal, #status")
            .expression_attribute_names("#status", "status")
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::Query(classify(&e)))?;
        let orders = output
            .items()
            .iter()
            .map(order_from_item)
            .collect::<Result<Vec<_>, _>>()?;
        let last_key = output.last_evaluated_key().map(|key| {
            key.iter()
                .filter_map(|(k, v)| v.as_s().ok().map(|s| (k.clone(), s.clone())))
                .collect()
        });
        Ok(Page { orders, last_key })
    }
}

fn order_from_item(item: &HashMap<String, AttributeValue>) -> Result<Order, StoreError> {
    let text = |name: &str| -> Result<String, StoreError> {
        match item.get(name) {
            Some(AttributeValue::S(s)) | Some(AttributeValue::N(s)) => Ok(s.clone()),
            _ => Err(StoreError::Invalid(format!(
                "an order item has no `{name}` string or number"
            ))),
        }
    };
    let sort_key = text(SORT_KEY)?;
    Ok(Order {
        order_id: sort_key
            .strip_prefix(ORDER_SORT_PREFIX)
            .unwrap_or(&sort_key)
            .to_owned(),
        total: text("orderTotal")?,
        status: text("status")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_lambda::tenant::{TenantId, UserId};

    #[test]
    fn session_names_fit_sts_limits() {
        let long = Identity::new(
            TenantId::parse(&"t".repeat(64)).unwrap(),
            UserId::parse("u").unwrap(),
        );
        assert_eq!(session_name(&long).len(), 64);
        let short = Identity::new(
            TenantId::parse("tenant-a").unwrap(),
            UserId::parse("user-001").unwrap(),
        );
        assert_eq!(session_name(&short), "t-tenant-a-u-user-001");
    }

    #[test]
    fn items_become_orders_and_bad_items_are_errors() {
        let item = HashMap::from([
            ("SK".to_owned(), AttributeValue::S("ORDER#2024-001".into())),
            ("orderTotal".to_owned(), AttributeValue::N("149.99".into())),
            ("status".to_owned(), AttributeValue::S("shipped".into())),
        ]);
        assert_eq!(
            order_from_item(&item).unwrap(),
            Order {
                order_id: "2024-001".into(),
                total: "149.99".into(),
                status: "shipped".into()
            }
        );
        let mut broken = item.clone();
        broken.remove("status");
        assert!(order_from_item(&broken)
            .unwrap_err()
            .to_string()
            .contains("status"));
    }
}
