//! secrets-extension end to end: the binary against moto, under a stub Extensions API, read by
//! clients written as AWS's documentation writes them (Python `urllib.request` and `requests`,
//! Node `fetch` with a lower-case header, curl), with AWS's answers and failures, the cache's
//! single flight and stale serving, and the lifecycle (ready while registering, SHUTDOWN exit).

use std::io::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use suite_tests::coldstart::build_debug;
use suite_tests::extensions_api::ExtensionsApi;
use suite_tests::process::ManagedProcess;
use suite_tests::{free_port, function_env, repo_root, run_dir, venv_tool, Moto};

const TOKEN: &str = "extension-test-session-token";
const DB_V1: &str = r#"{"username":"app","password":"db-pass-v1-7f3a"}"#;
const DB_V2: &str = r#"{"username":"app","password":"db-pass-v2-91bc"}"#;
const BLOB: [u8; 6] = [0, 1, 2, 127, 128, 255];
const SECURE: &str = "sup3r-s3cret-param-4d2e";
const BURST: &str = "burst-value-55aa";
/// Every value seeded: none may appear in the extension's log.
const VALUES: [&str; 5] = [DB_V1, DB_V2, SECURE, BURST, "db-pass-v2-91bc"];

fn block_on<F: std::future::Future>(future: F) -> Result<F::Output> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(future))
}

/// Parameters of each type (a second version and a label), a string secret with an
/// `AWSPREVIOUS`, a binary secret, and a secret read only by the cold burst.
fn seed(moto: &Moto) -> Result<()> {
    block_on(async {
        let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
        let ssm = aws_sdk_ssm::Client::new(&config);
        let put = |name: &'static str, kind, value: &'static str, overwrite| {
            ssm.put_parameter()
                .name(name)
                .r#type(kind)
                .value(value)
                .overwrite(overwrite)
                .send()
        };
        use aws_sdk_ssm::types::ParameterType;
        put("/ext/string", ParameterType::String, "alpha", false).await?;
        put("/ext/string", ParameterType::String, "beta", true).await?;
        ssm.label_parameter_version()
            .name("/ext/string")
            .parameter_version(1)
            .labels("stable")
            .send()
            .await?;
        put("/ext/list", ParameterType::StringList, "a,b,c", false).await?;
        put("/ext/secure", ParameterType::SecureString, SECURE, false).await?;
        let sm = aws_sdk_secretsmanager::Client::new(&config);
        sm.create_secret()
            .name("ext/db")
            .secret_string(DB_V1)
            .send()
            .await?;
        sm.put_secret_value()
            .secret_id("ext/db")
            .secret_string(DB_V2)
            .send()
            .await?;
        sm.create_secret()
            .name("ext/blob")
            .secret_binary(aws_smithy_types::Blob::new(BLOB.to_vec()))
            .send()
            .await?;
        sm.create_secret()
            .name("ext/burst")
            .secret_string(BURST)
            .send()
            .await?;
        Ok::<_, anyhow::Error>(())
    })?
}

/// A GET with the token (or without), as `(status, content type, body)`.
fn get(port: u16, path: &str, token: Option<&str>) -> Result<(u16, String, String)> {
    let mut request = ureq::get(format!("http://127.0.0.1:{port}{path}"))
        .config()
        .http_status_as_error(false)
        .build();
    if let Some(token) = token {
        request = request.header("X-Aws-Parameters-Secrets-Token", token);
    }
    let mut response = request.call().with_context(|| format!("GET {path}"))?;
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Ok((
        response.status().as_u16(),
        content_type,
        response.body_mut().read_to_string()?,
    ))
}

fn json_of(body: &str) -> Result<Value> {
    serde_json::from_str(body).with_context(|| format!("not JSON: {body}"))
}

/// Runs a client script with `input` on stdin and the function's environment.
fn client(program: &std::path::Path, script: &str, port: u16, input: &Value) -> Result<Value> {
    let mut child = Command::new(program)
        .arg(repo_root().join(script))
        .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.to_string())
        .env("AWS_SESSION_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {script}"))?;
    child
        .stdin
        .take()
        .context("client stdin")?
        .write_all(input.to_string().as_bytes())?;
    let output = child.wait_with_output()?;
    if !output.status.success() {
        bail!(
            "{script} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    json_of(&String::from_utf8_lossy(&output.stdout))
}

fn is_rfc3339(value: &Value) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() >= 20 && s.as_bytes()[10] == b'T' && s.ends_with('Z'))
}

