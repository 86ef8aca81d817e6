//! The `multi-tenant-query` handler: one user's orders, in pages, for a proven identity.

use secure_lambda::aws::Dependency;
use secure_lambda::envelope::Invocation;
use secure_lambda::idtoken::{IdTokenVerifier, JwksSource};
use secure_lambda::runtime::Function;
use secure_lambda::secrets::{CacheCounters, ParameterSource, SecretSource, SecretStore};
use secure_lambda::tenant::cursor::CursorKey;
use secure_lambda::tenant::{Identity, PARTITION_KEY};
use secure_lambda::{request, ApiError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::config::Config;
use crate::identity::{self, Proof};
use crate::orders::{OrderStore, Orders, StoreError};

/// The function: the orders port, the token verifier (when configured), and the cursor key's store.
pub struct MultiTenantQuery<O, J, S, P> {
    orders: O,
    verifier: Option<IdTokenVerifier<J>>,
    store: SecretStore<S, P>,
    config: Config,
}

struct Paging {
    limit: usize,
    cursor: Option<String>,
}

/// A direct invocation: who (validated as ids after parsing) and which page.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DirectRequest {
    tenant_id: String,
    user_id: String,
    #[serde(default, deserialize_with = "request::number_or_string")]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

/// `limit` and `cursor`, from a direct invocation or an HTTP query string.
#[derive(Deserialize)]
struct PagingFields {
    #[serde(default, deserialize_with = "request::number_or_string")]
    limit: Option<i64>,
    #[serde(default)]
    cursor: Option<String>,
}

impl<O: OrderStore, J: JwksSource, S: SecretSource, P: ParameterSource>
    MultiTenantQuery<O, J, S, P>
{
    pub fn new(
        orders: O,
        verifier: Option<IdTokenVerifier<J>>,
        store: SecretStore<S, P>,
        config: Config,
    ) -> Self {
        Self {
            orders,
            verifier,
            store,
            config,
        }
    }

    #[cfg(test)]
    pub fn store(&self) -> &SecretStore<S, P> {
        &self.store
    }

    #[cfg(test)]
    pub fn orders(&self) -> &O {
        &self.orders
    }

    async fn answer(&self, invocation: &Invocation) -> Result<Value, ApiError> {
        let (identity, proof, paging) = match invocation {
            Invocation::Direct(payload) => {
                let direct: DirectRequest = request::parse(payload.clone())?;
                let identity = identity::from_direct(&direct.tenant_id, &direct.user_id)?;
                let paging = self.paging(PagingFields {
                    limit: direct.limit,
                    cursor: direct.cursor,
                })?;
                (identity, Proof::DirectInvocation, paging)
            }
            Invocation::Http(request) => {
                request.expect_route("GET", "/orders")?;
                let body = match request.body.as_deref().map(str::trim) {
                    None | Some("") => Map::new(),
                    Some(_) => invocation.json_payload()?,
                };
                let (identity, proof) = identity::from_http(
                    request,
                    &body,
                    self.verifier.as_ref(),
                    &self.config.tenant_claim,
                    &self.config.user_claim,
                )
                .await?;
                let query: PagingFields = request::parse(
                    ["limit", "cursor"]
                        .into_iter()
                        .filter_map(|name| {
                            let value = request.query.get(name)?;
                            Some((name.to_owned(), Value::String(value.clone())))
                        })
                        .collect(),
                )?;
                let paging = self.paging(query)?;
                (identity, proof, paging)
            }
        };
        self.orders_of(&identity, proof, paging).await
    }

    fn paging(&self, fields: PagingFields) -> Result<Paging, ApiError> {
        let max = self.config.max_limit;
        let limit = match fields.limit {
            None => self.config.default_limit,
            Some(limit) => usize::try_from(limit)
                .ok()
                .filter(|limit| (1..=max).contains(limit))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "InvalidLimit",
                        format!("`limit` must be a whole number from 1 to {max}"),
                    )
                    .with_field("limit")
                })?,
        };
        let cursor = match fields.cursor {
            None => None,
            Some(cursor) if !cursor.is_empty() => Some(cursor),
            Some(_) => {
                return Err(ApiError::bad_request(
                    "InvalidCursor",
                    "`cursor` must be the `nextCursor` of a previous response",
                )
                .with_field("cursor"))
            }
        };
        Ok(Paging { limit, cursor })
    }

    async fn cursor_key(&self) -> Result<CursorKey, ApiError> {
        let bytes = self
            .store
            .key_material(&self.config.cursor_key_secret_id, CursorKey::MIN_LEN)
            .await
            .map_err(|e| ApiError::from(&e))?;
        CursorKey::new(bytes).ok_or_else(|| {
            ApiError::new(500, "CursorKeyRejected", "the cursor key was not accepted")
        })
    }

    async fn orders_of(
        &self,
        identity: &Identity,
        proof: Proof,
        paging: Paging,
    ) -> Result<Value, ApiError> {
        // The cursor is checked before any query: a forged one never reaches the table.
        let start = match &paging.cursor {
            None => None,
            Some(cursor) => {
                let key = self.cursor_key().await?;
                let opened = key.open(identity, cursor).map_err(|e| {
                    tracing::warn!(reason = %e, "cursor refused");
                    ApiError::bad_request(
                        "InvalidCursor",
                        "the cursor is invalid, altered, or was issued to someone else",
                    )
                    .with_field("cursor")
                })?;
                // Defence in depth: the sealed key must be in the caller's own partition.
                if opened.get(PARTITION_KEY).map(String::as_str)
                    != Some(identity.partition_key().as_str())
                {
                    return Err(ApiError::bad_request(
                        "InvalidCursor",
                        "the cursor is invalid, altered, or was issued to someone else",
                    )
                    .with_field("cursor"));
                }
                Some(opened)
            }
        };

        let Orders { orders, next } = self
            .orders
            .orders(identity, paging.limit, start)
            .await
            .map_err(|e| store_error(&e))?;
        let next_cursor =
            match next {
                Some(key) => Some(self.cursor_key().await?.seal(identity, &key).ok_or_else(
                    || ApiError::new(500, "CursorFailed", "the next cursor could not be sealed"),
                )?),
                None => None,
            };
        tracing::info!(
            tenant = %identity.tenant,
            user = %identity.user,
            proof = proof.as_str(),
            orders = orders.len(),
            more = next_cursor.is_some(),
            "orders served"
        );
        let mut body = json!({
            "tenantId": identity.tenant.as_str(),
            "userId": identity.user.as_str(),
            "orderCount": orders.len(),
            "orders": orders
                .iter()
                .map(|o| json!({"orderId": o.order_id, "total": o.total, "status": o.status}))
                .collect::<Vec<_>>(),
        });
        if let Some(cursor) = next_cursor {
            body["nextCursor"] = Value::String(cursor);
        }
        Ok(body)
    }
}

