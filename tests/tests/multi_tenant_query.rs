//! multi-tenant-query end to end, as an isolation attack suite: the real binary behind `cargo
//! lambda watch`, moto as DynamoDB, STS, Cognito (ID tokens and JWKS) and Secrets Manager.
//! Every attack is paired with a control that gets its own orders; every attack gets a 4xx and
//! none of another tenant's items. moto does not evaluate IAM, so the tenant-scoped role is checked
//! here by what the function asks STS for (the role, with the right session tags) and in
//! `tests/template` by its policy.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use serde_json::{json, Value};
use suite_tests::{
    assert_no_seeded_secret, body_of, event_files, operation_name, request_body, LambdaEmulator,
    SeededMoto,
};

const FUNCTION: &str = "multi-tenant-query";
/// tenant-b's order: must never appear in an answer to anyone else.
const FOREIGN_ORDER: &str = "2024-003";
const PAGER_ITEMS: usize = 260;

fn status_and_body(response: &Value) -> Result<(u64, Value)> {
    let status = response["statusCode"].as_u64().context("statusCode")?;
    Ok((status, body_of(response)?))
}

fn order_ids(body: &Value) -> Vec<String> {
    body["orders"]
        .as_array()
        .map(|orders| {
            orders
                .iter()
                .filter_map(|o| o["orderId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

fn decode_part(part: &str) -> Result<Value> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part)?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// `PAGER_ITEMS` orders for one user, to page through.
fn seed_pager(stack: &SeededMoto) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = aws_sdk_dynamodb::Client::new(&stack.sdk_config().await);
        let items: Vec<WriteRequest> = (0..PAGER_ITEMS)
            .map(|i| {
                let item = [
                    ("PK", AttributeValue::S("TENANT#tenant-p#USER#pager".into())),
                    ("SK", AttributeValue::S(format!("ORDER#P-{i:04}"))),
                    ("orderTotal", AttributeValue::N(format!("{}.25", i + 1))),
                    ("status", AttributeValue::S("new".into())),
                    ("tenantId", AttributeValue::S("tenant-p".into())),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                let put = PutRequest::builder().set_item(Some(item)).build()?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_>>()?;
        for chunk in items.chunks(25) {
            client
                .batch_write_item()
                .request_items(&stack.names.table_name, chunk.to_vec())
                .send()
                .await?;
        }
        Ok::<(), anyhow::Error>(())
    })
}

#[test]
fn multi_tenant_query_isolation_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("multi-tenant-query")?;
    seed_pager(&stack)?;
    let lambda = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch",
        &[FUNCTION],
        &stack.function_env()?,
    )?;
    let mut refusals = Vec::new();

    // 1. The documented events (controls). The first query of an identity assumes the
    //    tenant-scoped role with its tenant and user as session tags; a repeat reuses them.
    let files = event_files("multi-tenant-query-")?;
    assert_eq!(files.len(), 3, "{files:?}");
    for file in &files {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        stack.moto.start_recording()?;
        let response = lambda.invoke_file(FUNCTION, file)?;
        let requests = stack.moto.stop_recording_requests()?;
        let (status, body) = status_and_body(&response)?;
        assert_eq!(status, 200, "{name}: {body}");
        let (tenant, user, orders) = match name.as_str() {
            "multi-tenant-query-tenant-b-user-002.json" => {
                ("tenant-b", "user-002", vec!["2024-003"])
            }
            _ => ("tenant-a", "user-001", vec!["2024-001", "2024-002"]),
        };
        assert_eq!(
            (body["tenantId"].as_str(), body["userId"].as_str()),
            (Some(tenant), Some(user)),
            "{name}"
        );
        assert_eq!(order_ids(&body), orders, "{name}");
        assert_eq!(body["orderCount"], orders.len());
        if tenant == "tenant-a" {
            assert_eq!(
                body["orders"][0],
                json!({"orderId": "2024-001", "total": "149.99", "status": "shipped"})
            );
            assert_eq!(
                body["orders"][1]["total"]
                    .as_str()
                    .map(|t| t.parse::<f64>().ok()),
                Some(Some(89.5))
            );
        }
        let operations: Vec<String> = requests.iter().map(operation_name).collect();
        assert!(
            operations.contains(&"DynamoDB_20120810.Query".to_owned()),
            "{name}: {operations:?}"
        );
        if let Some(assume) = requests.iter().find(|r| operation_name(r) == "AssumeRole") {
            let form = request_body(assume);
            for expected in [
                "Tags.member.1.Key=TenantId".to_owned(),
                format!("Tags.member.1.Value={tenant}"),
                "Tags.member.2.Key=UserId".to_owned(),
                format!("Tags.member.2.Value={user}"),
            ] {
                assert!(
                    form.contains(&expected),
                    "AssumeRole without {expected}: {form}"
                );
            }
            assert!(form.contains("secure-lambda-suite-tenant-query"), "{form}");
        }
    }
    stack.moto.start_recording()?;
    let warm = lambda.invoke(
        FUNCTION,
        &json!({"tenantId": "tenant-a", "userId": "user-001"}),
    )?;
    let operations = stack.moto.stop_recording()?;
    assert_eq!(
        operations,
        vec!["DynamoDB_20120810.Query"],
        "warm: cached credentials"
    );
    assert_eq!(order_ids(&status_and_body(&warm)?.1).len(), 2);

    // 2. Injection and collision ids in direct invocations: 400, nothing queried.
    stack.moto.start_recording()?;
    for event in [
        json!({"tenantId": "tenant-a#USER#user-001", "userId": "user-001"}),
        json!({"tenantId": "tenant-b", "userId": "user-002#ORDER#"}),
        json!({"tenantId": "*", "userId": "*"}),
        json!({"tenantId": "tenant-a", "userId": ""}),
        json!({"tenantId": "tenant a", "userId": "user-001"}),
        json!({"tenantId": "tenant-a/../tenant-b", "userId": "user-002"}),
        json!({"tenantId": "tenant-a", "userId": "user-001", "scan": true}),
    ] {
        let (status, body) = status_and_body(&lambda.invoke(FUNCTION, &event)?)?;
        assert_eq!(status, 400, "{event}: {body}");
        assert!(order_ids(&body).is_empty());
        refusals.push(body.to_string());
    }
    assert!(
        stack.moto.stop_recording()?.is_empty(),
        "refused ids reached AWS"
    );

    // 3. Cursors: a tenant-a cursor replayed by tenant-b, by another user, or altered: 400 before
    //    any query. The control follows it to tenant-a's second order.
    let first = status_and_body(&lambda.invoke(
        FUNCTION,
        &json!({"tenantId": "tenant-a", "userId": "user-001", "limit": 1}),
    )?)?
    .1;
    let cursor = first["nextCursor"]
        .as_str()
        .context("nextCursor")?
        .to_owned();
    let (payload, tag) = cursor.split_once('.').context("cursor shape")?;
    let mut forged = decode_part(payload)?;
    forged["k"]["PK"] = json!("TENANT#tenant-b#USER#user-002");
    let forged = format!("{}.{tag}", b64(&forged));
    stack.moto.start_recording()?;
    for (tenant, user, cursor) in [
        ("tenant-b", "user-002", cursor.as_str()),
        ("tenant-a", "user-002", cursor.as_str()),
        ("tenant-a", "user-001", forged.as_str()),
        ("tenant-a", "user-001", &cursor[..cursor.len() - 4]),
    ] {
        let event = json!({"tenantId": tenant, "userId": user, "cursor": cursor});
        let (status, body) = status_and_body(&lambda.invoke(FUNCTION, &event)?)?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("InvalidCursor")),
            "{event}"
        );
        refusals.push(body.to_string());
    }
    let operations = stack.moto.stop_recording()?;
    assert!(
        !operations
            .iter()
            .any(|o| o.contains("Query") || o == "AssumeRole"),
        "{operations:?}"
    );
    let next = status_and_body(&lambda.invoke(
        FUNCTION,
        &json!({"tenantId": "tenant-a", "userId": "user-001", "limit": 1, "cursor": cursor}),
    )?)?
    .1;
    assert_eq!(order_ids(&next), vec!["2024-002"]);

    // 4. Pagination over 260 items: every one once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut event = json!({"tenantId": "tenant-p", "userId": "pager", "limit": 100});
        if let Some(c) = &cursor {
            event["cursor"] = json!(c);
        }
        let (status, body) = status_and_body(&lambda.invoke(FUNCTION, &event)?)?;
        assert_eq!(status, 200, "{body}");
        pages += 1;
        seen.extend(order_ids(&body));
        match body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), PAGER_ITEMS);
    assert_eq!(
        seen.iter().collect::<BTreeSet<_>>().len(),
        PAGER_ITEMS,
        "duplicates"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "out of order");

    // 5. API Gateway form: the authorizer's claims decide; naming anyone else is a 403.
    let api_file = files
        .iter()
        .find(|f| f.to_string_lossy().contains("api-get-orders"))
        .context("API event")?;
    let api_event: Value = serde_json::from_str(&std::fs::read_to_string(api_file)?)?;
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut event = api_event.clone();
        edit(&mut event);
        event
    };
    for (what, event) in [
        (
            "tenant in query",
            with(&|e| e["queryStringParameters"]["tenantId"] = json!("tenant-b")),
        ),
        (
            "user in query",
            with(&|e| e["queryStringParameters"]["userId"] = json!("user-002")),
        ),
        (
            "tenant in path",
            with(&|e| e["rawPath"] = json!("/tenants/tenant-b/orders")),
        ),
        (
            "tenant in body",
            with(&|e| e["body"] = json!(r#"{"tenantId":"tenant-b"}"#)),
        ),
        (
            "claim missing",
            with(&|e| {
                if let Some(claims) =
                    e["requestContext"]["authorizer"]["jwt"]["claims"].as_object_mut()
                {
                    claims.remove("custom:tenantId");
                }
            }),
        ),
        (
            "claim with separator",
            with(&|e| {
                e["requestContext"]["authorizer"]["jwt"]["claims"]["custom:tenantId"] =
                    json!("tenant-a#USER#user-002")
            }),
        ),
    ] {
        let (status, body) = status_and_body(&lambda.invoke(FUNCTION, &event)?)?;
        assert_eq!(status, 403, "{what}: {body}");
        assert!(order_ids(&body).is_empty(), "{what}");
        refusals.push(body.to_string());
    }

    // 6. Function URL, no authorizer: the function verifies the Cognito ID token itself.
    let token_a = stack.id_token("user-001")?;
    let token_b = stack.id_token("user-002")?;
    for (token, tenant, expected) in [
        (&token_a, "tenant-a", vec!["2024-001", "2024-002"]),
        (&token_b, "tenant-b", vec!["2024-003"]),
    ] {
        let (status, body) = lambda.get_function_url(FUNCTION, "/orders", Some(token))?;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["tenantId"], tenant);
        assert_eq!(order_ids(&body), expected);
    }
    let mut parts = token_a.split('.');
    let (header, payload, signature) = (
        parts.next().context("header")?,
        parts.next().context("payload")?,
        parts.next().context("signature")?,
    );
    let mut claims = decode_part(payload)?;
    claims["custom:tenantId"] = json!("tenant-b");
    claims["cognito:username"] = json!("user-002");
    let forged_payload = b64(&claims);
    let mut hs_header = decode_part(header)?;
    hs_header["alg"] = json!("HS256");
    let hs_signed = {
        use hmac::{KeyInit, Mac};
        let signing_input = format!("{}.{forged_payload}", b64(&hs_header));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"attacker-chosen key")?;
        mac.update(signing_input.as_bytes());
        use base64::Engine;
        let sig =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signing_input}.{sig}")
    };
    let attacks = [
        ("no token", None),
        ("garbage", Some("not-a-jwt".to_owned())),
        (
            "alg none",
            Some(format!(
                "{}.{forged_payload}.",
                b64(&json!({"alg": "none", "typ": "JWT"}))
            )),
        ),
        (
            "claims edited, signature kept",
            Some(format!("{header}.{forged_payload}.{signature}")),
        ),
        ("re-signed with HS256", Some(hs_signed)),
        ("signature stripped", Some(format!("{header}.{payload}."))),
    ];
    for (what, token) in &attacks {
        let (status, body) = lambda.get_function_url(FUNCTION, "/orders", token.as_deref())?;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(!body.to_string().contains(FOREIGN_ORDER), "{what}");
        refusals.push(body.to_string());
    }
    let (status, body) =
        lambda.get_function_url(FUNCTION, "/orders?tenantId=tenant-b", Some(&token_a))?;
    assert_eq!(status, 403, "valid token, other tenant requested: {body}");

    // Same genuine token, function configured for another app client: wrong audience.
    let mut env = stack.function_env()?;
    for (key, value) in env.iter_mut() {
        if key == "APP_CLIENT_ID" {
            *value = "another-app-client".into();
        }
    }
    let other = LambdaEmulator::start(&stack.dir, "lambda-watch-other-client", &[FUNCTION], &env)?;
    let (status, body) = other.get_function_url(FUNCTION, "/orders", Some(&token_a))?;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("another app client")),
        "{body}"
    );

    // 7. No foreign order in any refusal; no token, key or seeded secret in the logs.
    let all = refusals.join("\n");
    assert!(
        !all.contains(FOREIGN_ORDER),
        "a refusal carried tenant-b's order"
    );
    let logs = format!("{}\n{}", lambda.log(), other.log());
    assert!(logs.contains("assumed the tenant-scoped role"), "{logs}");
    assert!(logs.contains("bearer token refused"));
    for token in [&token_a, &token_b] {
        let signature = token.rsplit('.').next().unwrap_or_default();
        assert!(!logs.contains(signature), "an ID token appears in the logs");
    }
    assert_no_seeded_secret("the function logs", &logs);
    Ok(())
}