#[test]
fn secrets_extension_keeps_awss_contract_on_moto() -> Result<()> {
    let dir = run_dir("secrets-extension")?;
    let moto = Moto::start(&dir)?;
    seed(&moto)?;
    let binary = build_debug("secrets-extension")?;
    let port = free_port()?;

    // What a function's init code would read while the extension is registering.
    let probe =
        Box::new(
            move || match get(port, "/secretsmanager/get?secretId=ext/db", Some(TOKEN)) {
                Ok((status, _, body)) => format!("{status} {body}"),
                Err(error) => format!("failed: {error:#}"),
            },
        );
    let api = ExtensionsApi::start(Some(probe))?;
    let mut command = Command::new(&binary);
    command
        .envs(function_env(&moto))
        .env("AWS_SESSION_TOKEN", TOKEN)
        .env("AWS_LAMBDA_RUNTIME_API", api.address())
        .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.to_string())
        .env("SECRETS_MANAGER_TTL", "2")
        .env("PARAMETERS_SECRETS_EXTENSION_METRICS", "true")
        .env(
            "PARAMETERS_SECRETS_EXTENSION_PREFETCH",
            "/systemsmanager/parameters/get?name=/ext/list;/systemsmanager/parameters/get?name=/ext/secure&withDecryption=true;/secretsmanager/get?secretId=ext/blob",
        );
    let spawned = Instant::now();
    let mut extension =
        ManagedProcess::spawn("secrets-extension", command, &dir.join("extension.log"))?;
    let (registration, seen) = api.wait_ready(Duration::from_secs(30))?;
    println!(
        "registered and waiting for events {:?} after spawn",
        spawned.elapsed()
    );
    assert_eq!(registration.name, "secrets-extension");
    assert_eq!(registration.events, vec!["SHUTDOWN"]);
    let seen = seen.context("the probe ran")?;
    assert!(
        seen.starts_with("200 ") && seen.contains("db-pass-v2-91bc"),
        "during register: {seen}"
    );

    // The opt-in prefetch: three values in three batch calls, then served from the cache.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !extension.log().contains("\"prefetched\"") {
        if Instant::now() > deadline {
            bail!("no prefetch line: {}", extension.log());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        extension.log().contains("\"cached\":3"),
        "{}",
        extension.log()
    );
    let response = ureq::get(format!(
        "http://127.0.0.1:{port}/systemsmanager/parameters/get?name=/ext/list"
    ))
    .header("X-Aws-Parameters-Secrets-Token", TOKEN)
    .call()?;
    assert_eq!(
        response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok()),
        Some("cache")
    );

    // 1. AWS's documented clients.
    let python = client(
        &venv_tool("python")?,
        "tests/python/extension_clients.py",
        port,
        &json!([
            {"parameter": "/ext/secure", "decrypt": true},
            {"parameter": "/ext/list"},
            {"parameter": "/ext/string"},
            {"secret": "ext/db"},
            {"secret": "ext/db", "stage": "AWSPREVIOUS"},
            {"secret": "ext/blob"},
        ]),
    )?;
    assert_eq!(python[0]["Parameter"]["Value"], SECURE);
    assert_eq!(python[0]["Parameter"]["Type"], "SecureString");
    assert_eq!(python[1]["Parameter"]["Value"], "a,b,c");
    assert_eq!(python[1]["Parameter"]["Type"], "StringList");
    assert_eq!(python[2]["Parameter"]["Value"], "beta");
    assert_eq!(python[2]["Parameter"]["Version"], 2);
    assert_eq!(python[3]["SecretString"], DB_V2);
    assert_eq!(python[4]["SecretString"], DB_V1);
    assert_eq!(python[4]["VersionStages"], json!(["AWSPREVIOUS"]));
    assert_eq!(python[5]["SecretString"], Value::Null);
    let binary_value = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        python[5]["SecretBinary"].as_str().context("SecretBinary")?,
    )?;
    assert_eq!(binary_value, BLOB);

    let node = client(
        std::path::Path::new("node"),
        "tests/node/extension_client.mjs",
        port,
        &json!([
            "/secretsmanager/get?secretId=ext%2Fdb",
            "/systemsmanager/parameters/get/?name=%2Fext%2Fstring&label=stable",
        ]),
    )?;
    assert_eq!(node[0]["status"], 200);
    assert_eq!(
        json_of(node[0]["body"].as_str().unwrap_or_default())?["SecretString"],
        DB_V2
    );
    assert_eq!(
        json_of(node[1]["body"].as_str().unwrap_or_default())?["Parameter"]["Value"],
        "alpha"
    );

    for host in ["localhost", "[::1]"] {
        let output = Command::new("curl")
            .args(["-sS", "-g", "-H"])
            .arg(format!("X-Aws-Parameters-Secrets-Token: {TOKEN}"))
            .arg(format!(
                "http://{host}:{port}/systemsmanager/parameters/get?name=/ext/string&version=1"
            ))
            .output()
            .context("running curl")?;
        let body = json_of(&String::from_utf8_lossy(&output.stdout))?;
        // (SSM answers `Selector: ":1"` here; moto leaves it out, and the body is SSM's.)
        assert_eq!(body["Parameter"]["Value"], "alpha", "{host}");
        assert_eq!(body["Parameter"]["Version"], 1, "{host}");
    }

    // 2. Golden shapes: every field, nulls present, RFC 3339 dates, empty ResultMetadata.
    let (_, content_type, body) = get(port, "/secretsmanager/get?secretId=ext/db", Some(TOKEN))?;
    assert_eq!(content_type, "application/json");
    let secret = json_of(&body)?;
    let keys: Vec<&String> = secret.as_object().context("object")?.keys().collect();
    assert_eq!(
        keys,
        [
            "ARN",
            "CreatedDate",
            "Name",
            "ResultMetadata",
            "SecretBinary",
            "SecretString",
            "VersionId",
            "VersionStages"
        ]
    );
    assert!(
        is_rfc3339(&secret["CreatedDate"]),
        "{}",
        secret["CreatedDate"]
    );
    assert_eq!(secret["SecretBinary"], Value::Null);
    assert_eq!(secret["ResultMetadata"], json!({}));
    let (_, _, body) = get(
        port,
        "/systemsmanager/parameters/get?name=%2Fext%2Flist",
        Some(TOKEN),
    )?;
    let parameter = json_of(&body)?;
    let fields: Vec<&String> = parameter["Parameter"]
        .as_object()
        .context("object")?
        .keys()
        .collect();
    assert_eq!(
        fields,
        [
            "ARN",
            "DataType",
            "LastModifiedDate",
            "Name",
            "Selector",
            "SourceResult",
            "Type",
            "Value",
            "Version"
        ]
    );
    assert!(is_rfc3339(&parameter["Parameter"]["LastModifiedDate"]));
    assert_eq!(parameter["Parameter"]["Selector"], Value::Null);
    assert_eq!(parameter["ResultMetadata"], json!({}));

    // 3. Refusals and failures as AWS's layer answers them.
    let (status, content_type, body) = get(port, "/secretsmanager/get?secretId=ext/db", None)?;
    assert_eq!(
        (status, content_type.as_str(), body.as_str()),
        (401, "text/plain", "bad session token or header key")
    );
    assert_eq!(
        get(port, "/secretsmanager/get?secretId=ext/db", Some("wrong"))?.0,
        401
    );
    for path in [
        "/secretsmanager/get?secretId=ext/nope",
        "/secretsmanager/get",
        "/systemsmanager/parameters/get?name=/ext/nope",
        "/systemsmanager/parameters/get?name=/ext/string&version=x",
    ] {
        let (status, _, body) = get(port, path, Some(TOKEN))?;
        assert_eq!(
            (status, body.as_str()),
            (400, "an unexpected error occurred while executing request"),
            "{path}"
        );
    }
    // The first of version and label wins.
    let (_, _, body) = get(
        port,
        "/systemsmanager/parameters/get?name=/ext/string&label=stable&version=2",
        Some(TOKEN),
    )?;
    assert_eq!(json_of(&body)?["Parameter"]["Value"], "alpha");
    let (_, _, body) = get(
        port,
        "/systemsmanager/parameters/get?name=/ext/string&version=2&label=stable",
        Some(TOKEN),
    )?;
    assert_eq!(json_of(&body)?["Parameter"]["Value"], "beta");
    // Without decryption a SecureString is not its plaintext.
    let (_, _, body) = get(
        port,
        "/systemsmanager/parameters/get?name=/ext/secure",
        Some(TOKEN),
    )?;
    assert_ne!(json_of(&body)?["Parameter"]["Value"], SECURE);

    // 4. 500 concurrent cold requests for one secret: one upstream call.
    moto.start_recording()?;
    let barrier = Arc::new(std::sync::Barrier::new(500));
    let threads: Vec<_> = (0..500)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                get(port, "/secretsmanager/get?secretId=ext/burst", Some(TOKEN))
            })
        })
        .collect();
    for thread in threads {
        let (status, _, body) = thread
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
        assert_eq!(status, 200);
        assert!(body.contains(BURST));
    }
    assert_eq!(
        moto.stop_recording()?,
        vec!["secretsmanager.GetSecretValue"]
    );

    // 5. AWS gone: past the 2 s TTL, the cached secret is served stale.
    let log_before_stop = moto.log();
    drop(moto);
    std::thread::sleep(Duration::from_millis(2100));
    let response = ureq::get(format!(
        "http://127.0.0.1:{port}/secretsmanager/get?secretId=ext/db"
    ))
    .header("X-Aws-Parameters-Secrets-Token", TOKEN)
    .call()?;
    assert_eq!(
        response
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok()),
        Some("stale")
    );

    // 6. SHUTDOWN: the extension exits, well inside Lambda's 2 s.
    let sent = api.shutdown();
    let status = extension
        .wait_exit(Duration::from_secs(2))?
        .context("the extension did not exit within 2 s of SHUTDOWN")?;
    let exit_after = sent.elapsed();
    println!("exited {exit_after:?} after SHUTDOWN ({status})");
    assert!(status.success(), "{status}");
    assert!(exit_after < Duration::from_secs(1), "{exit_after:?}");
    assert!(api.errors().is_empty(), "{:?}", api.errors());

    let log = extension.log();
    assert!(
        log.contains("\"shutdown\"") && log.contains("\"stale_served\":1"),
        "{log}"
    );
    for value in VALUES {
        assert!(
            !log.contains(value),
            "a value appears in the extension's log"
        );
    }
    assert!(!log.contains(TOKEN), "the session token appears in the log");
    assert!(!log_before_stop.is_empty());
    Ok(())
}

