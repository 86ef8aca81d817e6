//! `make demo`: starts the local stack, seeds it with `suitectl`, invokes each implemented
//! function with each of its `events/` files, prints the responses, and shuts everything down.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::Value;
use suite_tests::{body_of, event_files, function_env, LambdaEmulator, SeededMoto};

/// Functions implemented so far, in the order the demo shows them.
const FUNCTIONS: [&str; 2] = ["secure-config", "data-masking"];

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
    let lambda = LambdaEmulator::start(
        &stack.dir,
        "lambda-watch",
        &FUNCTIONS,
        &function_env(&stack.moto),
    )?;
    println!("Lambda emulator on 127.0.0.1:{}\n", lambda.port);

    for function in FUNCTIONS {
        for file in event_files(&format!("{function}-"))? {
            let name = file
                .strip_prefix(suite_tests::repo_root())
                .unwrap_or(&file)
                .display()
                .to_string();
            let event = std::fs::read_to_string(&file)?;
            stack.moto.start_recording()?;
            let response = lambda.invoke_file(function, &file)?;
            let calls = stack.moto.stop_recording()?;
            println!("-- {function} <- {name}  {}", event.trim());
            let status = response.get("statusCode").cloned().unwrap_or(Value::Null);
            let body = body_of(&response).unwrap_or(response.clone());
            println!("   status {status}, AWS calls {}:", calls.len());
            for line in serde_json::to_string_pretty(&body)?.lines() {
                println!("   {line}");
            }
            stack.moto.start_recording()?;
            let warm = lambda.invoke_file(function, &file)?;
            let warm_calls = stack.moto.stop_recording()?;
            let same = if warm == response {
                "same response"
            } else {
                "DIFFERENT response"
            };
            println!("   warm repeat: {same}, AWS calls {}", warm_calls.len());
        }
    }
    println!("\nLogs of this run: {}", stack.dir.display());
    println!("Stopping the local stack.");
    Ok(())
}
