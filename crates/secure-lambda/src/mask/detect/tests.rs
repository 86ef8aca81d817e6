// Compiled only under #[cfg(test)]: the `tests` module of mask/detect.
use super::*;
use crate::mask::text::redact_text;
use crate::mask::RedactionCounts;

/// `text` as the redactor writes it.
fn redacted(text: &str) -> String {
    redact_text(text, &mut RedactionCounts::default()).into_owned()
}

/// Asserts that none of `secrets` survives redaction of `text`.
fn assert_masked(text: &str, secrets: &[&str]) {
    let out = redacted(text);
    for secret in secrets {
        assert!(
            !out.contains(secret),
            "{secret:?} survived in {out:?} (from {text:?})"
        );
    }
}

/// Asserts that `text` is left exactly as it is.
fn assert_clean(text: &str) {
    assert_eq!(find_all(text), vec![], "{text}");
}

/// Appends the Luhn check digit to `digits`.
fn with_luhn(digits: &str) -> String {
    for check in 0..10u8 {
        let candidate = format!("{digits}{check}");
        let values: Vec<u8> = candidate.bytes().map(|b| b - b'0').collect();
        if luhn_valid(&values) {
            return candidate;
        }
    }
    unreachable!("one check digit always fits")
}

fn kinds(text: &str) -> Vec<(PiiKind, &str)> {
    find_all(text)
        .iter()
        .map(|f| (f.kind, &text[f.start..f.end]))
        .collect()
}

fn only(text: &str) -> Option<(PiiKind, String)> {
    let found = kinds(text);
    assert!(found.len() <= 1, "{text}: {found:?}");
    found.first().map(|(k, v)| (*k, (*v).to_owned()))
}

#[test]
fn emails() {
    let positive = [
        ("contact jane.doe@example.com today", "jane.doe@example.com"),
        ("<a+tag@sub.example.co.uk>", "a+tag@sub.example.co.uk"),
        ("x@ab.io", "x@ab.io"),
        (
            "\"email\":\"j_d-1@my-host.example.org\"",
            "j_d-1@my-host.example.org",
        ),
        ("end with dot: ann@example.com.", "ann@example.com"),
    ];
    for (text, value) in positive {
        assert_eq!(
            only(text),
            Some((PiiKind::Email, value.to_owned())),
            "{text}"
        );
    }
    for text in [
        "user@localhost",
        "a@b.c",
        "x@example.c0m",
        "@example.com",
        "a..b@example.com",
        "x@-bad.com",
        "x@bad-.com",
        "version 1.2@3.4",
        "git@github",
    ] {
        assert_eq!(only(text), None, "{text}");
    }
}

#[test]
fn phones() {
    let positive = [
        ("call +1-555-234-4567 now", "+1-555-234-4567"),
        ("call 555-234-4567", "555-234-4567"),
        ("(415) 555-2671", "(415) 555-2671"),
        ("415.555.2671", "415.555.2671"),
        ("1 415 555 2671", "1 415 555 2671"),
        ("+442071838750", "+442071838750"),
        ("+1-555-123-4567", "+1-555-123-4567"),
    ];
    for (text, value) in positive {
        assert_eq!(
            only(text),
            Some((PiiKind::Phone, value.to_owned())),
            "{text}"
        );
    }
    for text in [
        "555-123-4567", // exchange starts with 1
        "155-234-4567", // area starts with 1
        "411-555-1234", // N11 area code
        "555-911-1234", // N11 exchange
        "5552344567",   // bare digits: an id as often as a phone
        "+1234",        // too short for E.164
        "+0123456789",  // no country code starts with 0
        "415.555-2671", // mixed separators
    ] {
        assert_eq!(only(text), None, "{text}");
    }
}

