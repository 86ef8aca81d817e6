//! Properties of the masking library over generated input: no panics on any UTF-8 text or JSON
//! document, masked JSON keeps its shape and parses, and a detectable value never survives.
// Test and bench code: a panic here is a failed run, not a crashed function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use secure_lambda::mask::{
    find_all, redact_text, JsonMasker, JsonPath, RedactionCounts, Strategy as MaskStrategy,
};
use serde_json::{Map, Value};

fn luhn_complete(mut digits: Vec<u8>) -> String {
    // Append the check digit that makes `digits` pass Luhn.
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    digits.push(u8::try_from((10 - sum % 10) % 10).unwrap_or(0));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// Values every detector must find, in the shapes people write them.
fn pii() -> impl Strategy<Value = String> {
    let email = (
        "[a-z]{1,8}(\\.[a-z]{1,8})?",
        "[a-z]{2,10}",
        "(com|org|net|io)",
    )
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"));
    let phone = (
        2u16..10,
        0u16..100,
        2u16..10,
        0u16..100,
        0u16..10_000,
        prop::sample::select(vec!["-", ".", " "]),
    )
        .prop_filter(
            "no N11 area code or exchange",
            |(_, area, _, exchange, _, _)| *area != 11 && *exchange != 11,
        )
        .prop_map(|(a1, a23, e1, e23, line, sep)| {
            format!("{a1}{a23:02}{sep}{e1}{e23:02}{sep}{line:04}")
        });
    let ssn = (1u16..900, 1u8..100, 1u16..10_000)
        .prop_filter("SSA rules", |(area, _, _)| *area != 666)
        .prop_map(|(area, group, serial)| format!("{area:03}-{group:02}-{serial:04}"));
    let card = (
        prop::collection::vec(0u8..10, 14),
        prop::sample::select(vec![" ", "-", ""]),
    )
        .prop_map(|(body, sep)| {
            let mut digits = vec![4];
            digits.extend(body);
            let number = luhn_complete(digits);
            number
                .as_bytes()
                .chunks(4)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(sep)
        });
    let secret = "[A-Za-z0-9]{6,20}".prop_map(|v| format!("\"password\":\"{v}\""));
    prop_oneof![email, phone, ssn, card, secret]
}

/// Filler that cannot glue onto a value: words of letters and spaces.
fn filler() -> impl Strategy<Value = String> {
    "( [a-z]{1,8}){0,6} "
}

/// Arbitrary JSON, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        pii().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z_]{0,10}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn same_shape(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_shape(v, w)))
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| same_shape(v, w))
        }
        (Value::Object(_) | Value::Array(_), _) | (_, Value::Object(_) | Value::Array(_)) => false,
        _ => true,
    }
}

proptest! {
    #[test]
    fn redaction_never_panics_and_keeps_clean_text(text in any::<String>()) {
        let mut counts = RedactionCounts::default();
        let out = redact_text(&text, &mut counts);
        if find_all(&text).is_empty() {
            prop_assert_eq!(out.as_ref(), text.as_str());
        }
        // Findings are on character boundaries and ordered without overlap.
        let mut last = 0;
        for f in find_all(&text) {
            prop_assert!(f.start >= last && f.end > f.start);
            prop_assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
            last = f.end;
        }
    }

    #[test]
    fn detected_values_do_not_survive_redaction(
        parts in prop::collection::vec((filler(), pii()), 1..6),
        tail in filler(),
    ) {
        let mut text = String::new();
        for (before, value) in &parts {
            text.push_str(before);
            text.push_str(value);
        }
        text.push_str(&tail);
        let mut counts = RedactionCounts::default();
        let out = redact_text(&text, &mut counts);
        for (_, value) in &parts {
            let sensitive = value.strip_prefix("\"password\":").unwrap_or(value);
            prop_assert!(!out.contains(sensitive), "{sensitive:?} survived in {out:?}");
        }
        prop_assert!(counts.total() >= parts.len() as u64);
    }

    #[test]
    fn json_masking_keeps_the_shape_and_masks_what_it_detects(doc in json()) {
        let masker = JsonMasker::new()
            .rule(JsonPath::parse("$..email").map_err(|e| TestCaseError::fail(e.to_string()))?, MaskStrategy::Redact(None));
        let before = doc.clone();
        let (masked, _) = masker.mask(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&doc, &before, "input untouched");
        prop_assert!(same_shape(&doc, &masked));
        let text = serde_json::to_string(&masked).map_err(|e| TestCaseError::fail(e.to_string()))?;
        // (Floats need not round-trip exactly: serde_json's default float parsing is not exact.)
        let reparsed: Value = serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(same_shape(&reparsed, &masked));
        // Every string the detectors flag in the input is gone from the output.
        let mut stack = vec![&doc];
        while let Some(value) = stack.pop() {
            match value {
                Value::String(s) => {
                    for f in find_all(s) {
                        let found = &s[f.start..f.end];
                        if found.len() >= 6 {
                            prop_assert!(!text.contains(found), "{found:?} survived");
                        }
                    }
                }
                Value::Array(items) => stack.extend(items),
                Value::Object(map) => stack.extend(map.values()),
                _ => {}
            }
        }
    }
}
