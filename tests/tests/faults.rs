//! The four functions with AWS misbehaving: the fault proxy (`suite_tests::fault_proxy`) sits
//! between each function's `AWS_ENDPOINT_URL` and moto and refuses, black-holes, slows, fails
//! (500, 503, the three throttling codes) or cuts answers. One table of scenarios, run against
//! every function. Each answer must be the suite's: 503 `DependencyUnavailable` or 504
//! `DependencyTimeout` naming the dependency, never AWS's message; within the SDK budget (short
//! here: `SDK_*_MS`), with no panic; the function serves again once the fault is gone. Where a
//! function caches, an expired value is served stale through the fault (and counted), a rotated
//! secret is picked up at the next refresh, and a deleted one is a clear error that a re-created
//! one cures. No seeded secret in any response or log line.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{json, Value};
use suite_tests::fault_proxy::{Fault, FaultProxy, LEAKY_MESSAGE};
use suite_tests::{
    assert_no_seeded_secret, body_of, free_port, EmulatorOptions, LambdaEmulator, SeededMoto,
};

/// The SDK budget of the functions under test: one attempt 800 ms, the operation 2 s.
const BUDGET: [(&str, &str); 4] = [
    ("SDK_CONNECT_TIMEOUT_MS", "300"),
    ("SDK_ATTEMPT_TIMEOUT_MS", "800"),
    ("SDK_OPERATION_TIMEOUT_MS", "2000"),
    ("SDK_RETRY_INITIAL_BACKOFF_MS", "50"),
];
/// Longer than an attempt: the SDK gives up on the answer.
const SLOW: Duration = Duration::from_millis(1200);
/// No faulted invocation may take longer: the operation budget plus the invoke's own overhead,
/// well inside the template's function timeout (10 s).
const MAX_ANSWER: Duration = Duration::from_secs(5);
/// A password that rotation puts in the database secret: as secret as the seeded ones.
const ROTATED_PASSWORD: &str = "rotated-Passw0rd-7f3c91";

struct Scenario {
    name: &'static str,
    fault: Fault,
    status: u64,
    code: &'static str,
}

fn scenarios() -> Vec<Scenario> {
    let unavailable = |name, fault| Scenario {
        name,
        fault,
        status: 503,
        code: "DependencyUnavailable",
    };
    let timeout = |name, fault| Scenario {
        name,
        fault,
        status: 504,
        code: "DependencyTimeout",
    };
    vec![
        unavailable("connection refused", Fault::Refuse),
        timeout("black hole", Fault::BlackHole),
        timeout("slow answer", Fault::Slow(SLOW)),
        unavailable("500", Fault::error(500, "InternalFailure")),
        unavailable("503", Fault::error(503, "ServiceUnavailable")),
        unavailable(
            "ThrottlingException",
            Fault::error(400, "ThrottlingException"),
        ),
        unavailable(
            "TooManyRequestsException",
            Fault::error(429, "TooManyRequestsException"),
        ),
        unavailable(
            "ProvisionedThroughputExceededException",
            Fault::error(400, "ProvisionedThroughputExceededException"),
        ),
        unavailable("dropped mid-response", Fault::DropMidResponse),
    ]
}

