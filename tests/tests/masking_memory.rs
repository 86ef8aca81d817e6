//! data-masking's memory in proportion to its payload (issue 21): the function's whole answer
//! (event text in, response text out) run in process under a counting allocator, at 6 MB of
//! customer records, long strings, many tiny records and records nested to the depth limit,
//! direct and through API Gateway (base64 too). The peak heap, the event included, must stay
//! within 3x the payload plus a small constant; requests over a limit must be answered before
//! anything of their size is allocated. Memory, unlike time, is the same from run to run, so it
//! is checked here with a bound; throughput is the bench's.
//!
//! A test binary of its own: the allocator is global to the process.
// A panic here is a failed test. The counting allocator needs `unsafe` (a `GlobalAlloc` impl);
// this crate is test code, outside the product crates' `forbid(unsafe_code)`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use data_masking::config::Config;
use data_masking::handler::DataMasking;
use secure_lambda::crypto::KmsDataKeys;
use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
use secure_lambda::secrets::{CachePolicy, SecretStore};
use serde_json::{json, Value};
use suite_tests::payloads::customer;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// The counters are process-wide: one measuring test at a time (cargo runs a file's tests on
/// parallel threads).
static MEASURING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Held across the whole test, awaits included: each test has its own current-thread runtime,
/// so no other task of that runtime can wait on it (what `await_holding_lock` guards against).
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    MEASURING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments unchanged; the counters
// are side effects only.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded as received.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded as received.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            if new_size >= layout.size() {
                // A large block grows in place (glibc's mremap), as it does in the Lambda
                // sandbox; a copy would briefly hold both, which this does not count.
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Answers `event` and returns the response and the peak heap during the answer, the event
/// included (it was allocated before the count starts and is handed over).
async fn measure(
    function: &DataMasking<MemorySecrets, MemoryParameters, KmsDataKeys>,
    mut event: String,
) -> (Value, usize) {
    // As the runtime hands it over: a buffer of the event's exact size.
    event.shrink_to_fit();
    let event_len = event.capacity();
    let base = LIVE.load(Relaxed);
    PEAK.store(base, Relaxed);
    let response = function.answer_text(event).await;
    let peak = PEAK.load(Relaxed).saturating_sub(base) + event_len;
    (serde_json::from_str(&response).unwrap(), peak)
}

fn function(max_body_bytes: usize) -> DataMasking<MemorySecrets, MemoryParameters, KmsDataKeys> {
    let store = SecretStore::new(
        MemorySecrets::default(),
        MemoryParameters::default(),
        CachePolicy::default(),
    );
    DataMasking::new(
        store,
        Config {
            max_body_bytes,
            ..Config::default()
        },
        None,
    )
}

