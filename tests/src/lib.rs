//! The local stack as a test harness: moto as the AWS endpoint, `cargo lambda watch` as the
//! Lambda service, both on free 127.0.0.1 ports, each in its own process group so that dropping
//! the handle (also while a failing test unwinds) stops the whole tree.
//!
//! Everything listens on and talks to loopback only.

pub mod coldstart;
pub mod extensions_api;
pub mod fault_proxy;
pub mod payloads;
pub mod plot;
pub mod process;
pub mod runtime_api;
pub mod scale;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine as _;
use serde_json::Value;
use suitectl::seed::SeedOutputs;
use suitectl::stack::{Names, StackOutputs};

use crate::process::ManagedProcess;

/// The secret values the local stack is seeded with: tests assert that none of them ever
/// appears in a log line or a response.
pub const SEEDED_SECRETS: [&str; 3] = [
    suitectl::values::lab_defaults::DB_PASSWORD,
    suitectl::values::lab_defaults::API_KEY,
    suitectl::values::lab_defaults::USER_PASSWORD,
];

/// The repository root (the workspace).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The local stack's names, in the keys of a deployed stack's outputs (what `suitectl` reads).
pub fn local_stack_outputs() -> Result<StackOutputs> {
    StackOutputs::read(&repo_root().join("tests/local-stack.json"))
}

/// A tool installed by `make setup` into `.venv/bin`.
pub fn venv_tool(name: &str) -> Result<PathBuf> {
    let path = repo_root().join(".venv/bin").join(name);
    if path.is_file() {
        Ok(path)
    } else {
        bail!("{} not found: run `make setup` first", path.display())
    }
}

/// A port nobody listens on right now.
/// A bench tool's report: to `out` when given (and said on stderr), else to stdout.
pub fn write_report(out: Option<&Path>, report: &str) -> Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, report).with_context(|| format!("writing {}", path.display()))?;
            eprintln!("==> wrote {}", path.display());
        }
        None => print!("{report}"),
    }
    Ok(())
}

pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A fresh folder for one run's logs, under the ignored `target/`.
pub fn run_dir(name: &str) -> Result<PathBuf> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let dir = repo_root()
        .join("target/local-stack")
        .join(format!("{name}-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn wait_for_port(port: u16, timeout: Duration, process: &mut ManagedProcess) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(());
        }
        process.ensure_running()?;
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!(
        "{} did not listen on port {port} within {timeout:?}",
        process.name()
    )
}

/// moto in server mode.
pub struct Moto {
    process: ManagedProcess,
    pub endpoint: String,
}

impl Moto {
    pub fn start(dir: &Path) -> Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(venv_tool("moto_server")?);
        command
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_RECORDER_FILEPATH", dir.join("moto-recording.jsonl"))
            .current_dir(dir);
        let mut process = ManagedProcess::spawn("moto_server", command, &dir.join("moto.log"))?;
        wait_for_port(port, Duration::from_secs(30), &mut process)?;
        let moto = Self {
            process,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        // Ready means the API answers, not only that the socket is open.
        let deadline = Instant::now() + Duration::from_secs(30);
        while moto.get("/moto-api/").is_err() {
            if Instant::now() > deadline {
                bail!("moto did not answer /moto-api/ in 30 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }

    fn get(&self, path: &str) -> Result<String> {
        let mut response = ureq::get(format!("{}{path}", self.endpoint))
            .call()
            .with_context(|| format!("GET {path}"))?;
        // A recording of a long stream (the scale probe's) runs to tens of megabytes.
        Ok(response
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_string()?)
    }

    fn post(&self, path: &str) -> Result<()> {
        ureq::post(format!("{}{path}", self.endpoint))
            .send_empty()
            .with_context(|| format!("POST {path}"))?;
        Ok(())
    }

    /// Clears moto's recording and starts recording every request.
    pub fn start_recording(&self) -> Result<()> {
        self.post("/moto-api/recorder/reset-recording")?;
        self.post("/moto-api/recorder/start-recording")
    }

    /// Stops recording and returns the AWS operations recorded, e.g. `secretsmanager.GetSecretValue`.
    pub fn stop_recording(&self) -> Result<Vec<String>> {
        Ok(self
            .stop_recording_requests()?
            .iter()
            .map(operation_name)
            .collect())
    }

    /// Stops recording and returns the recorded requests (`method`, `uri`, `headers`, `body`).
    pub fn stop_recording_requests(&self) -> Result<Vec<Value>> {
        self.post("/moto-api/recorder/stop-recording")?;
        let text = self.get("/moto-api/recorder/download-recording")?;
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).context("parsing a recorded request"))
            .collect()
    }

    pub fn log(&self) -> String {
        self.process.log()
    }
}

/// A recorded request's body as text: moto's recorder base64-encodes form bodies (the query
/// protocol's, STS's) and says so with `body_encoded`.
pub fn request_body(entry: &Value) -> String {
    let body = entry
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if entry.get("body_encoded").and_then(Value::as_bool) == Some(true) {
        if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(body) {
            return String::from_utf8_lossy(&bytes).into_owned();
        }
    }
    body.to_owned()
}

/// `X-Amz-Target: secretsmanager.GetSecretValue` → `secretsmanager.GetSecretValue`;
/// form-encoded protocols (STS) carry `Action=` in the body ([`request_body`]).
pub fn operation_name(entry: &Value) -> String {
    let headers = entry.get("headers").and_then(Value::as_object);
    let target = headers.and_then(|h| {
        h.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("x-amz-target"))
            .and_then(|(_, v)| v.as_str())
    });
    if let Some(target) = target {
        return target.to_owned();
    }
    let body = request_body(entry);
    body.split('&')
        .find_map(|pair| pair.strip_prefix("Action="))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "{} {}",
                entry.get("method").and_then(Value::as_str).unwrap_or("?"),
                entry.get("uri").and_then(Value::as_str).unwrap_or("?")
            )
        })
}