/// Orders keyed on `sub` end to end, as the template's `UserIdClaim=sub` deploys it: `suitectl
/// seed` keys the sample orders on each user's `sub`, the function (`USER_CLAIM=sub`) reads the
/// user from a verified token's `sub`, and a user deleted and re-created under the same name is a
/// new user without the old one's orders (with `cognito:username` they would be inherited).
#[test]
fn orders_keyed_on_sub_end_to_end() -> Result<()> {
    use aws_sdk_cognitoidentityprovider::types::{AttributeType, MessageActionType};
    let stack = SeededMoto::start_with("multi-tenant-query-sub", |names| {
        names.user_id_claim = suitectl::stack::UserIdClaim::Sub;
    })?;
    assert!(
        stack.seed_log.iter().any(|l| l.contains("keyed on sub")),
        "{:?}",
        stack.seed_log
    );
    let lambda = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch-sub",
        &[FUNCTION],
        &stack.function_env()?,
    )?;
    let token = stack.id_token("user-001")?;
    let (status, body) = lambda.get_function_url(FUNCTION, "/orders", Some(&token))?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(order_ids(&body), vec!["2024-001", "2024-002"]);
    let sub = body["userId"].as_str().unwrap_or_default().to_owned();
    assert!(
        sub.len() >= 32 && sub != "user-001",
        "the user is their sub: {body}"
    );

    // Deleted and re-created under the same name: a new sub, none of the old orders.
    let pool = stack.outputs.user_pool_id.clone();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let cognito = aws_sdk_cognitoidentityprovider::Client::new(&stack.sdk_config().await);
            cognito
                .admin_delete_user()
                .user_pool_id(&pool)
                .username("user-001")
                .send()
                .await?;
            cognito
                .admin_create_user()
                .user_pool_id(&pool)
                .username("user-001")
                .user_attributes(
                    AttributeType::builder()
                        .name("custom:tenantId")
                        .value("tenant-a")
                        .build()?,
                )
                .message_action(MessageActionType::Suppress)
                .send()
                .await?;
            cognito
                .admin_set_user_password()
                .user_pool_id(&pool)
                .username("user-001")
                .password(suitectl::values::lab_defaults::USER_PASSWORD)
                .permanent(true)
                .send()
                .await?;
            Ok::<(), anyhow::Error>(())
        })?;
    let token = stack.id_token("user-001")?;
    let (status, body) = lambda.get_function_url(FUNCTION, "/orders", Some(&token))?;
    assert_eq!(status, 200, "{body}");
    assert_ne!(body["userId"].as_str(), Some(sub.as_str()), "{body}");
    assert_eq!(
        order_ids(&body),
        Vec::<String>::new(),
        "nothing inherited: {body}"
    );
    assert_no_seeded_secret("the function logs", &lambda.log());
    Ok(())
}