/// The functions' environment with AWS behind the proxy, the short SDK budget and `extra`.
fn proxied_env(
    stack: &SeededMoto,
    proxy: &FaultProxy,
    extra: &[(&str, &str)],
) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = stack
        .function_env()?
        .into_iter()
        .filter(|(k, _)| k != "AWS_ENDPOINT_URL")
        .collect();
    env.push(("AWS_ENDPOINT_URL".into(), proxy.endpoint.clone()));
    for (k, v) in BUDGET.iter().chain(extra) {
        env.retain(|(key, _)| key != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    Ok(env)
}

fn status_and_body(response: &Value) -> Result<(u64, Value)> {
    let status = response["statusCode"].as_u64().context("statusCode")?;
    Ok((status, body_of(response)?))
}

/// The response of one invocation, with how long it took.
fn timed_invoke(
    lambda: &LambdaEmulator,
    function: &str,
    event: &Value,
) -> Result<(Value, Duration)> {
    let started = Instant::now();
    let response = lambda.invoke(function, event)?;
    Ok((response, started.elapsed()))
}

/// One fault's answer, checked: status, code, the dependency named, AWS's message absent, in time.
fn check_fault_answer(
    scenario: &Scenario,
    function: &str,
    dependency: &str,
    response: &Value,
    took: Duration,
) -> Result<()> {
    let what = format!("{function} under {}", scenario.name);
    let (status, body) = status_and_body(response)?;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (scenario.status, Some(scenario.code)),
        "{what}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(dependency), "{what}: {message}");
    let text = response.to_string();
    for leak in ["123456789012", "arn:aws", LEAKY_MESSAGE, "fault-proxy"] {
        assert!(
            !text.contains(leak),
            "{what}: AWS's text in the answer: {text}"
        );
    }
    assert_no_seeded_secret(&what, &text);
    assert!(took < MAX_ANSWER, "{what}: answered after {took:?}");
    Ok(())
}

/// Runs every scenario against `function`: the fault on (for requests whose operation contains
/// `only`, or all), one invocation, its answer checked; then, with `recover`, the fault off and
/// one invocation that must succeed. Returns how many faulted invocations were answered right.
#[allow(clippy::too_many_arguments)]
fn fault_matrix(
    lambda: &LambdaEmulator,
    proxy: &FaultProxy,
    function: &str,
    event: &Value,
    dependency: &str,
    only: Option<&str>,
    recover: bool,
) -> Result<usize> {
    // The first invocation starts the function (`cargo lambda watch` runs it then): an event
    // refused before any AWS call keeps that start out of the timed answers.
    let (warm, _) = timed_invoke(lambda, function, &json!({"warmUp": [1]}))?;
    assert_eq!(warm["statusCode"], 400, "{warm}");
    let mut survived = 0;
    for scenario in scenarios() {
        match only {
            Some(only) => proxy.set_for(only, scenario.fault.clone()),
            None => proxy.set(scenario.fault.clone()),
        }
        proxy.take_seen();
        let (response, took) = timed_invoke(lambda, function, event)?;
        check_fault_answer(&scenario, function, dependency, &response, took)?;
        let seen = proxy.take_seen();
        if scenario.fault != Fault::Refuse {
            assert!(
                seen.iter().any(|(_, fault)| *fault == scenario.fault),
                "{function} under {}: the fault was never applied: {seen:?}",
                scenario.name
            );
        }
        // Bounded retries: the SDK's three attempts at most, per operation that was tried.
        let faulted = seen.iter().filter(|(_, f)| *f == scenario.fault).count();
        assert!(
            faulted <= 3,
            "{function} under {}: {faulted} attempts",
            scenario.name
        );
        survived += 1;
        if recover {
            proxy.set(Fault::Pass);
            // The cache retries AWS after a backoff of at most 250 ms after one failure.
            std::thread::sleep(Duration::from_millis(300));
            let (response, _) = timed_invoke(lambda, function, event)?;
            let (status, body) = status_and_body(&response)?;
            assert_eq!(status, 200, "{function} after {}: {body}", scenario.name);
        }
    }
    proxy.set(Fault::Pass);
    eprintln!("{function}: {survived} faults answered as specified");
    Ok(survived)
}

/// `SecretCacheStaleServed` summed over the EMF lines of `log`.
fn stale_served(log: &str) -> u64 {
    log.lines()
        .filter_map(|line| {
            let at = line.find("\"SecretCacheStaleServed\":")?;
            let digits: String = line[at + "\"SecretCacheStaleServed\":".len()..]
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

fn check_logs(what: &str, log: &str) {
    assert!(!log.contains("panicked"), "{what} panicked:\n{log}");
    assert_no_seeded_secret(what, log);
    assert!(
        !log.contains(ROTATED_PASSWORD),
        "the rotated password is in {what}"
    );
}

/// A value cached and expired is served stale while AWS fails, and counted.
fn stale_through_faults(
    lambda: &LambdaEmulator,
    proxy: &FaultProxy,
    function: &str,
    event: &Value,
) -> Result<Value> {
    proxy.set(Fault::Pass);
    let (fresh, _) = timed_invoke(lambda, function, event)?;
    let (status, fresh_body) = status_and_body(&fresh)?;
    assert_eq!(status, 200, "{fresh_body}");
    for fault in [
        Fault::error(400, "ThrottlingException"),
        Fault::error(503, "ServiceUnavailable"),
        Fault::BlackHole,
    ] {
        // Past the 1 s TTL: the next read must go to AWS.
        std::thread::sleep(Duration::from_millis(1100));
        proxy.set(fault.clone());
        let (stale, took) = timed_invoke(lambda, function, event)?;
        let (status, body) = status_and_body(&stale)?;
        assert_eq!(status, 200, "{function} stale under {fault:?}: {body}");
        assert_eq!(
            body, fresh_body,
            "{function}: the stale value is the cached one"
        );
        assert!(took < MAX_ANSWER, "{took:?}");
    }
    proxy.set(Fault::Pass);
    let log = lambda.log();
    assert!(
        log.contains("serving stale value"),
        "{function}: no stale audit line"
    );
    let served = stale_served(&log);
    assert!(
        served >= 3,
        "{function}: SecretCacheStaleServed {served}, expected >= 3"
    );
    eprintln!("{function}: {served} stale values served through faults");
    Ok(fresh_body)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

#[test]
fn secure_config_under_faults() -> Result<()> {
    const FUNCTION: &str = "secure-config";
    let stack = SeededMoto::start("faults-secure-config")?;
    let proxy = FaultProxy::start(&stack.moto.endpoint)?;
    let event = json!({"action": "get_db_credentials"});

    // Nothing cached: every read goes to AWS, so every fault reaches the caller.
    let uncached = proxy_emulator(
        &stack,
        &proxy,
        "uncached",
        FUNCTION,
        &[("CACHE_TTL_SECONDS", "0"), ("CACHE_MAX_STALE_SECONDS", "0")],
    )?;
    fault_matrix(
        &uncached,
        &proxy,
        FUNCTION,
        &event,
        "Secrets Manager",
        None,
        true,
    )?;
    let flags = json!({"action": "get_feature_flags"});
    fault_matrix(
        &uncached,
        &proxy,
        FUNCTION,
        &flags,
        "Parameter Store",
        None,
        true,
    )?;
    check_logs("secure-config's log (uncached)", &uncached.log());
    drop(uncached);

    // Cached for 1 s, "not found" remembered for 1 s.
    let cached = proxy_emulator(
        &stack,
        &proxy,
        "cached",
        FUNCTION,
        &[
            ("CACHE_TTL_SECONDS", "1"),
            ("CACHE_NEGATIVE_TTL_SECONDS", "1"),
        ],
    )?;
    let before = stale_through_faults(&cached, &proxy, FUNCTION, &event)?;
    assert_eq!(before["username"], "admin");

    // Rotation: a new AWSCURRENT is served at the next refresh.
    let secrets = runtime()?.block_on(async {
        let config = stack.sdk_config().await;
        Ok::<_, anyhow::Error>(aws_sdk_secretsmanager::Client::new(&config))
    })?;
    let secret_id = stack.names.db_secret_id.clone();
    let current: Value = serde_json::from_str(
        runtime()?
            .block_on(secrets.get_secret_value().secret_id(&secret_id).send())?
            .secret_string()
            .context("the database secret has a string")?,
    )?;
    let mut rotated = current.clone();
    rotated["username"] = json!("admin-rotated");
    rotated["password"] = json!(ROTATED_PASSWORD);
    runtime()?.block_on(
        secrets
            .put_secret_value()
            .secret_id(&secret_id)
            .secret_string(rotated.to_string())
            .send(),
    )?;
    std::thread::sleep(Duration::from_millis(1100));
    let (response, _) = timed_invoke(&cached, FUNCTION, &event)?;
    let (status, body) = status_and_body(&response)?;
    assert_eq!(
        (status, body["username"].as_str()),
        (200, Some("admin-rotated")),
        "{body}"
    );
    assert_eq!(body["password"], secure_lambda::REDACTED);
    assert!(cached.log().contains("new version picked up on refresh"));

    // Deletion: a clear error naming the secret, no old value served; re-created, it is served.
    runtime()?.block_on(
        secrets
            .delete_secret()
            .secret_id(&secret_id)
            .force_delete_without_recovery(true)
            .send(),
    )?;
    std::thread::sleep(Duration::from_millis(1100));
    for _ in 0..2 {
        let (response, _) = timed_invoke(&cached, FUNCTION, &event)?;
        let (status, body) = status_and_body(&response)?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (502, Some("SecretNotFound")),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&secret_id), "{message}");
        assert!(
            !response.to_string().contains("admin-rotated"),
            "the deleted value was served"
        );
    }
    runtime()?.block_on(
        secrets
            .create_secret()
            .name(&secret_id)
            .secret_string(current.to_string())
            .send(),
    )?;
    std::thread::sleep(Duration::from_millis(1100));
    let (response, _) = timed_invoke(&cached, FUNCTION, &event)?;
    let (status, body) = status_and_body(&response)?;
    assert_eq!(
        (status, body["username"].as_str()),
        (200, Some("admin")),
        "{body}"
    );
    check_logs("secure-config's log (cached)", &cached.log());
    Ok(())
}

/// An emulator running `functions`' first entry with AWS behind the proxy.
fn proxy_emulator(
    stack: &SeededMoto,
    proxy: &FaultProxy,
    name: &str,
    function: &str,
    extra: &[(&str, &str)],
) -> Result<LambdaEmulator> {
    LambdaEmulator::start(
        &stack.dir,
        &format!("{function}-{name}"),
        &[function],
        &proxied_env(stack, proxy, extra)?,
    )
}

#[test]
fn data_masking_under_faults() -> Result<()> {
    const FUNCTION: &str = "data-masking";
    let stack = SeededMoto::start("faults-data-masking")?;
    let proxy = FaultProxy::start(&stack.moto.endpoint)?;
    // Tokens need the token key from Secrets Manager.
    let event = json!({"records": [{"id": "4111111111111111"}], "rules": {"$.id": "token"}});
    let uncached = proxy_emulator(
        &stack,
        &proxy,
        "uncached",
        FUNCTION,
        &[("CACHE_TTL_SECONDS", "0"), ("CACHE_MAX_STALE_SECONDS", "0")],
    )?;
    fault_matrix(
        &uncached,
        &proxy,
        FUNCTION,
        &event,
        "Secrets Manager",
        None,
        true,
    )?;
    // Masking that needs no key keeps working while AWS is down.
    proxy.set(Fault::Refuse);
    let (response, _) = timed_invoke(&uncached, FUNCTION, &json!({}))?;
    assert_eq!(response["statusCode"], 200, "{response}");
    proxy.set(Fault::Pass);
    check_logs("data-masking's log (uncached)", &uncached.log());
    drop(uncached);

    let cached = proxy_emulator(
        &stack,
        &proxy,
        "cached",
        FUNCTION,
        &[("CACHE_TTL_SECONDS", "1")],
    )?;
    stale_through_faults(&cached, &proxy, FUNCTION, &event)?;
    check_logs("data-masking's log (cached)", &cached.log());
    Ok(())
}

#[test]
fn multi_tenant_query_under_faults() -> Result<()> {
    const FUNCTION: &str = "multi-tenant-query";
    let stack = SeededMoto::start("faults-multi-tenant-query")?;
    let proxy = FaultProxy::start(&stack.moto.endpoint)?;
    let lambda = proxy_emulator(&stack, &proxy, "watch", FUNCTION, &[])?;
    let event = json!({"tenantId": "tenant-a", "userId": "user-001"});
    // Warm: the tenant-scoped credentials are cached, so faults reach the query.
    let (response, _) = timed_invoke(&lambda, FUNCTION, &event)?;
    assert_eq!(response["statusCode"], 200, "{response}");
    fault_matrix(
        &lambda,
        &proxy,
        FUNCTION,
        &event,
        "DynamoDB",
        Some("DynamoDB"),
        true,
    )?;

    // A new identity needs STS first: its faults name STS (query protocol, XML errors).
    let mut user = 0;
    for scenario in scenarios() {
        user += 1;
        proxy.set_for("sts.", scenario.fault.clone());
        let event = json!({"tenantId": "tenant-a", "userId": format!("fault-user-{user:02}")});
        let (response, took) = timed_invoke(&lambda, FUNCTION, &event)?;
        check_fault_answer(&scenario, FUNCTION, "STS", &response, took)?;
    }
    proxy.set(Fault::Pass);

    // The user pool's key set (bearer tokens on the function URL): unreachable is Cognito failing
    // (503), not the caller (401); while it fails, tokens do not cause a fetch each.
    let token = stack.id_token("user-001")?;
    proxy.set_for("jwks.json", Fault::error(503, "ServiceUnavailable"));
    proxy.take_seen();
    for _ in 0..5 {
        let (status, body) = lambda.get_function_url(FUNCTION, "/orders", Some(&token))?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (503, Some("DependencyUnavailable")),
            "{body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Cognito")),
            "{body}"
        );
    }
    let fetches = proxy
        .take_seen()
        .iter()
        .filter(|(operation, _)| operation.contains("jwks.json"))
        .count();
    assert_eq!(fetches, 1, "five tokens while the key set fails: one fetch");
    proxy.set(Fault::Pass);
    std::thread::sleep(secure_lambda::idtoken::RETRY_AFTER_FAILURE);
    let (status, body) = lambda.get_function_url(FUNCTION, "/orders", Some(&token))?;
    assert_eq!(status, 200, "{body}");
    check_logs("multi-tenant-query's log", &lambda.log());
    Ok(())
}

