//! Where a large member's value ends, read from the object's end: a request's records array is
//! most of its text, and the members after it (rules, flags) are a few bytes. Reading those
//! backward finds the array's end without a pass over the array; the masker then reads the array
//! from its start and checks that it ends exactly there.
//!
//! Read backward, JSON is as unambiguous as forward (a quote closes a string unless an odd run
//! of backslashes precedes it), but only valid JSON is read so. Whatever this reader answers is
//! a claim the forward readers check: the members after the array are read forward from the end
//! found here, and the array is masked up to it. Text that is not JSON fails those checks, and
//! is answered as text that is not JSON.

/// How far a member value after the array is read backward before giving up: beyond it, the
/// value is taken to be the array itself.
const BUDGET: usize = 64 * 1024;
/// More members than a request has: past it the array's end is found forward.
const MAX_MEMBERS: usize = 64;

/// Where the value starting at `start` (a `[`, a member's value in the object `bytes`) ends,
/// from the members after it read backward; `None` where this reader gives up.
///
/// The flag is `true` when the end was checked: the value was read back to `start`, within the
/// budget. It is `false` when a value larger than the budget ends there and was taken to be the
/// array: only the array's reader can tell (another large array after it makes the guess wrong,
/// and the array's reader then finds the array's end before the guessed one).
pub(super) fn array_end(bytes: &[u8], start: usize) -> Option<(usize, bool)> {
    if bytes.get(start) != Some(&b'[') {
        return None;
    }
    let mut close = last_non_ws(bytes, bytes.len())?;
    if bytes[close] != b'}' {
        return None;
    }
    for _ in 0..MAX_MEMBERS {
        // `close` is the `}` or the `,` after a member's value.
        let end = last_non_ws(bytes, close)? + 1;
        if end <= start {
            return None;
        }
        let floor = end.saturating_sub(BUDGET).max(start);
        let value = if bytes[end - 1] == b']' {
            match value_start(bytes, end, floor) {
                Some(at) if at == start => return Some((end, true)),
                Some(at) => at,
                None if floor == start => return None,
                None => return Some((end, false)),
            }
        } else {
            value_start(bytes, end, floor)?
        };
        // Before a value after the array: `,` `"name"` `:`, with whitespace anywhere.
        let colon = last_non_ws(bytes, value)?;
        if bytes[colon] != b':' {
            return None;
        }
        let name_end = last_non_ws(bytes, colon)?;
        if bytes[name_end] != b'"' {
            return None;
        }
        let name_start = opening_quote(bytes, name_end, start)?;
        close = last_non_ws(bytes, name_start)?;
        if bytes[close] != b',' {
            return None;
        }
    }
    None
}

/// The index of the last byte before `end` that is not whitespace.
fn last_non_ws(bytes: &[u8], end: usize) -> Option<usize> {
    bytes[..end]
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
}

/// Where the value that ends just before `end` starts, read backward no further than `floor`.
fn value_start(bytes: &[u8], end: usize, floor: usize) -> Option<usize> {
    let last = end.checked_sub(1)?;
    match bytes[last] {
        b'"' => opening_quote(bytes, last, floor),
        b']' | b'}' => {
            let mut depth = 0usize;
            let mut at = last;
            loop {
                match bytes[at] {
                    b'"' => at = opening_quote(bytes, at, floor)?,
                    b']' | b'}' => depth += 1,
                    b'[' | b'{' => {
                        depth = depth.checked_sub(1)?;
                        if depth == 0 {
                            return Some(at);
                        }
                    }
                    _ => {}
                }
                if at <= floor {
                    return None;
                }
                at -= 1;
            }
        }
        // A number or a literal.
        b if b.is_ascii_alphanumeric() => {
            let start = bytes[floor..end]
                .iter()
                .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'.' | b'+' | b'-')))
                .map_or(floor, |at| floor + at + 1);
            (start > floor).then_some(start)
        }
        _ => None,
    }
}