/// `SECRETS_MANAGER_TTL=0` and `PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=0` bypass the cache, as
/// AWS documents: every read is an upstream call.
#[test]
fn ttl_zero_and_cache_size_zero_bypass_the_cache() -> Result<()> {
    let dir = run_dir("secrets-extension-bypass")?;
    let moto = Moto::start(&dir)?;
    seed(&moto)?;
    let binary = build_debug("secrets-extension")?;
    for (variable, value) in [
        ("SECRETS_MANAGER_TTL", "0"),
        ("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE", "0"),
    ] {
        let port = free_port()?;
        let api = ExtensionsApi::start(None)?;
        let mut command = Command::new(&binary);
        command
            .envs(function_env(&moto))
            .env("AWS_SESSION_TOKEN", TOKEN)
            .env("AWS_LAMBDA_RUNTIME_API", api.address())
            .env("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", port.to_string())
            .env(variable, value);
        let _extension = ManagedProcess::spawn(
            "secrets-extension",
            command,
            &dir.join(format!("extension-{variable}.log")),
        )?;
        api.wait_ready(Duration::from_secs(30))?;
        moto.start_recording()?;
        for _ in 0..3 {
            let (status, _, body) = get(port, "/secretsmanager/get?secretId=ext/db", Some(TOKEN))?;
            assert_eq!(status, 200);
            assert!(body.contains("db-pass-v2-91bc"));
        }
        assert_eq!(
            moto.stop_recording()?,
            vec!["secretsmanager.GetSecretValue"; 3],
            "{variable}={value}"
        );
    }
    Ok(())
}