/// How to start the emulator.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmulatorOptions {
    /// The port to listen on (a free one when `None`).
    pub port: Option<u16>,
    /// Instances per function (at least 1).
    pub concurrency: u32,
    /// Have the emulator log every invoke request it receives (its own debug line), so that a test
    /// can count invocations from what the emulator saw rather than from what a function claims.
    pub log_invocations: bool,
}

/// `cargo lambda watch`: the Lambda Runtime API and invoke API emulator, running the binaries.
pub struct LambdaEmulator {
    process: ManagedProcess,
    pub port: u16,
}

impl LambdaEmulator {
    /// Builds `functions` and starts the emulator with `env` passed to every function.
    ///
    /// The build is the one `cargo lambda watch` would otherwise run inside the first invoke
    /// (`cargo build --bin <function>`, same feature set, so watch reuses it): done here, a compile
    /// error reads as one and the first invoke is not slowed by a compile.
    pub fn start(
        dir: &Path,
        name: &str,
        functions: &[&str],
        env: &[(String, String)],
    ) -> Result<Self> {
        Self::start_with(dir, name, functions, env, EmulatorOptions::default())
    }

    /// [`LambdaEmulator::start`] on a chosen port (so that functions can be told their own URL)
    /// and with more than one instance per function (a function that invokes itself needs them).
    pub fn start_with(
        dir: &Path,
        name: &str,
        functions: &[&str],
        env: &[(String, String)],
        options: EmulatorOptions,
    ) -> Result<Self> {
        for function in functions {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--quiet", "--bin", function])
                .current_dir(repo_root())
                .status()
                .with_context(|| format!("building {function}"))?;
            if !status.success() {
                bail!("building {function} failed ({status})");
            }
        }
        let port = match options.port {
            Some(port) => port,
            None => free_port()?,
        };
        let mut command = Command::new(venv_tool("cargo-lambda")?);
        if options.log_invocations {
            command.env("RUST_LOG", "info,cargo_lambda_watch=debug");
        }
        command
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "--concurrency",
                &options.concurrency.max(1).to_string(),
            ])
            .current_dir(repo_root());
        for (key, value) in env {
            command.arg("--env-var").arg(format!("{key}={value}"));
        }
        let mut process = ManagedProcess::spawn(name, command, &dir.join(format!("{name}.log")))?;
        wait_for_port(port, Duration::from_secs(60), &mut process)?;
        Ok(Self { process, port })
    }

    /// Invokes `function` with the event in `file`, the way a developer does:
    /// `cargo lambda invoke -A 127.0.0.1 -P <port> <function> --data-file <file>`.
    pub fn invoke_file(&self, function: &str, file: &Path) -> Result<Value> {
        let output = Command::new(venv_tool("cargo-lambda")?)
            .args([
                "lambda",
                "invoke",
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "-o",
                "json",
            ])
            .arg(function)
            .arg("--data-file")
            .arg(file)
            .current_dir(repo_root())
            .output()
            .context("running cargo lambda invoke")?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            bail!(
                "cargo lambda invoke {function} {} failed: {}{}",
                file.display(),
                stdout,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        serde_json::from_str(&stdout)
            .with_context(|| format!("invoke output is not JSON: {stdout}"))
    }

    /// Invokes `function` with `event` through the Lambda invoke API.
    pub fn invoke(&self, function: &str, event: &Value) -> Result<Value> {
        invoke_on(self.port, function, event)
    }

    /// Invokes `function` and returns whatever the emulator answers within `timeout`, status
    /// and text: for a function that fails, as AWS would answer its invoker.
    pub fn invoke_answer(
        &self,
        function: &str,
        event: &Value,
        timeout: Duration,
    ) -> Result<(u16, String)> {
        let url = format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{function}/invocations",
            self.port
        );
        let mut response = ureq::post(url)
            .config()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .send(event.to_string().as_bytes())
            .with_context(|| format!("invoking {function} (no answer within {timeout:?}?)"))?;
        let status = response.status().as_u16();
        Ok((status, response.body_mut().read_to_string()?))
    }

    /// Invokes `function` and waits for `needle` in the emulator's log instead of an answer: for a
    /// function that exits during init, which the emulator never answers (AWS answers
    /// `Runtime.ExitError`; the function's message is in the log either way). The request is
    /// abandoned when the emulator stops.
    pub fn invoke_until_logged(
        &self,
        function: &str,
        event: &Value,
        needle: &str,
        timeout: Duration,
    ) -> Result<String> {
        let (port, function, event) = (self.port, function.to_owned(), event.clone());
        std::thread::spawn(move || invoke_on(port, &function, &event));
        let deadline = Instant::now() + timeout;
        loop {
            let log = self.log();
            if log.contains(needle) {
                return Ok(log);
            }
            if Instant::now() > deadline {
                bail!("no `{needle}` in the log within {timeout:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// `GET` through the emulator's function URL (`/lambda-url/<function><path>`), with an
    /// optional bearer token. Returns the status and the body parsed as JSON.
    pub fn get_function_url(
        &self,
        function: &str,
        path: &str,
        bearer: Option<&str>,
    ) -> Result<(u16, Value)> {
        let url = format!("http://127.0.0.1:{}/lambda-url/{function}{path}", self.port);
        let mut request = ureq::get(&url)
            .config()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(300)))
            .build();
        if let Some(token) = bearer {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let mut response = request.call().with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string()?;
        let body = serde_json::from_str(&text)
            .with_context(|| format!("GET {url} answered {status} with non-JSON: {text}"))?;
        Ok((status, body))
    }

    /// Everything the emulator and the functions wrote so far.
    pub fn log(&self) -> String {
        self.process.log()
    }

    /// Invoke requests for `function` the emulator has received so far (retries included).
    /// Needs [`EmulatorOptions::log_invocations`].
    pub fn invocations_received(&self, function: &str) -> usize {
        let line = format!("invocation received function_name={function}");
        self.log()
            .lines()
            .filter(|l| l.trim_end().ends_with(&line))
            .count()
    }

    /// Requests to `function`'s function URL the emulator has received so far. Needs
    /// [`EmulatorOptions::log_invocations`].
    pub fn function_url_requests_received(&self, function: &str) -> usize {
        let prefix = format!("http invocation received path=/lambda-url/{function}/");
        self.log().lines().filter(|l| l.contains(&prefix)).count()
    }
}

fn invoke_on(port: u16, function: &str, event: &Value) -> Result<Value> {
    let url = format!("http://127.0.0.1:{port}/2015-03-31/functions/{function}/invocations");
    let mut response = ureq::post(url)
        .config()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(300)))
        .build()
        .send(event.to_string().as_bytes())
        .with_context(|| format!("invoking {function}"))?;
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string()?;
    if status != 200 {
        bail!("invoking {function}: emulator answered {status}: {text}");
    }
    serde_json::from_str(&text).with_context(|| format!("{function} answered non-JSON: {text}"))
}

