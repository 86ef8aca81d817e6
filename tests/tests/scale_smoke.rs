//! The scale probe `make bench` runs (`scaleprobe`), small: debug binaries, short Zipf streams, a
//! session cache smaller than the population so that it must evict. The counts it checks are
//! exact (one sandbox, one request at a time), so the probe's promise is tested here too:
//! multi-tenant-query's `AssumeRole` calls are exactly an LRU's misses on the same stream.

use std::process::Command;

use anyhow::{bail, Context, Result};
use suite_tests::coldstart::{build_debug, serve_stream, Subject};
use suite_tests::scale::{count, event_for, identity, lru_misses, zipf_ranks};
use suite_tests::SeededMoto;

#[test]
fn tenant_sessions_on_a_zipf_stream_cost_what_an_lru_costs() -> Result<()> {
    let binary = build_debug("multi-tenant-query")?;
    let stack = SeededMoto::start("scale-smoke")?;
    let ranks = zipf_ranks(500, 1.0, 400, 3);
    let events: Vec<String> = ranks
        .iter()
        .map(|r| event_for("multi-tenant-query", *r).context("an event"))
        .collect::<Result<_>>()?;
    let subject = Subject::rust("multi-tenant-query", &binary, stack.function_env()?, "{}")?;
    let capacity = 40;
    let env = vec![("TENANT_SESSION_CACHE_SIZE".to_owned(), capacity.to_string())];
    let log = stack.dir.join("mtq-stream.log");
    let run = serve_stream(&subject, &stack, &events, &env, &log)?;
    let calls = count(&run.operations());

    let scopes: Vec<_> = ranks.iter().map(|r| identity(*r)).collect();
    let model = lru_misses(capacity, &scopes);
    let distinct = {
        let mut s = scopes.clone();
        s.sort();
        s.dedup();
        s.len()
    };
    // The stream must make the bound matter: more users than sessions held, some served cached.
    assert!(
        distinct > capacity && model < events.len(),
        "{distinct} {model}"
    );
    assert_eq!(calls.get("AssumeRole").copied(), Some(model), "{calls:?}");
    assert_eq!(
        calls.get("DynamoDB_20120810.Query").copied(),
        Some(events.len())
    );
    assert_eq!(run.cold_operations.len(), 2, "{:?}", run.cold_operations);
    Ok(())
}

#[test]
fn the_probe_writes_its_tables_and_the_quota_model() -> Result<()> {
    build_debug("secure-config")?;
    let dir = std::env::temp_dir().join(format!("scaleprobe-smoke-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("scale.md");
    let status = Command::new(env!("CARGO_BIN_EXE_scaleprobe"))
        .args(["--profile", "debug", "--functions", "secure-config"])
        .args(["--users", "10,100", "--requests", "60", "--out"])
        .arg(&out)
        .status()
        .context("running scaleprobe")?;
    if !status.success() {
        bail!("scaleprobe failed: {status}");
    }
    let report = std::fs::read_to_string(&out)?;
    let _ = std::fs::remove_dir_all(&dir);
    // secure-config reads each value once per sandbox, whatever the number of users: the three
    // first reads, then nothing for the cache TTL.
    for users in ["10", "100"] {
        for operation in [
            "secretsmanager.GetSecretValue",
            "AmazonSSM.GetParameters",
            "AmazonSSM.GetParametersByPath",
        ] {
            let row = format!("| secure-config | {users} | 60 | `{operation}` | 1 | 16.67 |");
            assert!(report.contains(&row), "no row {row} in:\n{report}");
        }
    }
    // Two Parameter Store calls per new sandbox meet the 40/s quota at 20 new sandboxes/s and
    // at 6,000 warm sandboxes refreshing every 300 s (the README's figures).
    assert!(
        report.contains("(shared) | 40 | 2.0 | 0.00 | 20 | 6000 | never | 200 |"),
        "{report}"
    );
    Ok(())
}
