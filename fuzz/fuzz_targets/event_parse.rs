//! Every function's way in, on arbitrary bytes: the raw event (depth and JSON checks), its shape
//! (direct or API Gateway HTTP, headers, base64 and UTF-8 body), the JSON payload, and the typed
//! request parser shared by the functions (here loadtest's, the one with numbers as strings,
//! ranges and caps). Never panics; every refusal is a 4xx with a code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::envelope::{parse_event, Invocation};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let refused = |error: secure_lambda::ApiError| {
        assert!((400..500).contains(&error.status), "{error}");
        assert!(!error.code.is_empty());
    };
    let event = match parse_event(text) {
        Ok(event) => event,
        Err(error) => return refused(error),
    };
    let invocation = match Invocation::parse(event) {
        Ok(invocation) => invocation,
        Err(error) => return refused(error),
    };
    let payload = match invocation.json_payload() {
        Ok(payload) => payload,
        Err(error) => return refused(error),
    };
    if let Err(error) = loadtest::request::LoadRequest::parse(&payload, &loadtest::request::Caps::default()) {
        refused(error);
    }
});