#[test]
fn values_side_by_side_are_each_found() {
    let cases: [(&str, &[(PiiKind, &str)]); 5] = [
        (
            "200-200-0000 200-212-0000",
            &[
                (PiiKind::Phone, "200-200-0000"),
                (PiiKind::Phone, "200-212-0000"),
            ],
        ),
        (
            "4111 1111 1111 1111 415-555-2671",
            &[
                (PiiKind::Card, "4111 1111 1111 1111"),
                (PiiKind::Phone, "415-555-2671"),
            ],
        ),
        ("2 415 555 2671", &[(PiiKind::Phone, "415 555 2671")]),
        (
            "+1 212 555 0147 200 200 0000",
            &[
                (PiiKind::Phone, "+1 212 555 0147"),
                (PiiKind::Phone, "200 200 0000"),
            ],
        ),
        (
            "ssn 123-45-6789 123-45-6788",
            &[(PiiKind::Ssn, "123-45-6789"), (PiiKind::Ssn, "123-45-6788")],
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(kinds(text), expected.to_vec(), "{text}");
    }
    // More groups than one window holds: every value is still found.
    let long = "200-200-0000 200-201-0000 200-202-0000 4000 0000 0000 0002 415-555-2671 1 2 3";
    let found: Vec<_> = kinds(long).into_iter().map(|(_, v)| v).collect();
    assert_eq!(
        found,
        [
            "200-200-0000",
            "200-201-0000",
            "200-202-0000",
            "4000 0000 0000 0002",
            "415-555-2671"
        ]
    );
}

#[test]
fn ssns() {
    for (text, value) in [
        ("ssn 123-45-6789.", "123-45-6789"),
        ("SSN: 123456789", "123456789"),
        ("social security no. 078051120", "078051120"),
    ] {
        assert_eq!(only(text), Some((PiiKind::Ssn, value.to_owned())), "{text}");
    }
    for text in [
        "000-12-3456",
        "666-12-3456",
        "900-12-3456",
        "123-00-4567",
        "123-45-0000",
        "order 123456789", // bare 9 digits without context
        "123-45-67890",
    ] {
        assert_eq!(only(text), None, "{text}");
    }
}

#[test]
fn cards() {
    let positive = [
        "4111 1111 1111 1111",
        "4111-1111-1111-1111",
        "4111111111111111",
        "5555555555554444",
        "2223003122003222",
        "378282246310005",
        "6011111111111117",
        "3530111333300000",
        "6200000000000005",
        "36227206271667",
        "6759649826438453",
        "3782 822463 10005",
        "4111 1111 1111 1111 003",
    ];
    for text in positive {
        assert_eq!(only(text), Some((PiiKind::Card, text.to_owned())), "{text}");
    }
    for text in [
        "4111111111111112",     // Luhn fails: an order id, not a card
        "1234567812345670",     // Luhn passes, no issuer starts with 1
        "2721000000000004",     // above the Mastercard 2-series range
        "4111 1111 1111",       // 12 digits of Visa: wrong length
        "41111111111111111111", // 20 digits
        "4111111 111111111",    // not a card's grouping
    ] {
        assert_eq!(only(text), None, "{text}");
    }
}

#[test]
fn numbers_inside_other_tokens_are_ignored() {
    for text in [
        "2026-11-24T00:24:27.799154Z",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "ip 192.168.100.200",
        "pi 3.14159265358979",
        "v4111111111111111",
        "x-4111111111111111-y",
        "12345678901234567890123",
        "order_4111111111111111",
        "path /4111111111111111/x",
        "epoch 1795479867806",
    ] {
        assert_eq!(kinds(text), vec![], "{text}");
    }
}

#[test]
fn secrets_in_pairs() {
    let positive = [
        (r#"{"password": "hunter2!"}"#, "hunter2!"),
        (r#"{"db_password":"p@ss w0rd"}"#, "p@ss w0rd"),
        ("PASSWD=letmein&user=x", "letmein"),
        ("api_key: sk-live-123", "sk-live-123"),
        (r#"{"message":"{\"token\": \"abc123\"}"}"#, "abc123"),
        ("X-Api-Key=abcdef", "abcdef"),
        ("clientSecret='s3cr3t'", "s3cr3t"),
        (r#""secret":"a\"b""#, r#"a\"b"#),
    ];
    for (text, value) in positive {
        assert_eq!(
            only(text),
            Some((PiiKind::Secret, value.to_owned())),
            "{text}"
        );
    }
    for text in [
        r#"{"secret_id":"prod/db"}"#,
        r#"{"token_use":"id"}"#,
        "SecretsManager: GetSecretValue",
        r#"{"password": null}"#,
        "passwords are checked",
        "token:",
    ] {
        assert_eq!(only(text), None, "{text}");
    }
}

#[test]
fn keys_and_tokens() {
    assert_eq!(
        only("key AKIAIOSFODNN7EXAMPLE used"),
        Some((PiiKind::AwsAccessKey, "AKIAIOSFODNN7EXAMPLE".into()))
    );
    assert_eq!(only("AKIAIOSFODNN7EXAMPLEX"), None);
    assert_eq!(only("akiaiosfodnn7example"), None);
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJl";
    assert_eq!(
        only(&format!("token {jwt} end")),
        Some((PiiKind::Jwt, jwt.into()))
    );
    assert_eq!(
        only("Bearer abcdefgh12345678"),
        Some((PiiKind::BearerToken, "abcdefgh12345678".into()))
    );
    assert_eq!(only("bearer short"), None);
    // Authorization header: the pair and the bearer token overlap; one finding covers both.
    let found = kinds("authorization: Bearer abcdefgh12345678");
    assert_eq!(found.len(), 1);
    assert!(found[0].1.contains("abcdefgh12345678"));
}

#[test]
fn findings_are_sorted_and_disjoint_and_on_char_boundaries() {
    let text = "é jane@example.com ü 123-45-6789 ß {\"password\":\"x\"} 4111 1111 1111 1111";
    let found = find_all(text);
    assert_eq!(found.len(), 4);
    for pair in found.windows(2) {
        assert!(pair[0].end <= pair[1].start);
    }
    for f in &found {
        assert!(text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
    }
}

#[test]
fn validators() {
    assert!(luhn_valid(&[
        4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
    ]));
    assert!(!luhn_valid(&[
        4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 4
    ]));
    assert!(valid_nanp(&[4, 1, 5, 5, 5, 5, 2, 6, 7, 1]));
    assert!(!valid_ssn(&[9, 8, 7, 6, 5, 4, 3, 2, 1]));
}

#[test]
fn values_glued_to_their_labels_are_found() {
    let cases: [(&str, PiiKind, &str); 16] = [
        ("SSN:123-45-6789", PiiKind::Ssn, "123-45-6789"),
        ("ssn#123-45-6789", PiiKind::Ssn, "123-45-6789"),
        ("SSN123-45-6789", PiiKind::Ssn, "123-45-6789"),
        ("SSN:123456789", PiiKind::Ssn, "123456789"),
        (
            "social security number=078051120",
            PiiKind::Ssn,
            "078051120",
        ),
        ("card:4111111111111111", PiiKind::Card, "4111111111111111"),
        (
            "Card-4111-1111-1111-1111",
            PiiKind::Card,
            "4111-1111-1111-1111",
        ),
        ("cc4111111111111111", PiiKind::Card, "4111111111111111"),
        ("PAN/5555555555554444", PiiKind::Card, "5555555555554444"),
        ("phone:415-555-2671", PiiKind::Phone, "415-555-2671"),
        ("tel:+14155552671", PiiKind::Phone, "+14155552671"),
        ("Tel.4155552671", PiiKind::Phone, "4155552671"),
        ("mobile=(415) 555-2671", PiiKind::Phone, "(415) 555-2671"),
        ("phone 4155552671", PiiKind::Phone, "4155552671"),
        ("customerPhone:14155552671", PiiKind::Phone, "14155552671"),
        ("\"phone\": \"4155552671\"", PiiKind::Phone, "4155552671"),
    ];
    for (text, kind, value) in cases {
        assert_eq!(only(text), Some((kind, value.to_owned())), "{text}");
    }
    // Labels make candidates; the validators still decide, and look-alikes stay.
    for text in [
        "card:4111111111111112",
        "ssn:000-12-3456",
        "phone:155-234-4567",
        "ts:2026-11-24T00:24:27.799154Z",
        "id:123e4567-e89b-12d3-a456-426614174000",
        "card:2026-11-24",
        "phone:v1.2.3",
        "version:10.4.1234567",
        "ip:192.168.100.200",
        "hotel4155552671",
        "Japan4111111111111111",
        "order 4155552671",
        "mac:00:1a:2b:3c:4d:5e",
        "epoch:1795479867806",
    ] {
        assert_clean(text);
    }
}

#[test]
fn values_below_a_secret_key_are_secret_at_any_depth() {
    assert_masked(
        r#"{"password":{"current":"hunter2-very-secret"}}"#,
        &["hunter2-very-secret"],
    );
    assert_masked(
        r#"{"client_secret":{"value":"s3cr3t-abcdef"}}"#,
        &["s3cr3t-abcdef"],
    );
    assert_masked(
        r#"{"password":["old-pass-1",{"next":["old-pass-2"]}, 12345678]}"#,
        &["old-pass-1", "old-pass-2", "12345678"],
    );
    assert_masked(
        r#"password={'current': 'pw-current-1', 'next': 'pw-next-2'}"#,
        &["pw-current-1", "pw-next-2"],
    );
    assert_masked(
        r#"{"secrets":{"db":{"host":"db1","user":"admin1"}}}"#,
        &["db1", "admin1"],
    );
    // Keys stay readable, and the JSON stays JSON.
    let out = redacted(r#"{"password":{"current":"hunter2-very-secret"},"user":"u1"}"#);
    assert_eq!(
        out,
        r#"{"password":{"current":"[REDACTED:SECRET]"},"user":"u1"}"#
    );
}

#[test]
fn escapes_are_separators_or_characters_never_glue() {
    // What the JSON log formatter writes for `info!("declined:\n4111 1111 1111 1111")`.
    let line = r#"{"level":"INFO","message":"declined:\n4111 1111 1111 1111","target":"x"}"#;
    let out = redacted(line);
    assert!(!out.contains("4111 1111 1111 1111"), "{out}");
    assert!(out.contains(r#"declined:\n****-****-****-1111"#), "{out}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).is_ok(),
        "{out}"
    );

    assert_masked(
        r#"{"row":"jane\t4111111111111111\tok"}"#,
        &["4111111111111111"],
    );
    // A digit written as `\u0034`.
    let hidden = r#"{"note":"card \u0034111111111111111 on file"}"#;
    let out = redacted(hidden);
    assert!(out.contains("****-****-****-1111"), "{out}");
    assert!(!out.contains(r"\u0034111"), "{out}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).is_ok(),
        "{out}"
    );
    // An escaped quote inside an escaped secret value.
    let nested = r#"{"message":"{\"token\":\"ab\\\"cdefSECRETTAIL\"}"}"#;
    let out = redacted(nested);
    assert!(!out.contains("SECRETTAIL"), "{out}");
    assert!(!out.contains("cdef"), "{out}");
    let reparsed: serde_json::Value = serde_json::from_str(&out).unwrap();
    let inner: serde_json::Value =
        serde_json::from_str(reparsed["message"].as_str().unwrap()).unwrap();
    assert_eq!(inner["token"], "[REDACTED:SECRET]");
    // Double encoding: JSON in a string in a string.
    assert_masked(
        r#"{"body":"{\"payload\":\"{\\\"password\\\":\\\"deep-secret-1\\\"}\"}"}"#,
        &["deep-secret-1"],
    );
}

#[test]
fn text_that_cannot_be_read_to_its_end_is_masked_from_where_reading_stopped() {
    // A preview cut inside an escaped string (the plain-text formatter's `field="..."`).
    let cut = r#"body="[{\"user\":\"a\",\"password\":\"hunter2-very-secret"#;
    let out = redacted(cut);
    assert!(!out.contains("hunter2"), "{out}");
    assert!(out.starts_with("body=\""), "{out}");
    // The same inside a JSON log line: the string is closed, the JSON inside it is not.
    let line = r#"{"masked":"[{\"user\":\"a\",\"note\":\"call me at 4111 1111","level":"INFO"}"#;
    let out = redacted(line);
    assert!(!out.contains("4111 1111"), "{out}");
    assert!(out.contains(r#""level":"INFO""#), "{out}");
    assert!(
        serde_json::from_str::<serde_json::Value>(&out).is_ok(),
        "{out}"
    );
    let found = find_all(line);
    assert!(
        found.iter().any(|f| f.kind == PiiKind::Unreadable),
        "{found:?}"
    );
    // Escapes nested deeper than anyone writes them are masked whole.
    let mut deep = String::from("x 4111111111111111 y");
    for _ in 0..(MAX_NESTING + 1) {
        deep = serde_json::to_string(&deep).unwrap();
    }
    let line = format!(r#"{{"m":{deep}}}"#);
    let out = redacted(&line);
    assert!(!out.contains("4111111111111111"), "{out}");
    // Plain prose with a stray quote is left alone.
    assert_clean(r#"a 5" screen"#);
}

#[test]
fn peers_detectors() {
    for (text, kind, value) in [
        ("itin 987-65-4321", PiiKind::Itin, "987-65-4321"),
        ("ITIN: 912701234", PiiKind::Itin, "912701234"),
        (
            "iban GB82 WEST 1234 5698 7654 32.",
            PiiKind::Iban,
            "GB82 WEST 1234 5698 7654 32",
        ),
        (
            "pay to DE89370400440532013000",
            PiiKind::Iban,
            "DE89370400440532013000",
        ),
        (
            "mail o'brien+news@example.com",
            PiiKind::Email,
            "o'brien+news@example.com",
        ),
    ] {
        assert_eq!(only(text), Some((kind, value.to_owned())), "{text}");
    }
    let uatp = with_luhn("12345678901234");
    assert_eq!(only(&uatp), Some((PiiKind::Card, uatp.clone())));
    for text in [
        "987-45-4321",                 // ITIN group out of range
        "GB82 WEST 1234 5698 7654 33", // mod-97 fails
        "DE8937040044053201300",       // one character short
        "GBP 12",
        "the year 123456789012345",
    ] {
        assert_clean(text);
    }
}

#[test]
fn name_and_value_members_are_read_together() {
    for text in [
        r#"{"Name": "/prod/db/password", "Type": "SecureString", "Value": "pg-secret-value-1"}"#,
        r#"{"Value": "pg-secret-value-1", "Name": "/prod/db/password"}"#,
        r#"[{"name": "API_TOKEN", "value": "pg-secret-value-1"}]"#,
        r#"{"ParameterKey": "DbPassword", "ParameterValue": "pg-secret-value-1"}"#,
        r#"{"Key":"password","Value":"pg-secret-value-1"}"#,
        r#"env name=DB_PASSWORD value=pg-secret-value-1 done"#,
        r#"{"Parameters":[{"Name":"/a/host","Value":"db1"},{"Name":"/a/password","Value":{"v":"pg-secret-value-1"}}]}"#,
    ] {
        assert_masked(text, &["pg-secret-value-1"]);
    }
    // A name given as a list names its siblings as a name string does, either order, in JSON,
    // in a repr and in flat text.
    for text in [
        r#"{"Name":["db_password"],"Value":"pg-secret-value-1"}"#,
        r#"{"Value":"pg-secret-value-1","Name":["db_password"]}"#,
        r#"{"Value": "pg-secret-value-1", "Name": ["/a/host", "/a/password"]}"#,
        r#"{'name': ('API_TOKEN',), 'value': 'pg-secret-value-1'}"#,
        r#"name=[DB_PASSWORD] value=pg-secret-value-1"#,
        r#"{"Name":["db_password"],"Value":{"v":["pg-secret-value-1"]}}"#,
        r#"[{"Name":["db_password"],"Value":"pg-secret-value-1"}]"#,
    ] {
        assert_masked(text, &["pg-secret-value-1"]);
    }
    // A name that names nothing secret leaves its value alone, as a string or in a list, and a
    // list nested deeper, or an object, names nothing.
    assert_clean(r#"{"Name": "/prod/db/host", "Value": "db.internal"}"#);
    assert_clean(r#"{"Name": ["/prod/db/host"], "Value": "db.internal"}"#);
    assert_clean(r#"{"Name": [["x"]], "Value": "db.internal"}"#);
    let out = redacted(
        r#"{"Parameters":[{"Name":"/a/host","Value":"db1"},{"Name":"/a/password","Value":"pw-1"}]}"#,
    );
    assert!(out.contains(r#""Value":"db1""#), "{out}");
    assert!(!out.contains("pw-1"), "{out}");
}

/// Shapes found by an attacker's review of the name and value members, each a leak before.
#[test]
fn name_and_value_members_in_awkward_shapes() {
    for (text, secret) in [
        // Unquoted values holding `=` or `:` (base64 padding, user:password).
        (
            r#"name=DB_PASSWORD value=c2VjcmV0cGFzcw=="#,
            "c2VjcmV0cGFzcw",
        ),
        (
            r#"value=c2VjcmV0cGFzcw== name=DB_PASSWORD"#,
            "c2VjcmV0cGFzcw",
        ),
        (r#"name=DB_PASSWORD value=admin:hunter2"#, "hunter2"),
        (r#"name=API_TOKEN value=abc=def=ghi"#, "def=ghi"),
        (
            r#"{Name: db_password, Value: c2VjcmV0cGFzcw==}"#,
            "c2VjcmV0cGFzcw",
        ),
        (
            r#"{'Name': 'db_password', 'Value': c2VjcmV0cGFzcw==}"#,
            "c2VjcmV0cGFzcw",
        ),
        (
            "- name: DB_PASSWORD\n  value: s3cr3t:with:colons",
            "with:colons",
        ),
        // An object with its own name and value inside one read already.
        (
            r#"{"Name": "db_password", "Value": "S70x", "inner": {"Name": "api_token", "Value": "S71x"}}"#,
            "S71x",
        ),
        (
            r#"{"Name":"db_password","Value":"S72x","Tags":[{"Key":"api_token","Value":"S73x"}]}"#,
            "S73x",
        ),
        (
            r#"{"a":{"Name":"/x/host","Value":"h"},"b":{"Value":"S74x","Name":"/x/password"}}"#,
            "S74x",
        ),
        // Line breaks around the separator.
        (
            "{\"Name\"\n:\n\"db_password\"\n,\n\"Value\"\n:\n\"S17x\"}",
            "S17x",
        ),
        (
            "{\"Name\":\n [\n  \"db_password\"\n ],\n \"Value\": \"S18x\"}",
            "S18x",
        ),
        (
            "{\"Name\":\r\n\"db_password\",\"Value\":\"S175x\"}",
            "S175x",
        ),
        ("Name:\n  - db_password\nValue: S90x", "S90x"),
        ("Name:\n  [db_password]\nValue: S91x", "S91x"),
        // Backslashes in bare words (Windows paths, stray escapes).
        (r#"name=DB_PASSWORD dir=C:\users\app value=S74y"#, "S74y"),
        (
            r#"{"Name": "db_password", "x": 1\2, "Value": "S128x"}"#,
            "S128x",
        ),
        (r#"Name=db_password Value=S131x\"#, "S131x"),
        (r#"path=C:\users value=S301x name=DB_PASSWORD"#, "S301x"),
        // Quotes never closed.
        (r#"name=DB_PASSWORD msg='oops value=S76x"#, "S76x"),
        (r#"he said "hi name=DB_PASSWORD value=S160x"#, "S160x"),
        (
            r#"msg="x" he said "hi" name=DB_PASSWORD "oops value=S167x"#,
            "S167x",
        ),
        (r#"{Name: db_password, note: 'oops, Value: S164x}"#, "S164x"),
        // Escaped or invisible characters in keys and names.
        (r#"{"Name": "db_password", "\u0056alue": "S9xx"}"#, "S9xx"),
        (r#"{"Name": "db_\u0070assword", "Value": "S10x"}"#, "S10x"),
        (r#"{"Name": ["db_\u0070assword"], "Value": "S11x"}"#, "S11x"),
        (
            r#"{"Name": "db_password\u200b", "Value": "S312x"}"#,
            "S312x",
        ),
        (r#"{"name\u0000": "db_password", "value": "S99x"}"#, "S99x"),
        (
            r#"{"name": "db_password", "value\u200b": "S101x"}"#,
            "S101x",
        ),
        (
            "{\"name\u{200b}\": \"db_password\", \"value\": \"S100x\"}",
            "S100x",
        ),
        // Form pairs, and an `&` inside a value.
        (r#"Name=db_password&Value=S161x"#, "S161x"),
        (r#"Value=S165x&Name=db_password"#, "S165x"),
        (r#"name=DB_PASSWORD value=p&ssS166x"#, "ssS166x"),
        // A prefix ending in a separator before the pairs (`INFO:`, `msg=`, a URL's scheme).
        (r#"INFO: Name=db_password Value=hunter2x"#, "hunter2x"),
        (r#"Parameter: Name=db_password, Value=hunter2x"#, "hunter2x"),
        (r#"env: name=DB_PASSWORD value=hunter2x"#, "hunter2x"),
        (r#"msg=name=DB_PASSWORD value=hunter2x"#, "hunter2x"),
        (
            r#"[ssm] GetParameter: Name=db_password Value=hunter2x"#,
            "hunter2x",
        ),
        (r#"{"msg": Name=db_password Value=hunter2x}"#, "hunter2x"),
        (r#"Name=db_password WARN: Value=hunter2x"#, "hunter2x"),
        (
            r#"GET https://ssm.local/get?Name=db_password&Value=hunter2x"#,
            "hunter2x",
        ),
        (r#"trace_id= name=DB_PASSWORD value=hunter2x"#, "hunter2x"),
        (
            "Parameter:\n  Name: /prod/db/password\n  Value: hunter2x",
            "hunter2x",
        ),
        (
            "Parameter:\n  Name: /prod/db/password\n  Type: SecureString\n  Value: hunter2x",
            "hunter2x",
        ),
        (
            r#"Parameter: Name: /prod/db/password Value: hunter2x"#,
            "hunter2x",
        ),
        // Ruby and PHP hashes.
        (
            r#"{'name'=>'DB_PASSWORD', 'value'=>'hunter2x'}"#,
            "hunter2x",
        ),
        (r#"{:name=>"DB_PASSWORD", :value=>"hunter2x"}"#, "hunter2x"),
        // A value with `:` inside braces is masked piece by piece, not dropped whole.
        (r#"{Name:db_password Value:admin:hunter2x}"#, "hunter2x"),
        (r#"{name=DB_PASSWORD, value=admin:hunter2x}"#, "hunter2x"),
        (r#"[name=DB_PASSWORD value=p:hunter2x]"#, "hunter2x"),
        // Pairs in a string of a JSON line, read as text of their own.
        (
            r#"{"level":"info","msg":"GetParameter name=DB_PASSWORD value=hunter2x"}"#,
            "hunter2x",
        ),
        (
            r#"{"level":"info","msg":"Name: db_password Value: hunter2x"}"#,
            "hunter2x",
        ),
        (
            r#"{"a":"name=DB_PASSWORD value=hunter2x","b":"name=API_TOKEN value=hunter3y"}"#,
            "hunter3y",
        ),
        (r#"INFO:root:Name=db_password Value=hunter2x"#, "hunter2x"),
        (r#"name=DB_PASSWORD' value='hunter2x'"#, "hunter2x"),
        // Pairs in a quoted string of a flat line.
        (r#"msg="Name=db_password Value=hunter2x""#, "hunter2x"),
        (
            r#"log: "set name=DB_PASSWORD value=hunter2x" ok"#,
            "hunter2x",
        ),
        // A stray bracket in a bare value does not cut the name from its value.
        (
            r#"Parameter(Name=db_password, Description=see 2), Value=hunter2x)"#,
            "hunter2x",
        ),
        (
            r#"map[Name:db_password Note:a] Value:hunter2x]"#,
            "hunter2x",
        ),
        // Single-letter escapes in names and keys are the controls they stand for.
        (
            r#"{"Name":"/prod/db/password\r\n","Value":"hunter2x"}"#,
            "hunter2x",
        ),
        (r#"{"Name":"DB_PASSWORD\n","Value":"hunter2x"}"#, "hunter2x"),
        (r#"{"Name":"db_password","Value\t":"hunter2x"}"#, "hunter2x"),
        // Escaped JSON at the text's own level, its value holding an escaped quote.
        (
            r#"{\"Name\":\"db_password\",\"Value\":\"hun\\\"ter2x\"}"#,
            "ter2x",
        ),
        (
            r#"{\"Value\":\"hun\\\"ter:2x\",\"Name\":\"db_password\"}"#,
            "ter:2x",
        ),
        // Empty fields before the pair, and a value starting with `&`.
        (
            r#"&{Name:db_password Type:SecureString Description: Value:hunter2x Version:1}"#,
            "hunter2x",
        ),
        (
            r#"{Description: Name:db_password Value:hunter2x}"#,
            "hunter2x",
        ),
        (r#"name=DB_PASSWORD note= value=hunter2x"#, "hunter2x"),
        (r#"note= name=DB_PASSWORD value=hunter2x"#, "hunter2x"),
        (r#"Name=db_password Value=&hunter2x"#, "hunter2x"),
        (r#"{Name: db_password, Value: &hunter2x}"#, "hunter2x"),
        (r#"Value=>hunter2x, Name=>/prod/db/password =>"#, "hunter2x"),
        (
            r#"Value='hunter2x'&\"Name\"=\"db_password\"{"a":1} "#,
            "hunter2x",
        ),
        // Escaped JSON at the text's own level.
        (r#"{\"Name\":\"db_password\",\"Value\":\"S120x\"}"#, "S120x"),
    ] {
        assert_masked(text, &[secret]);
    }
    // A name list of any length, the secret name last, either order.
    let long = "a".repeat(5000);
    assert_masked(
        &format!(r#"{{"Name": ["{long}", "db_password"], "Value": "S79x"}}"#),
        &["S79x"],
    );
    assert_masked(
        &format!(r#"{{"Value": "S80x", "Name": ["{long}", "db_password"]}}"#),
        &["S80x"],
    );
    // Values left alone: a name naming nothing secret, and words beside the pairs.
    assert_clean(r#"name=host value=db.internal:5432 note=ok"#);
    // A line ending in a secret word does not make the next line's first character a value.
    let line = "Refreshing token\n::1 - - [05/Dec/2026:18:00:00 +0000] \"GET / HTTP/1.1\" 200";
    assert_eq!(redacted(line), line);
    // A name inside a string names the object around it too: quotes pair up by guesswork in
    // text, and a value too many is the failure to prefer.
    let out = redacted(r#"{"msg":"name=DB_PASSWORD value=pw-2","value":"masked-1"}"#);
    assert!(!out.contains("masked-1") && !out.contains("pw-2"), "{out}");
    let out = redacted(
        r#"{"Name": "/a/host", "Value": "db1", "inner": {"Name": "/a/password", "Value": "pw-1"}}"#,
    );
    assert!(out.contains(r#""Value": "db1""#), "{out}");
    assert!(!out.contains("pw-1"), "{out}");
}

#[test]
fn credentials_in_text() {
    // URL user info: the password only.
    let out = redacted("dsn mysql://root:S3cretPassw0rd@db:3306/app ok");
    assert_eq!(out, "dsn mysql://root:[REDACTED:SECRET]@db:3306/app ok");
    let out = redacted("redis://:p4ss@cache.example.com:6379");
    assert_eq!(out, "redis://:[REDACTED:SECRET]@cache.example.com:6379");
    assert_clean("see https://example.com:8443/path?q=1");
    // Cookies.
    let out = redacted("Set-Cookie: sid=Qw3rTy8uIoP1aSdFgHjK; Path=/; HttpOnly");
    assert_eq!(out, "Set-Cookie: sid=[REDACTED:SECRET]; Path=/; HttpOnly");
    assert_masked(
        r#"{"headers":{"cookie":"theme=dark; JSESSIONID=ABCDEF0123456789; csrftoken=tok123"}}"#,
        &["ABCDEF0123456789", "tok123"],
    );
    assert!(redacted("Cookie: theme=dark; lang=en").contains("theme=dark; lang=en"));
    // Private keys, whole, multi-line or escaped; certificates stay.
    let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU\n-----END OPENSSH PRIVATE KEY-----";
    assert_eq!(
        redacted(&format!("k {key} end")),
        "k [REDACTED:PRIVATE_KEY] end"
    );
    let escaped = serde_json::json!({ "message": key }).to_string();
    assert_masked(&escaped, &["b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"]);
    assert_masked(
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAcut",
        &["MIIEowIBAAKCAQEAcut"],
    );
    assert_clean("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----");
    // The secret access key beside its key id, masked or not.
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    assert_masked(&format!("key AKIAIOSFODNN7EXAMPLE and {secret}"), &[secret]);
    assert_masked(
        &format!("key [REDACTED:AWS_ACCESS_KEY] and {secret}"),
        &[secret],
    );
    assert_masked(&format!("aws_secret_access_key={secret}"), &[secret]);
    assert_clean("sha da39a3ee5e6b4b0d3255bfef95601890afd80709 ok");
    // Provider tokens by prefix.
    for token in [
        "ghp_0123456789abcdefghijABCDEFGHIJ012345",
        "ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ",
        "xoxb-1234567890-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
        "glpat-xxxxXXXX1234yyyyZZZZ",
        "AIzaSyA1234567890abcdefghijklmnopqrstuv",
    ] {
        assert_eq!(
            only(&format!("token {token} used")),
            Some((PiiKind::ProviderToken, token.to_owned())),
            "{token}"
        );
    }
    assert_clean("ghp_short and sk_live_ and xoxb-");
    // A card grouped by dots; versions and addresses stay.
    assert_eq!(
        only("paid with 4111.1111.1111.1111 today"),
        Some((PiiKind::Card, "4111.1111.1111.1111".to_owned()))
    );
    assert_clean("version 2024.1111.2222.3333 and 10.0.0.1");
}

/// Shapes an attacker's read of the first version found: each leaked a value whole.
#[test]
fn wrapped_bracketed_and_block_values() {
    for (text, secret) in [
        (
            r#"Url { username: "app", password: Some("pg-hunter2-secret"), host: Some("db") }"#,
            "pg-hunter2-secret",
        ),
        (
            r#"{"password": String("hunter2-secret-pw"), "phone": String("4155552671")}"#,
            "hunter2-secret-pw",
        ),
        (r#"{"phone": String("4155552671")}"#, "4155552671"),
        (
            r#"{"Name": String("/prod/db/password"), "Value": String("pg-secret-value")}"#,
            "pg-secret-value",
        ),
        (
            r#"{"credentials": Object {"current": String("cur-secret-123")}}"#,
            "cur-secret-123",
        ),
        (r#"password: Password("secret-pw-42")"#, "secret-pw-42"),
        (r#"{'password': b'bytes-secret-9'}"#, "bytes-secret-9"),
        (r#"'password' => 'php-secret-77'"#, "php-secret-77"),
        (r#"{:password=>"ruby-secret-88"}"#, "ruby-secret-88"),
        (
            "map[password:map[current:go-secret-1 previous:letmein-old-pw]]",
            "letmein-old-pw",
        ),
        (
            "Authorization: Token 9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b",
            "9944b09199c62bcf",
        ),
        (
            "authorization: ApiKey k-1234567890abcdef",
            "k-1234567890abcdef",
        ),
        (
            r#"Authorization: Digest username="u", response="6629fae49393a05397450978507c4ef1""#,
            "6629fae49393a053",
        ),
        (
            "user[email]=bob&user[password]=hunter2-secret-pw&commit=Sign+in",
            "hunter2-secret-pw",
        ),
        ("user%5Bpassword%5D=hunter2-secret-pw", "hunter2-secret-pw"),
        ("tokens[]=tok-secret-123456", "tok-secret-123456"),
        (
            r#"{"API Key": "spaced-key-secret-1"}"#,
            "spaced-key-secret-1",
        ),
        ("password:\thunter2-tabbed", "hunter2-tabbed"),
        (
            "private_key: |\n  MIIEpAIBAAKCAQEA1234\n  abcdefghijk\nnext: 1",
            "MIIEpAIBAAKCAQEA1234",
        ),
        (
            "password:\n  hunter2-on-next-line\nuser: bob",
            "hunter2-on-next-line",
        ),
        (
            r#"{"pass\u0077ord":"escaped-key-secret"}"#,
            "escaped-key-secret",
        ),
        (
            "Cookie: sessionid=\"abcdef123456secret\"; theme=dark",
            "abcdef123456secret",
        ),
        (
            r#"{"cookies":["connect.sid=s%3Asecretvalue3.sig"],"x":1}"#,
            "s%3Asecretvalue3",
        ),
        (
            "Set-Cookie: sid=abc123first; Path=/, token=xyz789secret2; Path=/",
            "xyz789secret2",
        ),
        ("card_4111111111111111", "4111111111111111"),
        ("SSN: 123 45 6789", "123 45 6789"),
        ("ssn: 123.45.6789", "123.45.6789"),
        (
            r#"{"SecretString":"plain-s3cr3t-value-xyz","Name":"prod/app"}"#,
            "plain-s3cr3t-value-xyz",
        ),
        (
            "AKIAIzaSyA1234567890abcdefghijklmnopqrstuv",
            "SyA1234567890abcdefghijk",
        ),
    ] {
        assert_masked(text, &[secret]);
    }
    // What the cookie header holds besides its cookies is read too.
    assert_masked(
        "Cookie: sessionid=abc123456789; theme=dark; card 4111 1111 1111 1111",
        &["abc123456789", "4111 1111 1111 1111"],
    );
    // A preview cut inside a number.
    assert_masked(r#"{"user":"a","card_number":41111111111"#, &["41111111111"]);
    assert_masked(
        r#"[{"user":"a","card_number":41111111111..."#,
        &["41111111111"],
    );
    // A stray quote in prose does not cut a single-quoted secret short.
    assert_masked(
        r#"5" screen password='it"s-secret-value' session token=abcdefgh12345"#,
        &["s-secret-value", "abcdefgh12345"],
    );
}

/// A JSON log line stays JSON, whatever its fields hold.
#[test]
fn json_lines_stay_json() {
    for line in [
        r#"{"card":4111111111111111,"level":"INFO"}"#,
        r#"{"phone":4155552671}"#,
        r#"{"message":"missing password:","target":"x"}"#,
        r#"{"reason":"no Authorization:","target":"x"}"#,
        r#"{"message":"bad token=","target":"x"}"#,
        r#"{"message":"credentials: [","target":"x"}"#,
        r#"{"preview":"password: 'abc","user":"O'Brien"}"#,
        r#"{"message":"Cookie: sid=abc123456","level":"INFO"}"#,
        r#"{"span":{"card":4111111111111111},"message":"x"}"#,
    ] {
        let out = redacted(line);
        assert!(
            serde_json::from_str::<serde_json::Value>(&out).is_ok(),
            "{line} became {out}"
        );
        assert!(
            !out.contains("4111111111111111") && !out.contains("4155552671"),
            "{out}"
        );
        assert!(!out.contains("abc123456"), "{out}");
    }
    assert_eq!(
        redacted(r#"{"card":4111111111111111,"n":1}"#),
        r#"{"card":"****-****-****-1111","n":1}"#
    );
}

/// Text that repeats a trigger thousands of times costs time in proportion to its length (each
/// of these took seconds at 128 KB when every trigger re-read the rest of the text).
#[test]
fn repeated_triggers_cost_linear_time() {
    let started = std::time::Instant::now();
    for unit in [
        "name=pwd ",
        "cookie:a=b;",
        "AIza",
        "xoxb-",
        "password=[",
        "eyJ",
        "AKIAIOSFODNN7EXAMPLE/",
        "key=pwd ",
        "\"Name\":\"/a/password\",\"Value\":\"x\"},{",
        "\"Name\":[\"/a/password\",",
        "name=[",
        "Name=[pwd ",
        "name=pwd \\x ",
        "\"Name\":\"pwd\",",
    ] {
        let text = unit.repeat(128 * 1024 / unit.len());
        let _ = redacted(&text);
    }
    // Triggers after a stretch that stops a reader (a backslash, many members), and nested
    // name lists cut short.
    for text in [
        format!("{}\\x {}", "a ".repeat(32768), "name=pwd ".repeat(7000)),
        format!("{}\\x {}", "a ".repeat(40000), "name=pwd \\x ".repeat(5000)),
        format!(
            "{{{}\"b\":1\\2,{}}}",
            "\"a\":1,".repeat(10000),
            "\"Name\":\"pwd\",".repeat(5000)
        ),
        format!("{}{}", "name=[".repeat(20000), "\\\\".repeat(64)),
        format!(
            "{{\"m\":\"{}{}\"}}",
            "Name=[pwd ".repeat(12000),
            "\\\\".repeat(64)
        ),
        "key=".repeat(32768),
        "Name=".repeat(26214),
        "password=".repeat(14563),
        format!("Name=pwd {}{}", "(val=".repeat(13100), "v ".repeat(32750)),
        // A stray quote before a separator, then many values; a long key before them.
        format!("Name=pwd \": {}é", "v ".repeat(65530)),
        format!("Name=pwd \"{}\": {}", "é".repeat(32000), "v ".repeat(32000)),
        format!(
            "Name=pwd \"{}\": {}",
            "a\\".repeat(32000),
            "v ".repeat(32000)
        ),
        "\\\"Name\\\":\\\"pwd\\\" \\\"".repeat(8192),
    ] {
        let _ = redacted(&text);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "took {:?}",
        started.elapsed()
    );
}

/// Text the screen lets through without running the detectors is text in which no detector
/// finds anything: random texts of words and separators, credential patterns whole and cut, and
/// pieces that hold a finding (digits, `:`, `=`, `@`, quotes, escapes), which only the screen's
/// bytes keep out.
#[test]
fn text_without_triggers_holds_no_finding() {
    let mut patterns: Vec<String> = credential::patterns().map(str::to_owned).collect();
    for pattern in credential::patterns() {
        for cut in 1..pattern.len() {
            patterns.push(pattern[..cut].to_owned());
            patterns.push(pattern[cut..].to_owned());
        }
    }
    let words = [
        "Jane",
        "Doe",
        "password ",
        "ssn ",
        "card ",
        "phone ",
        "Main St",
        " ",
        "-",
        "_",
        ".",
        "/",
        "+",
        "é",
        "a",
        "Z",
        "\n",
        "\t",
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        ",",
        "#",
    ];
    let findings = [
        "4111111111111111",
        "415-555-2671",
        "jo@mail.org",
        "password=hunter",
        "password: hunter",
        "https://u:p@h.io",
        "\"open",
        "\\\"open",
        "pass\\u0077ord=x",
        "\\u0034111111111111111",
    ];
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    let (mut screened, mut tried) = (0, 0);
    for _ in 0..100_000 {
        let mut text = String::new();
        for _ in 0..rng.usize(1..=10) {
            match rng.u8(..10) {
                0 => text.push_str(&patterns[rng.usize(..patterns.len())]),
                1 => text.push_str(findings[rng.usize(..findings.len())]),
                _ => text.push_str(words[rng.usize(..words.len())]),
            }
        }
        tried += 1;
        if !scan::holds_no_trigger(text.as_bytes()) {
            continue;
        }
        screened += 1;
        for label in [
            None,
            Some(Label::Ssn),
            Some(Label::Card),
            Some(Label::Phone),
        ] {
            let mut found = Vec::new();
            strings::find_level(text.as_bytes(), label, 0, &mut found);
            assert!(found.is_empty(), "{text:?} {label:?}: {found:?}");
        }
    }
    assert!(
        screened > 10_000 && screened < tried,
        "{screened} of {tried}"
    );
}
