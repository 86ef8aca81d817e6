//! A smoke run of the cold-start harness `make bench` uses (`coldstart`): two cold starts and a
//! short warm run of secure-config's debug binary under the harness's Runtime API, against a
//! seeded moto. It keeps the harness from rotting between benchmark runs; the figures it
//! measures are not checked against targets (debug code on a shared machine), with one
//! exception: memory, which does not vary with the machine's load. data-masking's peak RSS at
//! 6 MB is checked against its bound here, through the Runtime API as Lambda runs it, so the
//! runtime loop's buffers count as well as the masking's.

use std::time::Duration;

use anyhow::Result;
use suite_tests::coldstart::{build_debug, measure, payload_memory, quantile, Subject};
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
    // The plot `make bench` links from BENCHMARKS.md: a dot per spawn.
    let plot = stack.dir.join("cold-start.svg");
    suite_tests::plot::cold_start_svg(std::slice::from_ref(&measured), &plot)?;
    let svg = std::fs::read_to_string(&plot)?;
    assert!(svg.starts_with("<svg") && svg.contains("secure-config — Rust (ours)"));
    assert_eq!(svg.matches("<circle").count(), 2, "one dot per spawn");
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

/// A 6 MB request costs at most 3x its size in RSS over what the same process held after a
/// 1 kB one: the event read once, the answer written once, hyper's read buffer fixed.
#[test]
fn data_masking_peak_rss_at_six_megabytes() -> Result<()> {
    let binary = build_debug("data-masking")?;
    let stack = SeededMoto::start("masking-rss")?;
    let samples = payload_memory(
        &binary,
        stack.function_env()?,
        &[6_000_000],
        1,
        1,
        &stack.dir,
    )?;
    let sample = samples.first().expect("one size was asked for");
    // Masked whole; the escaped answer is over Lambda's 6 MB response limit, so a 413.
    assert_eq!(sample.status, 413, "{sample:?}");
    let grew = (sample.peak_rss_kib - sample.baseline_rss_kib) * 1024;
    println!(
        "6 MB: RSS {} -> {} KiB, {:.2}x the payload",
        sample.baseline_rss_kib,
        sample.peak_rss_kib,
        grew as f64 / sample.payload_bytes as f64
    );
    assert!(
        grew <= 3 * sample.payload_bytes as u64,
        "grew {grew} bytes for a payload of {}: {sample:?}",
        sample.payload_bytes
    );
    Ok(())
}
