//! The orders table through tenant-scoped credentials (a token vending machine).
//!
//! For each caller the function assumes `TENANT_ROLE_ARN` with session tags. Per user (the
//! default) the tags are `TenantId` and `UserId`, and that role's policy allows `Query`/`GetItem`
//! only where `dynamodb:LeadingKeys` equals
//! `TENANT#${aws:PrincipalTag/TenantId}#USER#${aws:PrincipalTag/UserId}`, so even a bug in key
//! construction here cannot read another partition in AWS. Per tenant (`TENANT_SESSION_SCOPE=
//! tenant`) the only tag is `TenantId` and the policy allows `TENANT#<tenant>#USER#*`: IAM still
//! separates tenants, the function (keys built from the proven identity, sealed cursors) separates
//! the users of one tenant. The function's own role has no DynamoDB access.
//!
//! Credentials, not clients, are cached per scope ([`SessionCache`]): one DynamoDB client serves
//! every scope, each request overriding its credentials, so a cached scope costs only its key and
//! its credential strings (see `memory_per_cached_scope_sizes_the_bound`).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sts::types::Tag;
use secure_lambda::aws::classify;
use secure_lambda::tenant::cursor::PageKey;
use secure_lambda::tenant::sessions::{Session, SessionCache};
use secure_lambda::tenant::{Identity, TenantId, ORDER_SORT_PREFIX, PARTITION_KEY, SORT_KEY};

use crate::config::{SessionScope, TenantSessions};
use crate::orders::{Order, OrderStore, Page, StoreError};

/// Credentials closer than this to expiry are replaced: longer than any invocation (the
/// function's timeout is 10 s) plus clock skew, short against the shortest session (900 s).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(120);

/// What one set of credentials may read: one user's partition, or one tenant's.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum ScopeKey {
    User(Identity),
    Tenant(TenantId),
}

impl ScopeKey {
    fn of(identity: &Identity, scope: SessionScope) -> Self {
        match scope {
            SessionScope::User => ScopeKey::User(identity.clone()),
            SessionScope::Tenant => ScopeKey::Tenant(identity.tenant.clone()),
        }
    }

    /// `t-<tenant>-u-<user>` or `t-<tenant>`, cut to STS's 64 characters (ids hold only
    /// characters STS allows).
    fn session_name(&self) -> String {
        let mut name = match self {
            ScopeKey::User(identity) => format!("t-{}-u-{}", identity.tenant, identity.user),
            ScopeKey::Tenant(tenant) => format!("t-{tenant}"),
        };
        name.truncate(64);
        name
    }

    /// The session tags the tenant role's policy reads.
    fn tags(&self) -> Result<Vec<Tag>, StoreError> {
        match self {
            ScopeKey::User(identity) => Ok(vec![
                tag("TenantId", identity.tenant.as_str())?,
                tag("UserId", identity.user.as_str())?,
            ]),
            ScopeKey::Tenant(tenant) => Ok(vec![tag("TenantId", tenant.as_str())?]),
        }
    }
}

/// [`OrderStore`] over DynamoDB with per-scope assumed-role credentials.
pub struct TenantScopedOrders {
    dynamodb: aws_sdk_dynamodb::Client,
    sts: aws_sdk_sts::Client,
    role_arn: String,
    table: String,
    sessions: TenantSessions,
    cache: SessionCache<ScopeKey, Credentials, StoreError>,
}

impl TenantScopedOrders {
    pub fn new(
        sdk_config: &SdkConfig,
        role_arn: String,
        table: String,
        sessions: TenantSessions,
    ) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(sdk_config),
            sts: aws_sdk_sts::Client::new(sdk_config),
            role_arn,
            table,
            cache: SessionCache::new(
                NonZeroUsize::new(sessions.cache_size).unwrap_or(NonZeroUsize::MIN),
                REFRESH_BEFORE_EXPIRY,
            ),
            sessions,
        }
    }

    /// Credentials that can read only `identity`'s partition (or its tenant's, per tenant).
    async fn credentials_for(&self, identity: &Identity) -> Result<Credentials, StoreError> {
        let key = ScopeKey::of(identity, self.sessions.scope);
        self.cache
            .get_or_fetch(&key, SystemTime::now(), || self.assume(&key))
            .await
    }

    async fn assume(&self, key: &ScopeKey) -> Result<Session<Credentials>, StoreError> {
        let now = SystemTime::now();
        let output = self
            .sts
            .assume_role()
            .role_arn(&self.role_arn)
            .role_session_name(key.session_name())
            .duration_seconds(self.sessions.duration_seconds)
            .set_tags(Some(key.tags()?))
            .send()
            .await
            .map_err(|e| StoreError::Credentials(classify(&e)))?;
        let credentials = output
            .credentials()
            .ok_or_else(|| StoreError::Invalid("AssumeRole returned no credentials".into()))?;
        let expires = SystemTime::try_from(*credentials.expiration()).unwrap_or(
            now + Duration::from_secs(self.sessions.duration_seconds.unsigned_abs().into()),
        );
        let value = Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            Some(credentials.session_token().to_owned()),
            Some(expires),
            "tenant-scoped-assume-role",
        );
        match key {
            ScopeKey::User(identity) => tracing::info!(
                tenant = %identity.tenant, user = %identity.user, scope = "user",
                "assumed the tenant-scoped role"
            ),
            ScopeKey::Tenant(tenant) => {
                tracing::info!(tenant = %tenant, scope = "tenant", "assumed the tenant-scoped role")
            }
        }
        Ok(Session { value, expires })
    }
}

