//! A function that cannot start says why, at once: its configuration error reaches the invoker
//! through the Runtime API's init-error endpoint (as `aws lambda invoke` shows it), instead of an
//! invocation that hangs until it times out.

use std::time::Duration;

use anyhow::Result;
use serde_json::json;
use suite_tests::{run_dir, LambdaEmulator};

#[test]
fn configuration_errors_reach_the_invoker() -> Result<()> {
    let dir = run_dir("init-errors")?;
    // One malformed variable every function reads; multi-tenant-query also lacks its role.
    let env = [
        ("CACHE_TTL_SECONDS", "soon"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    // One emulator per function: `cargo lambda watch` may stop its scheduler once an instance
    // exits with an error, which a function that cannot start does (as on AWS, after it reported).
    for function in ["secure-config", "data-masking", "multi-tenant-query"] {
        let name = format!("lambda-watch-init-errors-{function}");
        let lambda = LambdaEmulator::start(&dir, &name, &[function], &env)?;
        let (_, answer) = lambda.invoke_answer(function, &json!({}), Duration::from_secs(90))?;
        assert!(
            answer.contains("Runtime.ConfigError"),
            "{function}: {answer}"
        );
        assert!(
            answer.contains("CACHE_TTL_SECONDS") || answer.contains("TENANT_ROLE_ARN"),
            "{function}: {answer}"
        );
    }
    Ok(())
}