/// The environment every function gets on the local stack.
pub fn function_env(moto: &Moto) -> Vec<(String, String)> {
    [
        ("AWS_ENDPOINT_URL", moto.endpoint.as_str()),
        ("AWS_REGION", suitectl::endpoint::LOCAL_REGION),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// moto seeded by `suitectl seed` with the lab values, under the names of tests/local-stack.json.
pub struct SeededMoto {
    pub moto: Moto,
    pub stack: StackOutputs,
    pub names: Names,
    pub outputs: SeedOutputs,
    pub dir: PathBuf,
    pub seed_log: Vec<String>,
}

impl SeededMoto {
    pub fn start(name: &str) -> Result<Self> {
        Self::start_with(name, |_| {})
    }

    /// [`SeededMoto::start`] with the local stack's names changed by `adjust` first (e.g. orders
    /// keyed on `sub`); [`SeededMoto::function_env`] follows them.
    pub fn start_with(name: &str, adjust: impl FnOnce(&mut Names)) -> Result<Self> {
        let dir = run_dir(name)?;
        let stack = local_stack_outputs()?;
        let mut names = Names::from_outputs(&stack)?;
        adjust(&mut names);
        let moto = Moto::start(&dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a tokio runtime")?;
        let lines = std::sync::Mutex::new(Vec::new());
        let outputs = runtime.block_on(async {
            let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
            let clients = suitectl::seed::Clients::new(&config);
            let values = suitectl::values::SeedValues::lab();
            suitectl::seed::seed(&clients, &names, &values, &|line| {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.to_owned());
                }
            })
            .await
        })?;
        let seed_log = lines
            .into_inner()
            .map_err(|_| anyhow!("seed log lock poisoned"))?;
        Ok(Self {
            moto,
            stack,
            names,
            outputs,
            dir,
            seed_log,
        })
    }

    /// SDK configuration pointed at this moto.
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        suitectl::endpoint::sdk_config(Some(&self.moto.endpoint), None).await
    }

    /// [`function_env`] plus the functions' configuration: every name the template gives a
    /// deployed function, here the local stack's, and what the seed created.
    pub fn function_env(&self) -> Result<Vec<(String, String)>> {
        use suitectl::lab;
        let names = &self.names;
        let mut env = function_env(&self.moto);
        for (key, value) in [
            ("DB_SECRET_ID", names.db_secret_id.clone()),
            ("API_URL_PARAMETER", names.parameter(lab::API_URL_PARAMETER)),
            ("API_KEY_PARAMETER", names.parameter(lab::API_KEY_PARAMETER)),
            (
                "MAX_ITEMS_PARAMETER",
                names.parameter(lab::MAX_ITEMS_PARAMETER),
            ),
            (
                "FEATURE_FLAGS_PATH",
                names.parameter(lab::FEATURE_FLAGS_PATH),
            ),
            ("MASKING_KEY_SECRET_ID", names.masking_key_secret_id.clone()),
            ("TABLE_NAME", names.table_name.clone()),
            ("CURSOR_KEY_SECRET_ID", names.cursor_key_secret_id.clone()),
            (
                "TENANT_ROLE_ARN",
                self.stack.get("TenantQueryRoleArn")?.to_owned(),
            ),
            ("USER_POOL_ID", self.outputs.user_pool_id.clone()),
            ("APP_CLIENT_ID", self.outputs.app_client_id.clone()),
            ("PASSWORD_SECRET_PREFIX", names.user_secret_prefix.clone()),
            ("WORKER_KEY_SECRET_ID", names.worker_key_secret_id.clone()),
            ("USER_CLAIM", names.user_id_claim.claim().to_owned()),
            ("ENCRYPTION_KEY_ARN", self.outputs.field_key_arn.clone()),
        ] {
            // `cargo lambda watch` refuses `--env-var KEY=`; unset means the same to a function.
            if !value.is_empty() {
                env.push((key.to_owned(), value));
            }
        }
        Ok(env)
    }

    /// The local stack's loadtest function: its name is the encryption context of `USER_NAME`.
    pub fn loadtest_function(&self) -> Result<&str> {
        self.stack
            .get(suitectl::stack::keys::LOAD_TEST_FUNCTION_NAME)
    }

    /// The environment of `loadtest` on an emulator listening on `emulator_port`: `API_URL` is
    /// multi-tenant-query's function URL there, `USER_NAME` is `users` encrypted for the local
    /// stack's loadtest function with `suitectl`'s code, and Lambda calls (fan-out) go to the
    /// emulator.
    pub fn loadtest_env(&self, emulator_port: u16, users: &str) -> Result<Vec<(String, String)>> {
        self.loadtest_env_split(emulator_port, emulator_port, users)
    }

    /// [`SeededMoto::loadtest_env`] with the API (multi-tenant-query's function URL) on one
    /// emulator and loadtest's own Lambda API (fan-out) on another: then the second emulator's log
    /// holds loadtest's lines only.
    pub fn loadtest_env_split(
        &self,
        api_port: u16,
        lambda_port: u16,
        users: &str,
    ) -> Result<Vec<(String, String)>> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let ciphertext = runtime.block_on(async {
            let config = self.sdk_config().await;
            suitectl::encrypt_env::encrypt_for_function(
                &aws_sdk_kms::Client::new(&config),
                &self.outputs.kms_alias,
                self.loadtest_function()?,
                &secrecy::SecretString::from(users.to_owned()),
            )
            .await
        })?;
        Ok(vec![
            (
                "API_URL".into(),
                format!("http://127.0.0.1:{api_port}/lambda-url/multi-tenant-query/orders"),
            ),
            ("CLIENT_ID".into(), self.outputs.app_client_id.clone()),
            ("USERPOOL_ID".into(), self.outputs.user_pool_id.clone()),
            ("USER_NAME".into(), ciphertext),
            (
                "AWS_ENDPOINT_URL_LAMBDA".into(),
                format!("http://127.0.0.1:{lambda_port}"),
            ),
        ])
    }

    /// An ID token for a seeded user (Cognito `InitiateAuth`, `USER_PASSWORD_AUTH`).
    pub fn id_token(&self, username: &str) -> Result<String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let output = runtime.block_on(async {
            let config = self.sdk_config().await;
            aws_sdk_cognitoidentityprovider::Client::new(&config)
                .initiate_auth()
                .client_id(&self.outputs.app_client_id)
                .auth_flow(aws_sdk_cognitoidentityprovider::types::AuthFlowType::UserPasswordAuth)
                .auth_parameters("USERNAME", username)
                .auth_parameters("PASSWORD", suitectl::values::lab_defaults::USER_PASSWORD)
                .send()
                .await
        })?;
        output
            .authentication_result()
            .and_then(|r| r.id_token())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no ID token for {username}"))
    }
}