fn tag(key: &str, value: &str) -> Result<Tag, StoreError> {
    Tag::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| StoreError::Invalid(format!("building session tag {key}: {e}")))
}

impl OrderStore for TenantScopedOrders {
    async fn query(
        &self,
        identity: &Identity,
        limit: usize,
        start: Option<PageKey>,
    ) -> Result<Page, StoreError> {
        let credentials = self.credentials_for(identity).await?;
        let start = start.map(|key| {
            key.into_iter()
                .map(|(k, v)| (k, AttributeValue::S(v)))
                .collect::<HashMap<_, _>>()
        });
        let output = self
            .dynamodb
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
            .customize()
            // This request only: the scope's credentials (the SDK gives an overridden identity
            // its own short-lived cache, not a partition of the shared client's).
            .config_override(
                aws_sdk_dynamodb::config::Builder::default().credentials_provider(credentials),
            )
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
    use secure_lambda::tenant::UserId;

    fn identity(tenant: &str, user: &str) -> Identity {
        Identity::new(
            TenantId::parse(tenant).unwrap(),
            UserId::parse(user).unwrap(),
        )
    }

    fn tag_pairs(key: &ScopeKey) -> Vec<(String, String)> {
        key.tags()
            .unwrap()
            .iter()
            .map(|t| (t.key().to_owned(), t.value().to_owned()))
            .collect()
    }

    #[test]
    fn session_names_fit_sts_limits() {
        let long = identity(&"t".repeat(64), "u");
        let user = ScopeKey::of(&long, SessionScope::User);
        assert_eq!(user.session_name().len(), 64);
        let short = identity("tenant-a", "user-001");
        assert_eq!(
            ScopeKey::of(&short, SessionScope::User).session_name(),
            "t-tenant-a-u-user-001"
        );
        assert_eq!(
            ScopeKey::of(&short, SessionScope::Tenant).session_name(),
            "t-tenant-a"
        );
        assert_eq!(
            ScopeKey::of(&long, SessionScope::Tenant)
                .session_name()
                .len(),
            64
        );
    }

    /// Per user: both tags, one key per user. Per tenant: the tenant tag only (the role's
    /// tenant-mode policy reads no UserId), and every user of a tenant shares one key.
    #[test]
    fn scopes_carry_the_tags_their_policy_reads() {
        let a1 = identity("tenant-a", "user-001");
        let a2 = identity("tenant-a", "user-002");
        let b1 = identity("tenant-b", "user-001");
        let user = |i: &Identity| ScopeKey::of(i, SessionScope::User);
        let tenant = |i: &Identity| ScopeKey::of(i, SessionScope::Tenant);
        assert_eq!(
            tag_pairs(&user(&a1)),
            vec![
                ("TenantId".to_owned(), "tenant-a".to_owned()),
                ("UserId".to_owned(), "user-001".to_owned())
            ]
        );
        assert_eq!(
            tag_pairs(&tenant(&a1)),
            vec![("TenantId".to_owned(), "tenant-a".to_owned())]
        );
        assert_ne!(user(&a1), user(&a2));
        assert_eq!(tenant(&a1), tenant(&a2));
        assert_ne!(tenant(&a1), tenant(&b1));
        assert_ne!(user(&a1), user(&b1));
    }

    /// Memory per cached scope, from the sizes of what one holds: the cache's own overhead (LRU
    /// node with the key, hash bucket, slot with its lock and session), the credentials' shared
    /// part, and the heap strings: the longest ids (64 + 64), STS's access key id (20) and
    /// secret (40), and a session token, counted as 2 KB as STS fixes no size for it. The default
    /// bound is sized from the figure: at most 1/32 of the function's 256 MB.
    #[test]
    fn memory_per_cached_scope_sizes_the_bound() {
        use std::mem::size_of;
        let overhead = SessionCache::<ScopeKey, Credentials, StoreError>::entry_overhead_bytes();
        // `Credentials` is an `Arc` of three strings, an expiry, a provider name and an account
        // id, and a property map: counted as eight words for the rest.
        let credentials_shared = 2 * size_of::<usize>() + 3 * size_of::<String>() + 64;
        let strings = 64 + 64 + 20 + 40 + 2048;
        let per_scope = overhead + credentials_shared + strings;
        println!("memory per cached scope: about {per_scope} bytes");
        assert!(per_scope < 3000, "{per_scope}");
        let bound = TenantSessions::DEFAULT_CACHE_SIZE * per_scope;
        assert!(bound < 256 * 1024 * 1024 / 32, "{bound}");
        // With the whole default bound in use, the cache is a small part of the sandbox.
        println!(
            "default bound {} scopes: about {:.1} MB",
            TenantSessions::DEFAULT_CACHE_SIZE,
            bound as f64 / 1e6
        );
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
