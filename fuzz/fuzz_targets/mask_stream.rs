//! The streaming masker on arbitrary text, as data-masking feeds it request bodies: never
//! panics; accepts only what serde_json accepts (one document, whole); what it writes is JSON
//! whose shape (objects, arrays, member counts) is the input's; and a value under a secret-named
//! key never survives (the key `password` with a long string value, wherever it is).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::mask::format::redaction_marker;
use secure_lambda::mask::{JsonMasker, JsonOut, JsonPath, PiiKind, Strategy};
use serde_json::Value;

fn shape(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Array(map.values().map(shape).collect()),
        Value::Array(items) => Value::Array(items.iter().map(shape).collect()),
        _ => Value::Null,
    }
}

/// Every string under a `password` member, at any depth (inherited by what it holds), and every
/// other key and string.
fn strings(value: &Value, inherited: bool, secret: &mut Vec<String>, other: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, item) in map {
                other.push(key.clone());
                strings(item, inherited || key == "password", secret, other);
            }
        }
        Value::Array(items) => items.iter().for_each(|item| strings(item, inherited, secret, other)),
        Value::String(text) if inherited => secret.push(text.clone()),
        Value::String(text) => other.push(text.clone()),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut masker = JsonMasker::new().max_depth(32);
    if let Ok(path) = JsonPath::parse("$..email") {
        masker = masker.rule(path, Strategy::PreserveLength);
    }
    let mut buf = Vec::new();
    let result = masker.mask_json(text, &mut JsonOut::new(&mut buf));
    let Ok(_) = result else {
        return;
    };
    let input: Value = match serde_json::from_str(text) {
        Ok(input) => input,
        Err(error) => panic!("the masker accepted what serde_json refuses ({error}): {text:?}"),
    };
    let output: Value = match serde_json::from_slice(&buf) {
        Ok(output) => output,
        Err(error) => panic!("the masked output is not JSON ({error}): {:?}", String::from_utf8_lossy(&buf)),
    };
    // Duplicate members: serde_json keeps the last, the masker writes (and masks) each, so the
    // shapes are compared only for inputs without duplicates (same member counts once parsed).
    if !has_duplicates(text) {
        assert_eq!(shape(&output), shape(&input), "the masked output has another shape");
    }
    let (mut secrets, mut others) = (Vec::new(), Vec::new());
    strings(&input, false, &mut secrets, &mut others);
    // Text the output may hold for other reasons: the markers, and the other keys and values.
    others.extend(PiiKind::ALL.iter().map(|kind| redaction_marker(Some(*kind))));
    others.push(redaction_marker(None));
    let written = String::from_utf8_lossy(&buf);
    let unambiguous = |s: &&String| s.len() >= 8 && !s.contains('*') && !others.iter().any(|o| o.contains(s.as_str()));
    for secret in secrets.iter().filter(unambiguous) {
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        assert!(!written.contains(escaped.trim_matches('"')), "{secret:?} under `password` survives");
    }
});

/// Whether any object of `text` repeats a key (serde_json's map keeps one of them).
fn has_duplicates(text: &str) -> bool {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    struct Check;
    impl<'de> Visitor<'de> for Check {
        type Value = bool;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut keys = std::collections::HashSet::new();
            let mut dup = false;
            while let Some(key) = map.next_key::<String>()? {
                dup |= !keys.insert(key);
                dup |= map.next_value_seed(Seed)?;
            }
            Ok(dup)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
            let mut dup = false;
            while let Some(d) = seq.next_element_seed(Seed)? {
                dup |= d;
            }
            Ok(dup)
        }
        fn visit_bool<E>(self, _: bool) -> Result<bool, E> { Ok(false) }
        fn visit_i64<E>(self, _: i64) -> Result<bool, E> { Ok(false) }
        fn visit_u64<E>(self, _: u64) -> Result<bool, E> { Ok(false) }
        fn visit_f64<E>(self, _: f64) -> Result<bool, E> { Ok(false) }
        fn visit_str<E>(self, _: &str) -> Result<bool, E> { Ok(false) }
        fn visit_unit<E>(self) -> Result<bool, E> { Ok(false) }
    }
    struct Seed;
    impl<'de> serde::de::DeserializeSeed<'de> for Seed {
        type Value = bool;
        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
            d.deserialize_any(Check)
        }
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_any(Check).unwrap_or(true)
}
