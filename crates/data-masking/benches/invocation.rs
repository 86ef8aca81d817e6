//! `make bench`: data-masking's whole invocation (event text in, response text out) at 5 MB,
//! beside the JSON masking engine on the same records: the engine through its tree API
//! (`JsonMasker::mask` on `Value`s, as the engine's own bench runs it) and streaming
//! (`JsonMasker::mask_records` on the records' text). The records are the engine bench's API
//! payloads (users with emails, phones, SSNs, notes holding a card, an address), with the same
//! three lab-format rules. Criterion prints the statistics; a summary with MB/s and the ratios,
//! all measured in this run, follows.
// Bench code: a panic here is a failed run, not a crashed function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, Criterion, Throughput};
use data_masking::config::Config;
use data_masking::handler::DataMasking;
use secure_lambda::crypto::KmsDataKeys;
use secure_lambda::mask::{JsonMasker, JsonOut, JsonPath, PiiKind, Strategy};
use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
use secure_lambda::secrets::{CachePolicy, SecretStore};
use serde_json::{json, Value};

const PAYLOAD_BYTES: usize = 5_000_000;

/// Records of the engine bench's shape, about `bytes` of JSON text in all.
fn records(bytes: usize) -> Vec<Value> {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut docs = Vec::new();
    let mut size = 0;
    while size < bytes {
        let users: Vec<_> = (0..20)
            .map(|i| {
                json!({
                    "id": format!("USR-{i:03}"),
                    "name": "Jane Doe",
                    "email": format!("user{}@example.com", rng.u32(..)),
                    "phone": format!("+1-555-{}-{:04}", rng.u16(200..999), rng.u16(..10_000)),
                    "ssn": "123-45-6789",
                    "memberSince": "2023-01-15",
                    "orders": rng.u32(..100),
                    "notes": "prefers email contact; card on file 4111 1111 1111 1111",
                    "address": {"street": "1 Main St", "zip": "12345"}
                })
            })
            .collect();
        let doc = json!({"page": 1, "users": users});
        size += doc.to_string().len() + 1;
        docs.push(doc);
    }
    docs
}

fn masker() -> JsonMasker {
    JsonMasker::new()
        .rule(
            JsonPath::parse("$.users[*].email").unwrap(),
            Strategy::Lab(PiiKind::Email),
        )
        .rule(
            JsonPath::parse("$.users[*].phone").unwrap(),
            Strategy::Lab(PiiKind::Phone),
        )
        .rule(
            JsonPath::parse("$.users[*].ssn").unwrap(),
            Strategy::Lab(PiiKind::Ssn),
        )
}

fn function() -> DataMasking<MemorySecrets, MemoryParameters, KmsDataKeys> {
    let store = SecretStore::new(
        MemorySecrets::default(),
        MemoryParameters::default(),
        CachePolicy::default(),
    );
    DataMasking::new(
        store,
        Config {
            max_body_bytes: 6_000_000,
            ..Config::default()
        },
        None,
    )
}

fn benches(c: &mut Criterion) {
    let docs = records(PAYLOAD_BYTES);
    let records_text = Value::Array(docs.clone()).to_string();
    let body = json!({
        "records": docs,
        "rules": {"$.users[*].email": "email", "$.users[*].phone": "phone", "$.users[*].ssn": "ssn"}
    })
    .to_string();
    let event = json!({
        "version": "2.0",
        "rawPath": "/mask",
        "requestContext": {"http": {"method": "POST", "path": "/mask"}},
        "headers": {"content-type": "application/json"},
        "body": body,
        "isBase64Encoded": false
    })
    .to_string();
    let bytes = body.len();
    let f = function();
    let masker = masker();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let invoke = |event: &str| runtime.block_on(f.answer_text(event.to_owned()));
    let check = invoke(&event);
    assert!(check.contains(r#""statusCode":200"#), "{}", &check[..200]);
    assert!(!check.contains("4111 1111 1111 1111"));
    println!(
        "payload: {} records, {:.2} MB body, {:.2} MB event",
        docs.len(),
        bytes as f64 / 1e6,
        event.len() as f64 / 1e6
    );

    let mut group = c.benchmark_group("data_masking_5mb");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));
    group.bench_function("invocation_http", |b| {
        b.iter(|| black_box(invoke(black_box(&event)).len()))
    });
    group.bench_function("invocation_direct", |b| {
        b.iter(|| black_box(invoke(black_box(&body)).len()))
    });
    group.bench_function("engine_streaming", |b| {
        b.iter(|| black_box(stream(&masker, &records_text)))
    });
    group.bench_function("engine_tree_api", |b| {
        b.iter(|| black_box(tree(&masker, &docs)))
    });
    group.finish();

    let best = |f: &dyn Fn() -> usize| {
        (0..5)
            .map(|_| {
                let start = Instant::now();
                black_box(f());
                start.elapsed()
            })
            .min()
            .unwrap_or(Duration::MAX)
    };
    let mbps = |d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    let http = best(&|| invoke(&event).len());
    let direct = best(&|| invoke(&body).len());
    let engine = best(&|| stream(&masker, &records_text));
    let engine_tree = best(&|| tree(&masker, &docs));
    println!(
        "\nsummary at {:.1} MB (best of 5, one core):",
        bytes as f64 / 1e6
    );
    println!("  invocation, API Gateway event:  {:8.1} MB/s", mbps(http));
    println!(
        "  invocation, direct event:       {:8.1} MB/s",
        mbps(direct)
    );
    println!(
        "  engine, streaming (records):    {:8.1} MB/s",
        mbps(engine)
    );
    println!(
        "  engine, tree API (Values):      {:8.1} MB/s",
        mbps(engine_tree)
    );
    println!(
        "  invocation (API Gateway) / engine streaming: {:.2}; / engine tree API: {:.2}",
        engine.as_secs_f64() / http.as_secs_f64(),
        engine_tree.as_secs_f64() / http.as_secs_f64()
    );
}

fn stream(masker: &JsonMasker, records: &str) -> usize {
    let mut buf = Vec::with_capacity(records.len() + records.len() / 8);
    let (count, _) = masker
        .mask_records(records, &mut JsonOut::new(&mut buf))
        .unwrap();
    count + buf.len()
}

fn tree(masker: &JsonMasker, docs: &[Value]) -> usize {
    docs.iter().filter(|d| masker.mask(d).is_ok()).count()
}

criterion_group!(group, benches);

fn main() {
    group();
    Criterion::default().configure_from_args().final_summary();
}
