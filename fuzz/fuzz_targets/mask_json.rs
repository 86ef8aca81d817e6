//! The JSON masker on arbitrary JSON documents: never panics, output re-parses with the same
//! shape, and a depth limit error is the only failure.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::mask::{JsonMaskError, JsonMasker, JsonPath, Strategy};
use serde_json::Value;

fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), shape(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        _ => Value::Null,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let mut masker = JsonMasker::new().max_depth(32);
    if let Ok(path) = JsonPath::parse("$..email") {
        masker = masker.rule(path, Strategy::PreserveLength);
    }
    match masker.mask(&doc) {
        Ok((masked, _)) => {
            let text = serde_json::to_string(&masked).expect("masked JSON serializes");
            let again: Value = serde_json::from_str(&text).expect("masked JSON parses");
            assert_eq!(shape(&again), shape(&doc));
        }
        Err(JsonMaskError::TooDeep { .. }) => {}
        Err(other) => panic!("unexpected error: {other}"),
    }
});
