//! Request payloads of a chosen size for data-masking, shaped as customer records look: a few
//! short string fields and a small nested array.

/// Customer record number `i`, as JSON text.
pub fn customer(i: usize) -> String {
    format!(
        r#"{{"id":"USR-{i:06}","name":"Jane Doe","email":"jane.doe{i}@example.com","note":"called about order {i}","tags":["a","b",{{"k":{i}}}]}}"#
    )
}

/// A direct data-masking event whose `records` array of [`customer`] records is as close to
/// `bytes` of JSON text as whole records allow without passing it (one record at least);
/// returns the event and its record count.
pub fn customer_records_event(bytes: usize) -> (String, usize) {
    let mut records = String::with_capacity(bytes + 256);
    records.push('[');
    let mut count = 0;
    loop {
        let record = customer(count);
        // The separator and the closing bracket count too.
        if count > 0 && records.len() + record.len() + 2 > bytes {
            break;
        }
        if count > 0 {
            records.push(',');
        }
        records.push_str(&record);
        count += 1;
    }
    records.push(']');
    (format!(r#"{{"records":{records}}}"#), count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_reach_their_size_and_parse() {
        let (event, count) = customer_records_event(100_000);
        let records = event.len() - r#"{"records":}"#.len();
        assert!(records <= 100_000 && records > 99_700, "{records}");
        let value: serde_json::Value = serde_json::from_str(&event).unwrap();
        assert_eq!(value["records"].as_array().map(Vec::len), Some(count));
        assert_eq!(customer_records_event(1).1, 1);
    }
}
