//! `make demo`: starts the local stack, seeds it with `suitectl`, invokes each implemented
//! function with each of its `events/` files, prints the responses, and shuts everything down.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;
use suite_tests::{body_of, event_files, free_port, EmulatorOptions, LambdaEmulator, SeededMoto};

/// Functions implemented so far, in the order the demo shows them.
const FUNCTIONS: [&str; 4] = [
    "secure-config",
    "data-masking",
    "multi-tenant-query",
    "loadtest",
];
/// The functions whose warm repeat the demo shows on one instance.
const WARM_FUNCTIONS: [&str; 3] = ["secure-config", "data-masking", "multi-tenant-query"];

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("demo failed: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    println!("== Local stack: moto (AWS) + cargo lambda watch (Lambda), on 127.0.0.1 ==");
    let stack = SeededMoto::start("demo")?;
    println!("moto at {}; seeded with suitectl:", stack.moto.endpoint);
    for line in &stack.seed_log {
        println!("  {line}");
    }
    // One instance per function, as one warm Lambda sandbox: a repeat reaches the instance that
    // served the first invoke, so its AWS calls show what the cache saves.
    let env = stack.function_env()?;
    let lambda = LambdaEmulator::start(&stack.dir, "lambda-watch", &WARM_FUNCTIONS, &env)?;
    // loadtest calls multi-tenant-query's function URL and, to fan out, invokes itself: on an
    // emulator of its own, whose port it is told up front, with more than one instance.
    let load_port = free_port()?;
    let mut load_env = env.clone();
    load_env.extend(stack.loadtest_env(load_port, "student")?);
    let load_lambda = LambdaEmulator::start_with(
        &stack.dir,
        "lambda-watch-loadtest",
        &["loadtest", "multi-tenant-query"],
        &load_env,
        EmulatorOptions {
            port: Some(load_port),
            concurrency: 6,
            ..EmulatorOptions::default()
        },
    )?;
    println!(
        "Lambda emulators on 127.0.0.1:{} (one instance per function) and 127.0.0.1:{} (loadtest)\n",
        lambda.port, load_lambda.port
    );

    for function in FUNCTIONS {
        let emulator = if function == "loadtest" {
            &load_lambda
        } else {
            &lambda
        };
        for file in event_files(&format!("{function}-"))? {
            let name = file
                .strip_prefix(suite_tests::repo_root())
                .unwrap_or(&file)
                .display()
                .to_string();
            let event = std::fs::read_to_string(&file)?;
            stack.moto.start_recording()?;
            let response = emulator.invoke_file(function, &file)?;
            let calls = stack.moto.stop_recording()?;
            println!("-- {function} <- {name}  {}", describe_event(&event));
            let status = response.get("statusCode").cloned().unwrap_or(Value::Null);
            let mut body = body_of(&response).unwrap_or(response.clone());
            if let Some(histogram) = body.pointer_mut("/result/histogram") {
                let size = histogram.as_str().map_or(0, str::len);
                *histogram = Value::String(format!(
                    "<HdrHistogram V2+DEFLATE, {size} base64 characters>"
                ));
            }
            println!("   status {status}, AWS calls {}:", calls.len());
            for line in serde_json::to_string_pretty(&body)?.lines() {
                println!("   {line}");
            }
            stack.moto.start_recording()?;
            let warm = emulator.invoke_file(function, &file)?;
            let warm_calls = stack.moto.stop_recording()?;
            let same = if warm == response {
                "same response"
            } else {
                "DIFFERENT response"
            };
            if function == "loadtest" {
                // A run's users sign in each run, and the repeat may reach another instance.
                println!(
                    "   repeat (any of loadtest's instances; users sign in each run): AWS calls {}",
                    warm_calls.len()
                );
            } else {
                println!(
                    "   warm repeat (same instance): {same}, AWS calls {}",
                    warm_calls.len()
                );
            }
        }
    }
    println!(
        "\n-- multi-tenant-query refuses an attack: user-001's own ID token, asking for tenant-b"
    );
    let token = stack.id_token("user-001")?;
    let (status, body) = lambda.get_function_url(
        "multi-tenant-query",
        "/orders?tenantId=tenant-b",
        Some(&token),
    )?;
    println!(
        "   GET /lambda-url/multi-tenant-query/orders?tenantId=tenant-b (Bearer <user-001 token>)"
    );
    println!("   status {status}: {body}");
    let (status, body) = lambda.get_function_url("multi-tenant-query", "/orders", Some(&token))?;
    println!(
        "   the same token without the forged tenant: status {status}, orders {}",
        body["orderCount"]
    );

    println!("\nLogs of this run: {}", stack.dir.display());
    println!("Stopping the local stack.");
    Ok(())
}

/// The event on one line: as written when short; method, path and body for HTTP events.
fn describe_event(text: &str) -> String {
    let Ok(event) = serde_json::from_str::<Value>(text) else {
        return text.trim().to_owned();
    };
    match event
        .pointer("/requestContext/http/method")
        .and_then(Value::as_str)
    {
        Some(method) => {
            let path = event["rawPath"].as_str().unwrap_or("/");
            let query = event["rawQueryString"].as_str().filter(|q| !q.is_empty());
            let claims = event
                .pointer("/requestContext/authorizer/jwt/claims")
                .map(|c| {
                    format!(
                        " with authorizer claims {} / {}",
                        c["custom:tenantId"], c["cognito:username"]
                    )
                })
                .unwrap_or_default();
            let body = event["body"]
                .as_str()
                .map(|b| format!(" body {b}"))
                .unwrap_or_default();
            format!(
                "HTTP {method} {path}{}{claims}{body}",
                query.map(|q| format!("?{q}")).unwrap_or_default()
            )
        }
        None => event.to_string(),
    }
}
