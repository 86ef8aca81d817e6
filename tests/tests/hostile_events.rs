//! Hostile and malformed events, as an attacker or a broken caller sends them, against the four
//! real binaries (one emulator, moto seeded): wrong types, nulls, huge and deep values, invalid
//! base64 and UTF-8 bodies, API Gateway events without `requestContext`, numeric edge cases,
//! header injection, forged tokens and worker messages. Each gets a 4xx with the standard error
//! body whose code (and, where there is one, field) names the problem; no function panics; no
//! seeded secret appears in an answer or a log line. Every table has at least 25 rows.

use anyhow::{Context, Result};
use serde_json::{json, Value};
use suite_tests::{
    assert_no_seeded_secret, body_of, free_port, EmulatorOptions, LambdaEmulator, SeededMoto,
};

/// One hostile event and what must come back: the status and the error code, and the field
/// when the problem is one field's.
struct Row {
    name: &'static str,
    event: Value,
    status: u64,
    code: &'static str,
    field: Option<&'static str>,
}

fn row(name: &'static str, event: Value, status: u64, code: &'static str) -> Row {
    Row {
        name,
        event,
        status,
        code,
        field: None,
    }
}

fn with_field(mut row: Row, field: &'static str) -> Row {
    row.field = Some(field);
    row
}

fn deep(levels: usize) -> Value {
    (0..levels).fold(json!(1), |inner, _| json!({ "a": inner }))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn b64url(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An API Gateway HTTP API (v2) event.
fn http(method: &str, path: &str, headers: Value, body: Option<&str>, base64: bool) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "hostile"},
            "requestId": "hostile", "routeKey": "$default", "stage": "$default",
            "accountId": "123456789012", "apiId": "api", "domainName": "localhost",
            "domainPrefix": "localhost", "time": "04/Dec/2026:00:00:00 +0000", "timeEpoch": 0
        },
        "body": body,
        "isBase64Encoded": base64
    })
}

/// Rows every function gets: the event's shape itself is wrong.
fn shape_rows() -> Vec<Row> {
    vec![
        row("null event", Value::Null, 400, "InvalidEvent"),
        row("array event", json!([1, 2, 3]), 400, "InvalidEvent"),
        row(
            "string event",
            json!("get_db_credentials"),
            400,
            "InvalidEvent",
        ),
        row("number event", json!(42), 400, "InvalidEvent"),
        row("boolean event", json!(true), 400, "InvalidEvent"),
        row(
            "nested 100 levels",
            json!({ "x": deep(100) }),
            400,
            "TooDeep",
        ),
        row(
            "HTTP-looking event without requestContext",
            json!({"rawPath": "/orders", "body": "{}", "isBase64Encoded": false, "headers": {}}),
            400,
            "UnknownField",
        ),
        row(
            "requestContext.http not an object",
            json!({"requestContext": {"http": "GET /"}, "rawPath": "/"}),
            400,
            "UnknownField",
        ),
    ]
}

fn bearer(token: &str) -> Value {
    json!({"authorization": format!("Bearer {token}"), "content-type": "application/json"})
}

struct Tables {
    secure_config: Vec<Row>,
    data_masking: Vec<Row>,
    multi_tenant_query: Vec<Row>,
    loadtest: Vec<Row>,
}