#[test]
fn loadtest_under_faults() -> Result<()> {
    const FUNCTION: &str = "loadtest";
    let stack = SeededMoto::start("faults-loadtest")?;
    let proxy = FaultProxy::start(&stack.moto.endpoint)?;
    let port = free_port()?;
    let mut env = proxied_env(&stack, &proxy, &[])?;
    env.extend(stack.loadtest_env(port, "student")?);
    let lambda = LambdaEmulator::start_with(
        &stack.dir,
        "loadtest-watch",
        &[FUNCTION, "multi-tenant-query"],
        &env,
        EmulatorOptions {
            port: Some(port),
            concurrency: 2,
            log_invocations: false,
        },
    )?;
    let event = json!({"NumberOfCallsPerUser": 1});
    // Nothing decrypted yet: every invocation starts with KMS Decrypt of USER_NAME.
    fault_matrix(
        &lambda,
        &proxy,
        FUNCTION,
        &event,
        "KMS",
        Some("TrentService"),
        false,
    )?;
    // A disabled key (moto cannot disable one: the proxy answers as AWS does) or one pending
    // deletion: a clear 502 naming the variable, not cached.
    for code in ["DisabledException", "KMSInvalidStateException"] {
        proxy.set_for("TrentService", Fault::error(400, code));
        let (response, _) = timed_invoke(&lambda, FUNCTION, &event)?;
        let (status, body) = status_and_body(&response)?;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (502, Some("KmsKeyUnusable")),
            "{code}: {body}"
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("USER_NAME"), "{message}");
        assert!(!response.to_string().contains(LEAKY_MESSAGE), "{body}");
    }
    proxy.set(Fault::Pass);
    // The fault gone, the same environment runs the load.
    let (response, _) = timed_invoke(&lambda, FUNCTION, &event)?;
    let (status, body) = status_and_body(&response)?;
    assert_eq!(status, 200, "{body}");
    // One audit line per KMS Decrypt (CloudTrail's `Decrypt`), failed ones included.
    let log = lambda.log();
    let audits = |source: &str| {
        log.lines()
            .filter(|l| {
                l.contains(r#""target":"audit""#) && l.contains("kms-env") && l.contains(source)
            })
            .count()
    };
    assert!(
        audits(r#""source":"aws""#) >= 1,
        "no audit line of the Decrypt"
    );
    assert!(
        audits("read failed") >= 9,
        "failed Decrypts are audited too"
    );
    check_logs("loadtest's log", &log);
    Ok(())
}