/// Panics (this is test code) if any seeded secret value appears in `text`, naming where.
pub fn assert_no_seeded_secret(what: &str, text: &str) {
    for secret in SEEDED_SECRETS {
        assert!(
            !text.contains(secret),
            "a seeded secret value appears in {what} (value withheld; search the text for it)"
        );
    }
}

/// The body of a direct-invoke response, parsed.
pub fn body_of(response: &Value) -> Result<Value> {
    let text = response
        .get("body")
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("response has no string body: {response}"))?;
    serde_json::from_str(text).with_context(|| format!("body is not JSON: {text}"))
}

/// The files in `events/` whose names start with `prefix`, sorted.
pub fn event_files(prefix: &str) -> Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo_root().join("events"))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension().is_some_and(|e| e == "json")
                && path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .collect();
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod operation_name_tests {
    use serde_json::json;

    use super::operation_name;

    #[test]
    fn operations_from_target_header_plain_and_encoded_form_bodies() {
        let target = json!({"headers": {"X-Amz-Target": "secretsmanager.GetSecretValue"}});
        assert_eq!(operation_name(&target), "secretsmanager.GetSecretValue");
        let plain = json!({"body": "Version=2011-06-15&Action=AssumeRole"});
        assert_eq!(operation_name(&plain), "AssumeRole");
        // base64 of "Action=AssumeRole&Version=2011-06-15"
        let encoded = json!({"body": "QWN0aW9uPUFzc3VtZVJvbGUmVmVyc2lvbj0yMDExLTA2LTE1", "body_encoded": true});
        assert_eq!(operation_name(&encoded), "AssumeRole");
        let other = json!({"method": "GET", "uri": "/x", "body": "QUJD", "body_encoded": true});
        assert_eq!(operation_name(&other), "GET /x");
    }
}