/// The `Credential=<access key id>/…` of a recorded request's SigV4 `Authorization` header.
fn signing_key(entry: &Value) -> Option<String> {
    let headers = entry.get("headers").and_then(Value::as_object)?;
    let authorization = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())?;
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next().map(str::to_owned)
}

/// Per-tenant sessions (`TENANT_SESSION_SCOPE=tenant`): one `AssumeRole` per tenant, tagged with
/// the tenant only; the users of one tenant query with the same assumed credentials, another
/// tenant with its own, none with the function's; each user still gets only their own orders.
#[test]
fn per_tenant_sessions_end_to_end() -> Result<()> {
    let stack = SeededMoto::start("multi-tenant-query-per-tenant")?;
    let mut env = stack.function_env()?;
    env.push(("TENANT_SESSION_SCOPE".into(), "tenant".into()));
    let lambda = LambdaEmulator::start(&stack.dir, "lambda-watch-per-tenant", &[FUNCTION], &env)?;
    let function_key = env
        .iter()
        .find(|(k, _)| k == "AWS_ACCESS_KEY_ID")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();

    stack.moto.start_recording()?;
    let mut keys_by_tenant: Vec<(&str, BTreeSet<String>)> = Vec::new();
    let mut assumed = 0;
    for (tenant, user, orders) in [
        ("tenant-a", "user-001", vec!["2024-001", "2024-002"]),
        (
            "tenant-a",
            "student",
            vec!["S-001", "S-002", "S-003", "S-004", "S-005"],
        ),
        ("tenant-b", "user-002", vec!["2024-003"]),
        ("tenant-a", "user-001", vec!["2024-001", "2024-002"]),
    ] {
        let response = lambda.invoke(FUNCTION, &json!({"tenantId": tenant, "userId": user}))?;
        let (status, body) = status_and_body(&response)?;
        assert_eq!(status, 200, "{tenant}/{user}: {body}");
        assert_eq!(order_ids(&body), orders, "{tenant}/{user}");
        assert_eq!(
            (body["tenantId"].as_str(), body["userId"].as_str()),
            (Some(tenant), Some(user))
        );
        let requests = stack.moto.stop_recording_requests()?;
        stack.moto.start_recording()?;
        let keys: BTreeSet<String> = requests
            .iter()
            .filter(|r| operation_name(r).contains("Query"))
            .filter_map(signing_key)
            .collect();
        assert_eq!(keys.len(), 1, "{tenant}/{user}: {keys:?}");
        assert!(
            !keys.contains(&function_key),
            "queried with the function's own key"
        );
        match keys_by_tenant.iter_mut().find(|(t, _)| *t == tenant) {
            Some((_, seen)) => seen.extend(keys),
            None => keys_by_tenant.push((tenant, keys)),
        }
        for assume in requests
            .iter()
            .filter(|r| operation_name(r) == "AssumeRole")
        {
            assumed += 1;
            let form = request_body(assume);
            assert!(form.contains("Tags.member.1.Key=TenantId"), "{form}");
            assert!(
                form.contains(&format!("Tags.member.1.Value={tenant}")),
                "{form}"
            );
            assert!(
                !form.contains("UserId"),
                "a tenant session carries no user tag: {form}"
            );
            let session = format!("RoleSessionName=t-{tenant}");
            assert!(form.split('&').any(|field| field == session), "{form}");
        }
    }
    stack.moto.stop_recording()?;
    // One session per tenant across its users: tenant-a's two users shared one.
    assert_eq!(assumed, 2, "one AssumeRole per tenant");
    assert_eq!(keys_by_tenant.len(), 2);
    for (tenant, keys) in &keys_by_tenant {
        assert_eq!(keys.len(), 1, "{tenant}: {keys:?}");
    }
    assert_ne!(keys_by_tenant[0].1, keys_by_tenant[1].1);
    Ok(())
}

/// The issue's cliff: 300 users round-robin, 3 rounds, against one warm sandbox. The old cache
/// (256 identities, emptied whole when full) made 900 `AssumeRole` calls; the LRU makes one per
/// user.
#[test]
fn three_hundred_users_round_robin_assume_the_role_once_each() -> Result<()> {
    const USERS: usize = 300;
    let stack = SeededMoto::start("multi-tenant-query-round-robin")?;
    let lambda = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch-round-robin",
        &[FUNCTION],
        &stack.function_env()?,
    )?;
    stack.moto.start_recording()?;
    for round in 0..3 {
        for user in 0..USERS {
            let event = json!({"tenantId": format!("tenant-{}", user % 7), "userId": format!("user-{user:03}")});
            let response = lambda.invoke(FUNCTION, &event)?;
            let (status, body) = status_and_body(&response)?;
            assert_eq!(status, 200, "round {round}, user {user}: {body}");
        }
    }
    let operations = stack.moto.stop_recording()?;
    let count = |name: &str| operations.iter().filter(|o| o.as_str() == name).count();
    assert_eq!(count("AssumeRole"), USERS);
    assert_eq!(count("DynamoDB_20120810.Query"), 3 * USERS);
    Ok(())
}