impl<O: OrderStore, J: JwksSource, S: SecretSource, P: ParameterSource> Function
    for MultiTenantQuery<O, J, S, P>
{
    const NAME: &'static str = "multi-tenant-query";

    async fn dispatch(&self, invocation: Invocation) -> Result<Value, ApiError> {
        self.answer(&invocation).await
    }

    fn cache_counters(&self) -> Option<CacheCounters> {
        Some(self.store.counters())
    }
}

/// A store failure through the one mapping of AWS failures; what AWS said goes to the log only.
fn store_error(error: &StoreError) -> ApiError {
    match error {
        StoreError::Credentials(failure) => ApiError::dependency(Dependency::Sts, failure),
        StoreError::Query(failure) => ApiError::dependency(Dependency::DynamoDb, failure),
        StoreError::Invalid(detail) => {
            tracing::warn!(detail = %detail, "the orders store answered something unusable");
            ApiError::new(
                502,
                "DependencyFailed",
                "the orders store answered something the function cannot use",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    // The tests name their function type `Function`; the trait's methods are still wanted.
    use crate::orders::{MemoryOrders, Order};
    use jwks_stub::NoKeys;
    use secure_lambda::runtime::Function as _;
    use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
    use secure_lambda::secrets::CachePolicy;

    mod jwks_stub {
        use jsonwebtoken::jwk::JwkSet;
        use secure_lambda::aws::Transient;
        use secure_lambda::idtoken::{JwksError, JwksSource};

        pub struct NoKeys;

        impl JwksSource for NoKeys {
            async fn fetch(&self) -> Result<JwkSet, JwksError> {
                Err(JwksError::new(
                    Transient::Network,
                    "no key set in unit tests",
                ))
            }
        }
    }

    type Function = MultiTenantQuery<MemoryOrders, NoKeys, MemorySecrets, MemoryParameters>;

    fn order(id: &str, total: &str, status: &str) -> Order {
        Order {
            order_id: id.into(),
            total: total.into(),
            status: status.into(),
        }
    }

    fn function(page_size: usize) -> Function {
        let orders = MemoryOrders::with_page_size(page_size);
        orders.insert(
            "TENANT#tenant-a#USER#user-001",
            order("2024-001", "149.99", "shipped"),
        );
        orders.insert(
            "TENANT#tenant-a#USER#user-001",
            order("2024-002", "89.50", "processing"),
        );
        orders.insert(
            "TENANT#tenant-b#USER#user-002",
            order("2024-003", "299.00", "delivered"),
        );
        for i in 0..250 {
            orders.insert(
                "TENANT#tenant-p#USER#pager",
                order(&format!("P-{i:04}"), "1.00", "new"),
            );
        }
        let secrets = MemorySecrets::default();
        secrets.put(Config::DEFAULT_CURSOR_KEY_SECRET_ID, &"k".repeat(48));
        let store = SecretStore::new(secrets, MemoryParameters::default(), CachePolicy::default());
        MultiTenantQuery::new(orders, None, store, Config::default())
    }

    fn body(response: &Value) -> Value {
        serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
    }

    fn http(path: &str, query: Value, claims: Option<Value>, body: Option<&str>) -> Value {
        let mut event = json!({
            "version": "2.0", "rawPath": path,
            "queryStringParameters": query,
            "requestContext": {"http": {"method": "GET", "path": path}},
            "headers": {}
        });
        if let Some(claims) = claims {
            event["requestContext"]["authorizer"] = json!({"jwt": {"claims": claims}});
        }
        if let Some(body) = body {
            event["body"] = json!(body);
        }
        event
    }

    fn claims(tenant: &str, user: &str) -> Option<Value> {
        Some(json!({"custom:tenantId": tenant, "cognito:username": user, "sub": "x"}))
    }

    #[tokio::test]
    async fn direct_invocations_return_the_lab_shape() {
        let f = function(0);
        let response = f
            .handle(json!({"tenantId": "tenant-a", "userId": "user-001"}))
            .await;
        assert_eq!(response["statusCode"], 200);
        assert_eq!(
            body(&response),
            json!({
                "tenantId": "tenant-a", "userId": "user-001", "orderCount": 2,
                "orders": [
                    {"orderId": "2024-001", "total": "149.99", "status": "shipped"},
                    {"orderId": "2024-002", "total": "89.50", "status": "processing"}
                ]
            })
        );
        let b = body(
            &f.handle(json!({"tenantId": "tenant-b", "userId": "user-002"}))
                .await,
        );
        assert_eq!(
            b["orders"],
            json!([{"orderId": "2024-003", "total": "299.00", "status": "delivered"}])
        );
        assert_eq!(f.store().counters().aws_calls, 0, "no cursor, no key read");
    }

    #[tokio::test]
    async fn pages_cover_every_item_once_even_when_the_table_pages_short() {
        for page_size in [0, 7] {
            let f = function(page_size);
            let mut seen = Vec::new();
            let mut cursor: Option<String> = None;
            let mut responses = 0;
            loop {
                let mut event = json!({"tenantId": "tenant-p", "userId": "pager", "limit": 100});
                if let Some(c) = &cursor {
                    event["cursor"] = json!(c);
                }
                let b = body(&f.handle(event).await);
                responses += 1;
                for o in b["orders"].as_array().unwrap() {
                    seen.push(o["orderId"].as_str().unwrap().to_owned());
                }
                match b.get("nextCursor").and_then(Value::as_str) {
                    Some(c) => cursor = Some(c.to_owned()),
                    None => break,
                }
            }
            assert_eq!(responses, 3, "100 + 100 + 50 (page size {page_size})");
            let mut unique = seen.clone();
            unique.dedup();
            assert_eq!(unique.len(), 250);
            assert_eq!(seen.len(), 250);
        }
    }

    #[tokio::test]
    async fn foreign_and_tampered_cursors_are_refused_before_any_query() {
        let f = function(0);
        let first = body(
            &f.handle(json!({"tenantId": "tenant-a", "userId": "user-001", "limit": 1}))
                .await,
        );
        let cursor = first["nextCursor"].as_str().unwrap().to_owned();
        let queries_before = f.orders().queries().len();
        let mut tampered = cursor.clone();
        tampered.insert(3, 'x');
        for event in [
            json!({"tenantId": "tenant-b", "userId": "user-002", "cursor": cursor}),
            json!({"tenantId": "tenant-a", "userId": "user-002", "cursor": cursor}),
            json!({"tenantId": "tenant-a", "userId": "user-001", "cursor": tampered}),
            json!({"tenantId": "tenant-a", "userId": "user-001", "cursor": "e30.AAAA"}),
            json!({"tenantId": "tenant-a", "userId": "user-001", "cursor": 12}),
        ] {
            let response = f.handle(event.clone()).await;
            assert_eq!(response["statusCode"], 400, "{event}");
            let error = &body(&response)["error"];
            // A cursor of the wrong type fails as every wrongly typed field does.
            let code = if event["cursor"].is_string() {
                "InvalidCursor"
            } else {
                "InvalidField"
            };
            assert_eq!(error["code"], code, "{event}");
            assert_eq!(error["field"], "cursor", "{event}");
        }
        assert_eq!(
            f.orders().queries().len(),
            queries_before,
            "no query for a refused cursor"
        );
        let second = body(
            &f.handle(
                json!({"tenantId": "tenant-a", "userId": "user-001", "limit": 1, "cursor": cursor}),
            )
            .await,
        );
        assert_eq!(second["orders"][0]["orderId"], "2024-002");
    }

    #[tokio::test]
    async fn authorizer_claims_decide_and_disagreeing_requests_are_forbidden() {
        let f = function(0);
        let ok = f
            .handle(http(
                "/orders",
                json!({}),
                claims("tenant-a", "user-001"),
                None,
            ))
            .await;
        assert_eq!(ok["statusCode"], 200);
        assert_eq!(body(&ok)["orderCount"], 2);
        let same = f
            .handle(http(
                "/orders",
                json!({"tenantId": "tenant-a"}),
                claims("tenant-a", "user-001"),
                None,
            ))
            .await;
        assert_eq!(same["statusCode"], 200, "naming the proven tenant is fine");

        let attacks = [
            (
                http(
                    "/orders",
                    json!({"tenantId": "tenant-b"}),
                    claims("tenant-a", "user-001"),
                    None,
                ),
                403,
            ),
            (
                http(
                    "/orders",
                    json!({"userId": "user-002"}),
                    claims("tenant-a", "user-001"),
                    None,
                ),
                403,
            ),
            (
                http(
                    "/tenants/tenant-b/orders",
                    json!({}),
                    claims("tenant-a", "user-001"),
                    None,
                ),
                403,
            ),
            (
                http(
                    "/orders",
                    json!({}),
                    claims("tenant-a", "user-001"),
                    Some(r#"{"tenantId":"tenant-b"}"#),
                ),
                403,
            ),
            (
                http(
                    "/orders",
                    json!({}),
                    Some(json!({"cognito:username": "user-001"})),
                    None,
                ),
                403,
            ),
            (
                http(
                    "/orders",
                    json!({}),
                    claims("tenant-a#USER#user-002", "x"),
                    None,
                ),
                403,
            ),
            (http("/orders", json!({}), None, None), 401),
            (
                http(
                    "/orders",
                    json!({"limit": "0"}),
                    claims("tenant-a", "user-001"),
                    None,
                ),
                400,
            ),
            (
                http(
                    "/orders",
                    json!({"limit": "many"}),
                    claims("tenant-a", "user-001"),
                    None,
                ),
                400,
            ),
            (
                http("/admin", json!({}), claims("tenant-a", "user-001"), None),
                404,
            ),
        ];
        for (event, status) in attacks {
            let response = f.handle(event.clone()).await;
            assert_eq!(response["statusCode"], status, "{event}");
            assert!(
                !response.to_string().contains("2024-003"),
                "tenant-b's order leaked"
            );
        }
        let queried = f.orders().queries();
        assert!(
            queried
                .iter()
                .all(|pk| pk == "TENANT#tenant-a#USER#user-001"),
            "{queried:?}"
        );
    }

    #[tokio::test]
    async fn malformed_direct_invocations_are_400s() {
        let f = function(0);
        for (event, code) in [
            (
                json!({"tenantId": "tenant-a", "userId": "user-001", "admin": true}),
                "UnknownField",
            ),
            (
                json!({"tenantId": "*", "userId": "user-001"}),
                "InvalidIdentifier",
            ),
            (
                json!({"tenantId": "tenant-a", "userId": "user-001#"}),
                "InvalidIdentifier",
            ),
            (
                json!({"tenantId": "tenant-a", "userId": "user-001", "limit": 101}),
                "InvalidLimit",
            ),
            (
                json!({"tenantId": "tenant-a", "userId": "user-001", "limit": -1}),
                "InvalidLimit",
            ),
            (
                json!({"tenantId": "tenant-a", "userId": "user-001", "limit": "ten"}),
                "InvalidField",
            ),
            (json!({"tenantId": 7, "userId": "user-001"}), "InvalidField"),
            (json!({}), "MissingField"),
        ] {
            let response = f.handle(event.clone()).await;
            assert_eq!(response["statusCode"], 400, "{event}");
            assert_eq!(body(&response)["error"]["code"], code, "{event}");
        }
        assert!(f.orders().queries().is_empty());
    }

    /// AWS failures answer as everywhere in the suite: a timeout 504, throttling 503, anything
    /// else 502, naming the dependency and never what AWS said.
    #[tokio::test]
    async fn aws_failures_map_to_one_status_each() {
        use secure_lambda::aws::{AwsFailure, FailureKind, Transient};
        let failure = |kind| AwsFailure {
            kind,
            code: Some("SomeAwsCode".into()),
            detail: "SomeAwsCode: arn:aws:iam::123456789012:role/secret-role".into(),
        };
        for (error, status, code) in [
            (
                StoreError::Query(failure(FailureKind::Transient(Transient::Timeout))),
                504,
                "DependencyTimeout",
            ),
            (
                StoreError::Query(failure(FailureKind::Transient(Transient::Throttled))),
                503,
                "DependencyUnavailable",
            ),
            (
                StoreError::Credentials(failure(FailureKind::Transient(Transient::Timeout))),
                504,
                "DependencyTimeout",
            ),
            (
                StoreError::Credentials(failure(FailureKind::Transient(Transient::Throttled))),
                503,
                "DependencyUnavailable",
            ),
            (
                StoreError::Credentials(failure(FailureKind::AccessDenied)),
                502,
                "DependencyAccessDenied",
            ),
        ] {
            let f = function(0);
            let MultiTenantQuery { orders, .. } = &f;
            orders.fail_next(vec![error]);
            let response = f
                .handle(json!({"tenantId": "tenant-a", "userId": "user-001"}))
                .await;
            assert_eq!(response["statusCode"], status, "{response}");
            assert_eq!(body(&response)["error"]["code"], code);
            assert!(!response.to_string().contains("123456789012"), "{response}");
        }
    }
}