/// A request body of about `bytes`: `{"records":[...]}` with records from `record(i)`.
fn body(bytes: usize, record: impl Fn(usize) -> String) -> String {
    let mut out = String::with_capacity(bytes + 1024);
    out.push_str(r#"{"records":["#);
    let mut i = 0;
    loop {
        let next = record(i);
        if out.len() + next.len() + 3 > bytes {
            break;
        }
        if i > 0 {
            out.push(',');
        }
        out.push_str(&next);
        i += 1;
    }
    out.push_str("]}");
    out
}

/// Customer records as the issue measured them: a few small strings and a nested array.
fn long_string(i: usize) -> String {
    let mut note = "lorem ipsum dolor sit amet ".repeat(4000);
    note.push_str(&format!("reach me at user{i}@example.com"));
    format!(r#"{{"id":{i},"note":"{note}","quote":"she said \"hi\"\n"}}"#)
}

fn tiny(i: usize) -> String {
    format!(r#"{{"n":{}}}"#, i % 10)
}

/// A record nested to the default depth limit (32): its leaf is 32 steps down.
fn deep(i: usize) -> String {
    let depth = Config::DEFAULT_MAX_DEPTH;
    format!(
        "{}\"ssn 123-45-{:04}\"{}",
        r#"{"a":"#.repeat(depth),
        i % 10_000,
        "}".repeat(depth)
    )
}

fn http(body: &str, base64: bool) -> String {
    use base64::Engine;
    let body = if base64 {
        base64::engine::general_purpose::STANDARD.encode(body)
    } else {
        body.to_owned()
    };
    json!({
        "version": "2.0",
        "rawPath": "/mask",
        "requestContext": {"http": {"method": "POST", "path": "/mask"}},
        "headers": {"content-type": "application/json"},
        "body": body,
        "isBase64Encoded": base64
    })
    .to_string()
}

fn status_of(response: &Value) -> (u64, String) {
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    let code = body["error"]["code"].as_str().unwrap_or("").to_owned();
    (response["statusCode"].as_u64().unwrap(), code)
}

const MB: usize = 1_000_000;
/// What the bound allows beside 3x the payload: the runtime's and the masker's fixed buffers.
const CONSTANT: usize = MB;

#[tokio::test(flavor = "current_thread")]
#[allow(clippy::await_holding_lock)]
async fn six_megabytes_stay_within_three_times_the_payload() {
    let _measuring = one_at_a_time();
    let f = function(6 * MB);
    type Shape = fn(usize) -> String;
    let shapes: [(&str, Shape); 4] = [
        ("customer records", customer),
        ("long strings", long_string),
        ("tiny records", tiny),
        ("nested to the limit", deep),
    ];
    for (name, record) in shapes {
        let body = body(6 * MB, record);
        // Every shape direct and base64 through API Gateway; customer records also as plain
        // text through API Gateway (an escaped body, unescaped once).
        let mut events = vec![("direct", body.clone()), ("http base64", http(&body, true))];
        if name == "customer records" {
            events.push(("http", http(&body, false)));
        }
        for (how, event) in events {
            let (response, peak) = measure(&f, event).await;
            // Masked whole either way; a 6 MB request whose escaped answer is over Lambda's
            // response limit is answered 413 once the answer is known to be too long.
            let status = status_of(&response);
            assert!(
                status == (200, String::new()) || status == (413, "ResponseTooLarge".to_owned()),
                "{name} {how}: {status:?}"
            );
            let ratio = peak as f64 / body.len() as f64;
            println!(
                "{name:>20} {how:>12}: payload {:.2} MB, peak heap {:.2} MB = {ratio:.2}x",
                body.len() as f64 / 1e6,
                peak as f64 / 1e6
            );
            assert!(
                peak <= 3 * body.len() + CONSTANT,
                "{name} {how}: peak {peak} for a payload of {}",
                body.len()
            );
        }
    }
}

#[tokio::test(flavor = "current_thread")]
#[allow(clippy::await_holding_lock)]
async fn peak_per_payload_size() {
    let _measuring = one_at_a_time();
    // 6 MB: the test above.
    for mb in [0.1, 1.0, 3.0] {
        let size = (mb * MB as f64) as usize;
        let f = function(6 * MB);
        let body = body(size, customer);
        for (how, event) in [("direct", body.clone()), ("http", http(&body, false))] {
            let (response, peak) = measure(&f, event).await;
            assert_eq!(status_of(&response).0, 200);
            println!(
                "AFTER {how:>6} {mb} MB (payload {} bytes): peak heap {:.2} MB = {:.2}x payload",
                body.len(),
                peak as f64 / 1e6,
                peak as f64 / body.len() as f64
            );
            assert!(peak <= 3 * body.len() + CONSTANT);
        }
    }
}

/// Over the size limit, over the depth limit: a structured 413/400, and nothing of the
/// payload's size allocated on the way (the event itself aside).
#[tokio::test(flavor = "current_thread")]
#[allow(clippy::await_holding_lock)]
async fn too_large_and_too_deep_are_answers() {
    let _measuring = one_at_a_time();
    let f = function(Config::DEFAULT_MAX_BODY_BYTES);
    let nesting = format!(
        r#"{{"records":[{}1{}]}}"#,
        "[".repeat(3 * MB),
        "]".repeat(3 * MB)
    );
    let too_deep_record = body(6 * MB, |i| {
        if i == 0 {
            format!("{}1{}", "[".repeat(40), "]".repeat(40))
        } else {
            tiny(i)
        }
    });
    let cases = [
        (
            "long strings, direct",
            body(6 * MB, long_string),
            false,
            413,
            "PayloadTooLarge",
        ),
        (
            "long strings, http",
            body(6 * MB, long_string),
            true,
            413,
            "PayloadTooLarge",
        ),
        (
            "tiny records, direct",
            body(6 * MB, tiny),
            false,
            413,
            "PayloadTooLarge",
        ),
        (
            "tiny records, http",
            body(6 * MB, tiny),
            true,
            413,
            "PayloadTooLarge",
        ),
        ("nesting, direct", nesting.clone(), false, 400, "TooDeep"),
        ("nesting, http", nesting, true, 413, "PayloadTooLarge"),
    ];
    for (name, body, through_http, status, code) in cases {
        let event = if through_http {
            http(&body, false)
        } else {
            body
        };
        let event_len = event.len();
        let (response, peak) = measure(&f, event).await;
        assert_eq!(status_of(&response), (status, code.to_owned()), "{name}");
        println!(
            "{name:>22}: {status} {code}, peak heap beyond the event {} bytes",
            peak - event_len
        );
        assert!(
            peak - event_len < 64 * 1024,
            "{name}: {} bytes beyond the event",
            peak - event_len
        );
    }

    // Within the size limit, one record over the depth limit: a 400 naming it.
    let f = function(6 * MB);
    let (response, _) = measure(&f, too_deep_record).await;
    assert_eq!(status_of(&response), (400, "TooDeep".to_owned()));
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["error"]["field"], "records[0]");
}
