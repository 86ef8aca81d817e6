//! A smoke run of the cold-start harness `make bench` uses (`coldstart`): two cold starts and a
//! short warm run of secure-config's debug binary under the harness's Runtime API, against a
//! seeded moto. It keeps the harness from rotting between benchmark runs; the figures it
//! measures are not checked against targets (debug code on a shared machine).

use std::time::Duration;

use anyhow::Result;
use suite_tests::coldstart::{build_debug, measure, quantile, Subject};
use suite_tests::SeededMoto;

const FUNCTION: &str = "secure-config";

#[test]
fn coldstart_harness_smoke() -> Result<()> {
    let binary = build_debug(FUNCTION)?;
    let stack = SeededMoto::start("coldstart-smoke")?;
    let event = r#"{"action": "get_db_credentials"}"#;
    let subject = Subject::rust(FUNCTION, &binary, stack.function_env()?, event)?;
    let measured = measure(&subject, &stack, 2, 20, &stack.dir)?;

    assert_eq!(measured.cold.len(), 2);
    for sample in &measured.cold {
        assert!(sample.init > Duration::ZERO, "{sample:?}");
        assert!(
            sample.init < sample.invoke,
            "the first /next comes before the answer: {sample:?}"
        );
        // A live process's high-water mark: more than an empty process, less than a runaway.
        assert!(
            (1024..1024 * 1024).contains(&sample.peak_rss_kib),
            "{sample:?}"
        );
    }
    let warm = measured.warm.expect("a warm run was asked for");
    assert_eq!(warm.latencies.len(), 20);
    assert!(quantile(&warm.latencies, 0.5) <= quantile(&warm.latencies, 0.99));
    assert_eq!(
        warm.cold_operations,
        vec!["secretsmanager.GetSecretValue"],
        "the cold invoke reads the secret once"
    );
    assert!(
        warm.warm_operations.is_empty(),
        "a warm invoke is served from the cache: {:?}",
        warm.warm_operations
    );
    assert!(warm.rss_after_kib > 0 && warm.rss_before_kib > 0);
    Ok(())
}