fn tables(genuine_token: &str) -> Tables {
    let huge = "x".repeat(300_000);
    let mut secure_config = shape_rows();
    secure_config.extend([
        with_field(
            row("action true", json!({"action": true}), 400, "InvalidField"),
            "action",
        ),
        with_field(
            row("action a number", json!({"action": 7}), 400, "InvalidField"),
            "action",
        ),
        with_field(
            row(
                "action an array",
                json!({"action": ["get_db_credentials"]}),
                400,
                "InvalidField",
            ),
            "action",
        ),
        with_field(
            row(
                "action an object",
                json!({"action": {"$ne": ""}}),
                400,
                "InvalidField",
            ),
            "action",
        ),
        with_field(
            row(
                "action with spaces",
                json!({"action": " get_db_credentials "}),
                400,
                "UnknownAction",
            ),
            "action",
        ),
        with_field(
            row(
                "action upper case",
                json!({"action": "GET_DB_CREDENTIALS"}),
                400,
                "UnknownAction",
            ),
            "action",
        ),
        with_field(
            row(
                "action with NUL",
                json!({"action": "get_db_credentials\u{0}"}),
                400,
                "UnknownAction",
            ),
            "action",
        ),
        with_field(
            row(
                "action with CRLF",
                json!({"action": "get_db_credentials\r\nX-Injected: 1"}),
                400,
                "UnknownAction",
            ),
            "action",
        ),
        with_field(
            row(
                "action path traversal",
                json!({"action": "../../secrets/api-key"}),
                400,
                "UnknownAction",
            ),
            "action",
        ),
        with_field(
            row(
                "action 300 KB",
                json!({"action": huge}),
                400,
                "UnknownAction",
            ),
            "action",
        ),
        with_field(
            row(
                "unknown field",
                json!({"action": "get_app_config", "secretId": "prod/other"}),
                400,
                "UnknownField",
            ),
            "secretId",
        ),
        with_field(
            row(
                "prototype pollution key",
                json!({"__proto__": {"admin": true}}),
                400,
                "UnknownField",
            ),
            "__proto__",
        ),
        row(
            "HTTP body not base64",
            http("POST", "/", bearer("x"), Some("!!!"), true),
            400,
            "InvalidBody",
        ),
        row(
            "HTTP body invalid UTF-8",
            http(
                "POST",
                "/",
                json!({}),
                Some(&b64(&[0xff, 0xfe, 0x7b])),
                true,
            ),
            400,
            "InvalidBody",
        ),
        row(
            "HTTP body not JSON",
            http("POST", "/", json!({}), Some("{\"action\":"), false),
            400,
            "InvalidBody",
        ),
        row(
            "HTTP body a JSON array",
            http("POST", "/", json!({}), Some("[1]"), false),
            400,
            "InvalidBody",
        ),
        with_field(
            row(
                "HTTP body action a number",
                http("POST", "/", json!({}), Some("{\"action\": 1e309}"), false),
                400,
                "InvalidBody",
            ),
            "body",
        ),
        with_field(
            row(
                "HTTP header injection",
                http(
                    "POST",
                    "/",
                    json!({"x-action": "get_db_credentials\r\nSet-Cookie: a=b"}),
                    Some("{\"action\": \"drop\"}"),
                    false,
                ),
                400,
                "InvalidField",
            ),
            "headers",
        ),
        with_field(
            row(
                "HTTP action unknown",
                http(
                    "POST",
                    "/",
                    json!({}),
                    Some("{\"action\": \"drop_tables\"}"),
                    false,
                ),
                400,
                "UnknownAction",
            ),
            "action",
        ),
    ]);

    let mut data_masking = shape_rows();
    data_masking.extend([
        with_field(row("records null", json!({"records": null}), 400, "InvalidField"), "records"),
        with_field(row("records an object", json!({"records": {"a": 1}}), 400, "InvalidField"), "records"),
        with_field(row("records a string", json!({"records": "[{}]"}), 400, "InvalidField"), "records"),
        with_field(row("rules an array", json!({"records": [], "rules": ["$.a"]}), 400, "InvalidField"), "rules"),
        with_field(row("rule strategy unknown", json!({"records": [{}], "rules": {"$.a": "rot13"}}), 400, "InvalidRule"), "rules.$.a"),
        with_field(row("rule strategy a number", json!({"records": [{}], "rules": {"$.a": 3}}), 400, "InvalidRule"), "rules.$.a"),
        row("rule path not JSONPath", json!({"records": [{}], "rules": {"a[?(@.x)]": "redact"}}), 400, "InvalidRule"),
        row("rule path empty", json!({"records": [{}], "rules": {"": "redact"}}), 400, "InvalidRule"),
        with_field(row("rules too many", json!({"records": [{}], "rules": (0..1000).map(|i| (format!("$.f{i}"), json!("redact"))).collect::<serde_json::Map<_, _>>()}), 400, "InvalidField"), "rules"),
        with_field(row("detect a string", json!({"records": [{}], "detect": "yes"}), 400, "InvalidField"), "detect"),
        with_field(row("unknown field", json!({"records": [], "callback": "http://evil"}), 400, "UnknownField"), "callback"),
        row("record nested 100 levels", json!({"records": [deep(60)]}), 400, "TooDeep"),
        with_field(row("direct body 7 MB", json!({"records": [{"a": "y".repeat(7_000_000)}]}), 413, "PayloadTooLarge"), "records"),
        row("HTTP wrong method", http("GET", "/mask", json!({}), Some("{}"), false), 405, "MethodNotAllowed"),
        row("HTTP wrong path", http("POST", "/unmask", json!({}), Some("{}"), false), 404, "NotFound"),
        row("HTTP body not base64", http("POST", "/mask", json!({}), Some("%%%"), true), 400, "InvalidBody"),
        row("HTTP body invalid UTF-8", http("POST", "/mask", json!({}), Some(&b64(&[0xc3, 0x28])), true), 400, "InvalidBody"),
        row("HTTP body not JSON", http("POST", "/mask", json!({}), Some("records="), false), 400, "InvalidBody"),
        row("HTTP body a JSON string", http("POST", "/mask", json!({}), Some("\"x\""), false), 400, "InvalidBody"),
        with_field(row("HTTP records a number", http("POST", "/mask", json!({}), Some("{\"records\": 1e400}"), false), 400, "InvalidBody"), "body"),
    ]);

    let a = |extra: Value| {
        let mut event = json!({"tenantId": "tenant-a", "userId": "user-001"});
        for (k, v) in extra.as_object().cloned().unwrap_or_default() {
            event[k] = v;
        }
        event
    };
    let (header, rest) = genuine_token.split_once('.').unwrap_or(("", ""));
    let (payload, _signature) = rest.split_once('.').unwrap_or(("", ""));
    let tenant_b_payload = {
        use base64::Engine;
        let mut claims: Value = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_else(|| json!({}));
        claims["custom:tenantId"] = json!("tenant-b");
        b64url(&claims)
    };
    let orders = |token: String| http("GET", "/orders", bearer(&token), None, false);
    let mut multi_tenant_query = shape_rows();
    multi_tenant_query.extend([
        with_field(
            row(
                "tenant with key delimiter",
                a(json!({"tenantId": "tenant-a#USER#user-002"})),
                400,
                "InvalidIdentifier",
            ),
            "tenantId",
        ),
        with_field(
            row(
                "tenant wildcard",
                a(json!({"tenantId": "*"})),
                400,
                "InvalidIdentifier",
            ),
            "tenantId",
        ),
        with_field(
            row(
                "tenant null",
                a(json!({"tenantId": null})),
                400,
                "InvalidField",
            ),
            "tenantId",
        ),
        with_field(
            row(
                "tenant a number",
                a(json!({"tenantId": 7})),
                400,
                "InvalidField",
            ),
            "tenantId",
        ),
        with_field(
            row(
                "user missing",
                json!({"tenantId": "tenant-a"}),
                400,
                "MissingField",
            ),
            "userId",
        ),
        with_field(
            row(
                "user 65 chars",
                a(json!({"userId": "u".repeat(65)})),
                400,
                "InvalidIdentifier",
            ),
            "userId",
        ),
        with_field(
            row(
                "user non-ASCII",
                a(json!({"userId": "usér-001"})),
                400,
                "InvalidIdentifier",
            ),
            "userId",
        ),
        with_field(
            row("limit 0", a(json!({"limit": 0})), 400, "InvalidLimit"),
            "limit",
        ),
        with_field(
            row(
                "limit negative",
                a(json!({"limit": -1})),
                400,
                "InvalidLimit",
            ),
            "limit",
        ),
        with_field(
            row(
                "limit 2^64",
                a(json!({"limit": 18446744073709551616u128 as f64})),
                400,
                "InvalidField",
            ),
            "limit",
        ),
        with_field(
            row(
                "limit fractional",
                a(json!({"limit": 1.5})),
                400,
                "InvalidField",
            ),
            "limit",
        ),
        with_field(
            row(
                "cursor garbage",
                a(json!({"cursor": "not-a-cursor"})),
                400,
                "InvalidCursor",
            ),
            "cursor",
        ),
        with_field(
            row(
                "cursor 10 KB",
                a(json!({"cursor": "A".repeat(10_000)})),
                400,
                "InvalidCursor",
            ),
            "cursor",
        ),
        with_field(
            row(
                "unknown field",
                a(json!({"filter": "PK = *"})),
                400,
                "UnknownField",
            ),
            "filter",
        ),
        row(
            "HTTP no token",
            http("GET", "/orders", json!({}), None, false),
            401,
            "Unauthorized",
        ),
        row(
            "HTTP Basic auth",
            http(
                "GET",
                "/orders",
                json!({"authorization": "Basic dXNlcjpwYXNz"}),
                None,
                false,
            ),
            401,
            "Unauthorized",
        ),
        row(
            "HTTP token garbage",
            orders("a.b.c".into()),
            401,
            "Unauthorized",
        ),
        row(
            "HTTP alg none",
            orders(format!(
                "{}.{payload}.",
                b64url(&json!({"alg": "none", "kid": "dummy"}))
            )),
            401,
            "Unauthorized",
        ),
        row(
            "HTTP claims edited",
            orders(format!(
                "{header}.{tenant_b_payload}.{}",
                rest.rsplit('.').next().unwrap_or("")
            )),
            401,
            "Unauthorized",
        ),
        row(
            "HTTP signature stripped",
            orders(format!("{header}.{payload}.")),
            401,
            "Unauthorized",
        ),
        with_field(row(
            "HTTP header injection in token",
            http(
                "GET",
                "/orders",
                json!({"authorization": format!("Bearer {genuine_token}\r\nX-Tenant: tenant-b")}),
                None,
                false,
            ),
            400,
            "InvalidField",
        ), "headers"),
        row(
            "HTTP genuine token, foreign tenant in query",
            {
                let mut e = orders(genuine_token.to_owned());
                e["rawQueryString"] = json!("tenantId=tenant-b");
                e["queryStringParameters"] = json!({"tenantId": "tenant-b"});
                e
            },
            403,
            "IdentityMismatch",
        ),
        row(
            "HTTP wrong method",
            http("DELETE", "/orders", bearer(genuine_token), None, false),
            405,
            "MethodNotAllowed",
        ),
    ]);

    let mut loadtest = shape_rows();
    loadtest.extend([
        with_field(row("calls negative", json!({"NumberOfCallsPerUser": -1}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("calls zero", json!({"NumberOfCallsPerUser": 0}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("calls text", json!({"NumberOfCallsPerUser": "three"}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("calls 1e12", json!({"NumberOfCallsPerUser": 1_000_000_000_000u64}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("calls 1e309 as text", json!({"NumberOfCallsPerUser": "1e309"}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("calls fractional text", json!({"NumberOfCallsPerUser": "3.5"}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("calls an array", json!({"NumberOfCallsPerUser": [3]}), 400, "InvalidField"), "NumberOfCallsPerUser"),
        with_field(row("rate negative", json!({"RequestsPerSecond": -5, "DurationSeconds": 1}), 400, "InvalidField"), "RequestsPerSecond"),
        with_field(row("rate NaN text", json!({"RequestsPerSecond": "NaN", "DurationSeconds": 1}), 400, "InvalidField"), "RequestsPerSecond"),
        with_field(row("duration a year", json!({"DurationSeconds": 31_536_000}), 400, "InvalidField"), "DurationSeconds"),
        with_field(row("workers 1000", json!({"NumberOfCallsPerUser": 1, "Workers": 1000}), 400, "InvalidField"), "Workers"),
        with_field(row("path absolute URL", json!({"NumberOfCallsPerUser": 1, "Path": "http://169.254.169.254/latest/meta-data"}), 400, "InvalidField"), "Path"),
        with_field(row("method CONNECT", json!({"NumberOfCallsPerUser": 1, "Method": "CONNECT"}), 400, "InvalidField"), "Method"),
        with_field(row("unknown field", json!({"NumberOfCallsPerUser": 1, "Target": "http://evil"}), 400, "UnknownField"), "Target"),
        with_field(row("forged worker message", json!({"_worker": {"claims": "{}", "sig": "AAAA"}}), 403, "WorkerMessageRejected"), "_worker"),
        with_field(row("worker message not an object", json!({"_worker": "run everything"}), 403, "WorkerMessageRejected"), "_worker"),
        row("over HTTP", http("POST", "/", json!({}), Some("{\"NumberOfCallsPerUser\": 1}"), false), 400, "DirectInvocationOnly"),
        with_field(row("over HTTP, body invalid UTF-8", http("POST", "/", json!({}), Some(&b64(&[0xff])), true), 400, "InvalidBody"), "body"),
    ]);
    Tables {
        secure_config,
        data_masking,
        multi_tenant_query,
        loadtest,
    }
}

/// Runs `rows` against `function`; returns how many were answered as specified.
fn run_table(lambda: &LambdaEmulator, function: &str, rows: &[Row]) -> Result<usize> {
    assert!(
        rows.len() >= 25,
        "{function}: {} rows, at least 25 wanted",
        rows.len()
    );
    let mut failures = Vec::new();
    for row in rows {
        let response = lambda
            .invoke(function, &row.event)
            .with_context(|| format!("{function}: {}", row.name))?;
        let text = response.to_string();
        assert_no_seeded_secret(&format!("{function}'s answer to {}", row.name), &text);
        let status = response["statusCode"].as_u64().unwrap_or(0);
        let body = body_of(&response).unwrap_or(Value::Null);
        let error = &body["error"];
        let got = (
            status,
            error["code"].as_str().unwrap_or(""),
            error["field"].as_str(),
        );
        let message = error["message"].as_str().unwrap_or("");
        let expected = (row.status, row.code, row.field);
        let field_ok = row.field.is_none() || got.2 == row.field;
        if got.0 != expected.0 || got.1 != expected.1 || !field_ok || message.len() < 10 {
            failures.push(format!(
                "{}: expected {expected:?}, got {got:?} {message}",
                row.name
            ));
        }
    }
    assert!(failures.is_empty(), "{function}:\n{}", failures.join("\n"));
    eprintln!(
        "{function}: {} hostile events answered as specified",
        rows.len()
    );
    Ok(rows.len())
}

#[test]
fn hostile_events_get_structured_4xx_and_nothing_else() -> Result<()> {
    let stack = SeededMoto::start("hostile-events")?;
    let functions = [
        "secure-config",
        "data-masking",
        "multi-tenant-query",
        "loadtest",
    ];
    let port = free_port()?;
    let mut env = stack.function_env()?;
    env.extend(stack.loadtest_env(port, "student")?);
    let lambda = LambdaEmulator::start_with(
        &stack.dir,
        "hostile-watch",
        &functions,
        &env,
        EmulatorOptions {
            port: Some(port),
            concurrency: 1,
            log_invocations: false,
        },
    )?;
    let token = stack.id_token("user-001")?;
    let tables = tables(&token);
    let mut total = 0;
    total += run_table(&lambda, "secure-config", &tables.secure_config)?;
    total += run_table(&lambda, "data-masking", &tables.data_masking)?;
    total += run_table(&lambda, "multi-tenant-query", &tables.multi_tenant_query)?;
    total += run_table(&lambda, "loadtest", &tables.loadtest)?;
    let log = lambda.log();
    assert!(!log.contains("panicked"), "a function panicked:\n{log}");
    assert_no_seeded_secret("the functions' logs", &log);
    eprintln!("{total} hostile events in all");
    Ok(())
}