/// The quote opening the string whose closing quote is at `close`: the nearest quote before it
/// that an even run of backslashes precedes, no further back than `floor`.
fn opening_quote(bytes: &[u8], close: usize, floor: usize) -> Option<usize> {
    let mut end = close;
    loop {
        let at = floor + memchr::memrchr(b'"', bytes.get(floor..end)?)?;
        let backslashes = bytes[floor..at]
            .iter()
            .rev()
            .take_while(|b| **b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return (at > floor).then_some(at);
        }
        end = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Where the forward reader puts the end of `records` in `text`.
    fn forward_end(text: &str) -> (usize, usize) {
        let members = super::super::object_members(text).unwrap();
        let records = members
            .iter()
            .find(|(name, _)| name == "records")
            .unwrap()
            .1;
        let start = records.as_ptr() as usize - text.as_ptr() as usize;
        (start, start + records.len())
    }

    /// Generated requests, records anywhere among the members and the members after them of
    /// every kind (strings full of escaped quotes and brackets, nested arrays, numbers,
    /// literals), compact and spaced: the end read backward is the forward reader's, and is
    /// checked whenever the array is within the budget.
    #[test]
    fn finds_the_end_the_forward_reader_finds() {
        let mut rng = fastrand::Rng::with_seed(21);
        let values = |rng: &mut fastrand::Rng| -> Value {
            match rng.u8(..9) {
                0 => json!("a \"quoted\" ] } [ { \\ \\\" string"),
                1 => json!({"$.users[*].email": "email", "x]": ["}", "\\"]}),
                2 => json!([[1, [2]], {"a": "]"}]),
                3 => json!(-12.5e3),
                4 => json!(true),
                5 => json!(null),
                6 => json!("\\"),
                7 => json!([]),
                _ => json!({}),
            }
        };
        let mut checked = 0;
        for round in 0..3000 {
            let mut members: Vec<(String, Value)> = (0..rng.usize(0..5))
                .map(|i| (format!("m{i}\"]"), values(&mut rng)))
                .collect();
            let records: Vec<Value> = (0..rng.usize(0..40)).map(|_| values(&mut rng)).collect();
            members.insert(
                rng.usize(0..=members.len()),
                ("records".into(), json!(records)),
            );
            let spaced = round % 3 == 0;
            let mut text = String::from(if spaced { " {\n " } else { "{" });
            for (i, (name, value)) in members.iter().enumerate() {
                if i > 0 {
                    text.push_str(if spaced { " ,\n\t" } else { "," });
                }
                text.push_str(&Value::String(name.clone()).to_string());
                text.push_str(if spaced { " : " } else { ":" });
                text.push_str(&if spaced {
                    serde_json::to_string_pretty(value).unwrap()
                } else {
                    value.to_string()
                });
            }
            text.push_str(if spaced { "\r\n} \n" } else { "}" });
            let (start, end) = forward_end(&text);
            match array_end(text.as_bytes(), start) {
                Some((found, exact)) => {
                    assert_eq!(found, end, "{text}");
                    checked += usize::from(exact);
                }
                None => panic!("gave up on {text}"),
            }
        }
        assert!(checked > 2500, "{checked}");
    }

    #[test]
    fn a_large_array_is_not_read_back_and_other_large_values_are_guesses() {
        let records = format!("[{}1]", "1,".repeat(BUDGET));
        let last = format!(r#"{{"records":{records},"rules":{{"$.a":"email"}}}}"#);
        let end = 11 + records.len();
        assert_eq!(array_end(last.as_bytes(), 11), Some((end, false)));
        // A large array after the records: taken for them (the masker then finds the records'
        // own end first, and the request is read again forward).
        let after = format!(r#"{{"records":[1],"other":{records}}}"#);
        assert_eq!(
            array_end(after.as_bytes(), 11),
            Some((after.len() - 1, false))
        );
        // A large string after the records: no guess.
        let string = format!(r#"{{"records":[1],"other":"{}"}}"#, "a".repeat(BUDGET + 1));
        assert_eq!(array_end(string.as_bytes(), 11), None);
    }

    #[test]
    fn what_is_not_an_object_ending_after_the_array_gets_no_end() {
        for text in [
            r#"{"records":[1]"#,
            r#"{"records":[1]]"#,
            r#"{"records":[1],}"#,
            r#"{"records":[1] "rules":{}}"#,
            r#"{"records":[1],rules:{}}"#,
            r#"{"records":[1],"rules"{}}"#,
            r#"{"records":[1],"rules":}"#,
            r#"{"records":[1],"rules\":{}}"#,
            r#"{"records":"[1]"}"#,
            r#"{"records":[1]} x"#,
        ] {
            let got = array_end(text.as_bytes(), 11);
            assert!(got.is_none() || got == Some((14, true)), "{text}: {got:?}");
        }
    }
}
