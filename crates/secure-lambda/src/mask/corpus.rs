//! A generated leak corpus: valid PII and credentials embedded in the shapes careless and
//! hostile callers produce, and a clean corpus of look-alikes (test and bench support; the
//! `testing` feature).
//!
//! Every case is generated from a seed, so a failure reproduces. A [`Case`] carries the value in
//! two forms, free text (for log lines) and a JSON record (for JSON masking), and the substrings
//! that must not survive masking: the whole value, the part its mask does not keep (all of a
//! secret, all but the last four digits of a card), and for secrets every 8-character window, so
//! that a value masked only in part is a leak too. [`leaks`] checks an output as its reader reads
//! it: raw, and every string inside it decoded, however deep.

use fastrand::Rng;
use serde_json::{json, Value};

/// One generated case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Which value and shape, for failure messages.
    pub shape: String,
    /// The value in free text, as a log message or field would hold it.
    pub text: String,
    /// The value in a JSON record, as an API payload would hold it.
    pub record: Value,
    /// Substrings that must appear in no view of a masked output.
    pub secrets: Vec<String>,
}

/// A sensitive value: how it is written, what kind of key would hold it, and what must not
/// survive its masking.
#[derive(Debug, Clone)]
struct Sensitive {
    kind: &'static str,
    written: String,
    /// Label spellings for PII, key names for secrets.
    labels: &'static [&'static str],
    must_not_survive: Vec<String>,
    /// True when the value is only sensitive because of its key (a random token).
    needs_key: bool,
    /// True when only a label makes the value a candidate (a bare 9- or 10-digit number).
    needs_label: bool,
}

const SSN_LABELS: &[&str] = &[
    "SSN",
    "ssn",
    "Ssn",
    "social security",
    "social_security_number",
    "ssn_no",
    "taxpayerId",
];
const ITIN_LABELS: &[&str] = &["ITIN", "itin", "TIN", "taxpayerId"];
const CARD_LABELS: &[&str] = &[
    "card",
    "Card",
    "CARD",
    "cc",
    "CC",
    "pan",
    "PAN",
    "card_number",
    "creditCard",
    "cardNo",
];
const PHONE_LABELS: &[&str] = &[
    "phone",
    "Phone",
    "PHONE",
    "tel",
    "Tel",
    "mobile",
    "cell",
    "fax",
    "phone_number",
    "mobilePhone",
];
const EMAIL_LABELS: &[&str] = &["email", "Email", "mail", "e-mail", "contact"];
const IBAN_LABELS: &[&str] = &["iban", "IBAN", "account", "payTo"];
const SECRET_KEYS: &[&str] = &[
    "password",
    "Password",
    "PASSWORD",
    "db_password",
    "dbPassword",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "clientSecret",
    "token",
    "access_token",
    "refreshToken",
    "api_key",
    "apiKey",
    "X-Api-Key",
    "authorization",
    "Authorization",
    "private_key",
    "credentials",
    "passphrase",
    "session_key",
    "SecretAccessKey",
    "aws_secret_access_key",
    "auth",
];
const CREDENTIAL_LABELS: &[&str] = &["value", "data", "note", "config", "env", "line"];

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn random_from(rng: &mut Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
        .collect()
}

/// A random secret with at least one digit and both cases, as generated credentials are.
fn token(rng: &mut Rng, len: usize) -> String {
    loop {
        let candidate = random_from(rng, ALNUM, len);
        let mixed = candidate.bytes().any(|b| b.is_ascii_digit())
            && candidate.bytes().any(|b| b.is_ascii_lowercase())
            && candidate.bytes().any(|b| b.is_ascii_uppercase());
        if mixed {
            return candidate;
        }
    }
}

/// Every `width`-character window of `value` (the value itself when shorter).
fn windows(value: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= width {
        return vec![value.to_owned()];
    }
    chars.windows(width).map(|w| w.iter().collect()).collect()
}

fn luhn_complete(rng: &mut Rng, prefix: &str, len: usize) -> String {
    let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while digits.len() < len - 1 {
        digits.push(rng.u8(..10));
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    digits.push(u8::try_from((10 - sum % 10) % 10).unwrap_or(0));
    digits.iter().map(|d| char::from(b'0' + d)).collect()
}

/// The part of a written number that its lab mask does not keep: all but its last `kept`
/// digits, as written.
fn without_last_digits(written: &str, kept: usize) -> String {
    let mut seen = 0;
    let cut = written
        .char_indices()
        .rev()
        .find(|(_, c)| {
            if c.is_ascii_digit() {
                seen += 1;
            }
            seen == kept
        })
        .map_or(0, |(i, _)| i);
    written[..cut]
        .trim_end_matches(|c: char| !c.is_ascii_digit())
        .to_owned()
}

fn pii(
    kind: &'static str,
    written: String,
    labels: &'static [&'static str],
    kept: usize,
    needs_label: bool,
) -> Sensitive {
    let prefix = without_last_digits(&written, kept);
    let mut must_not_survive = vec![written.clone()];
    // A short run of bare digits turns up in timestamps by chance: check prefixes that are
    // distinctive (a separator in them, or eight digits and more).
    let distinctive =
        prefix.len() >= 8 || (prefix.len() >= 6 && !prefix.bytes().all(|b| b.is_ascii_digit()));
    if distinctive {
        must_not_survive.push(prefix);
    }
    Sensitive {
        kind,
        written,
        labels,
        must_not_survive,
        needs_key: false,
        needs_label,
    }
}

fn email(rng: &mut Rng) -> Sensitive {
    let local_len = rng.usize(8..14);
    let mut local = random_from(rng, LOWER, local_len);
    match rng.u8(..4) {
        0 => local.insert(3, '.'),
        1 => local.insert(4, '\''),
        2 => local.push_str("+tag"),
        _ => {}
    }
    let domain = pick(
        rng,
        &[
            "example.com",
            "mail.example.org",
            "corp.example.co.uk",
            "ex-ample.io",
        ],
    );
    let written = format!("{local}@{domain}");
    // The lab format keeps the first and last character of the local part.
    let middle: String = {
        let chars: Vec<char> = local.chars().collect();
        chars[1..chars.len() - 1].iter().collect()
    };
    Sensitive {
        kind: "email",
        written: written.clone(),
        labels: EMAIL_LABELS,
        must_not_survive: vec![written, middle],
        needs_key: false,
        needs_label: false,
    }
}

fn phone(rng: &mut Rng) -> Sensitive {
    let area = loop {
        let a = rng.u16(200..1000);
        if a % 100 != 11 {
            break a;
        }
    };
    let exchange = loop {
        let e = rng.u16(200..1000);
        if e % 100 != 11 {
            break e;
        }
    };
    let line = rng.u16(..10_000);
    if rng.u8(..8) == 0 {
        return pii(
            "phone",
            format!("{area}{exchange}{line:04}"),
            PHONE_LABELS,
            2,
            true,
        );
    }
    let written = match rng.u8(..7) {
        0 => format!("{area}-{exchange}-{line:04}"),
        1 => format!("({area}) {exchange}-{line:04}"),
        2 => format!("{area}.{exchange}.{line:04}"),
        3 => format!("+1-{area}-{exchange}-{line:04}"),
        4 => format!("+1{area}{exchange}{line:04}"),
        5 => format!("1 {area} {exchange} {line:04}"),
        _ => format!("{area} {exchange} {line:04}"),
    };
    pii("phone", written, PHONE_LABELS, 2, false)
}

fn ssn(rng: &mut Rng) -> Sensitive {
    let area = loop {
        let a = rng.u16(1..900);
        if a != 666 {
            break a;
        }
    };
    let group = rng.u8(1..100);
    let serial = rng.u16(1..10_000);
    if rng.u8(..5) == 0 {
        let bare = format!("{area:03}{group:02}{serial:04}");
        return pii("ssn", bare, SSN_LABELS, 4, true);
    }
    let written = format!("{area:03}-{group:02}-{serial:04}");
    pii("ssn", written, SSN_LABELS, 4, false)
}

fn itin(rng: &mut Rng) -> Sensitive {
    let group = *pick(rng, &[50u8, 57, 65, 70, 78, 88, 90, 92, 94, 99]);
    let written = format!("9{:02}-{group}-{:04}", rng.u8(..100), rng.u16(..10_000));
    pii("itin", written, ITIN_LABELS, 4, false)
}

fn card(rng: &mut Rng) -> Sensitive {
    let (prefix, len) = *pick(
        rng,
        &[
            ("4", 16),
            ("4", 13),
            ("51", 16),
            ("55", 16),
            ("2221", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("35", 16),
            ("62", 16),
            ("36", 14),
            ("1", 15),
        ],
    );
    let prefix = if prefix == "35" { "3530" } else { prefix };
    let digits = luhn_complete(rng, prefix, len);
    let written = match (len, rng.u8(..4)) {
        (16, 0) => digits
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" "),
        (16, 1) => digits
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("-"),
        (16, 2) => digits
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("."),
        (15, 0) if prefix.starts_with('3') => {
            format!("{} {} {}", &digits[..4], &digits[4..10], &digits[10..])
        }
        _ => digits,
    };
    pii("card", written, CARD_LABELS, 4, false)
}

fn iban(rng: &mut Rng) -> Sensitive {
    // Real check digits: compute them for a random German or British account.
    let (country, body) = if rng.bool() {
        ("DE", random_from(rng, b"0123456789", 18))
    } else {
        (
            "GB",
            format!(
                "{}{}",
                random_from(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4),
                random_from(rng, b"0123456789", 14)
            ),
        )
    };
    let rearranged = format!("{body}{country}00");
    let mut remainder = 0u32;
    for b in rearranged.bytes() {
        let value = if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A') + 10
        };
        remainder = if value >= 10 {
            (remainder * 100 + value) % 97
        } else {
            (remainder * 10 + value) % 97
        };
    }
    let check = 98 - remainder;
    let compact = format!("{country}{check:02}{body}");
    let written = if rng.bool() {
        compact
            .as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        compact.clone()
    };
    Sensitive {
        kind: "iban",
        must_not_survive: vec![written.clone(), compact[4..].to_owned()],
        written,
        labels: IBAN_LABELS,
        needs_key: false,
        needs_label: false,
    }
}

/// A value that only its key names secret.
fn keyed_secret(rng: &mut Rng) -> Sensitive {
    let len = rng.usize(12..28);
    let mut value = token(rng, len);
    if rng.u8(..4) == 0 {
        value.insert(
            rng.usize(1..len),
            *pick(rng, &['-', '_', '!', '.', '@', '#', '%']),
        );
    }
    Sensitive {
        kind: "secret",
        must_not_survive: windows(&value, 8),
        written: value,
        labels: SECRET_KEYS,
        needs_key: true,
        needs_label: false,
    }
}

/// A credential whose shape names it.
fn credential(rng: &mut Rng) -> Sensitive {
    let (kind, written) = match rng.u8(..8) {
        0 => (
            "github",
            format!(
                "{}_{}",
                pick(rng, &["ghp", "gho", "ghu", "ghs", "ghr"]),
                random_from(rng, ALNUM, 36)
            ),
        ),
        1 => (
            "slack",
            format!(
                "{}-{}-{}-{}",
                pick(rng, &["xoxb", "xoxp", "xoxa"]),
                random_from(rng, b"0123456789", 12),
                random_from(rng, b"0123456789", 13),
                random_from(rng, ALNUM, 24)
            ),
        ),
        2 => {
            let len = rng.usize(24..100);
            (
                "stripe",
                format!(
                    "{}_{}",
                    pick(rng, &["sk_live", "sk_test", "rk_live"]),
                    random_from(rng, ALNUM, len)
                ),
            )
        }
        3 => ("gitlab", format!("glpat-{}", random_from(rng, ALNUM, 20))),
        4 => ("google", format!("AIza{}", random_from(rng, ALNUM, 35))),
        5 => (
            "jwt",
            format!(
                "eyJ{}.eyJ{}.{}",
                random_from(rng, ALNUM, 20),
                random_from(rng, ALNUM, 30),
                random_from(rng, ALNUM, 43)
            ),
        ),
        6 => ("npm", format!("npm_{}", random_from(rng, ALNUM, 36))),
        _ => ("bearer", format!("Bearer {}", token(rng, 32))),
    };
    let secret_part = written.trim_start_matches("Bearer ").to_owned();
    Sensitive {
        kind,
        must_not_survive: windows(&secret_part, 8),
        written,
        labels: CREDENTIAL_LABELS,
        needs_key: false,
        needs_label: false,
    }
}

fn private_key(rng: &mut Rng) -> Sensitive {
    let label = *pick(
        rng,
        &[
            "RSA PRIVATE KEY",
            "OPENSSH PRIVATE KEY",
            "EC PRIVATE KEY",
            "PRIVATE KEY",
            "ENCRYPTED PRIVATE KEY",
        ],
    );
    let lines: Vec<String> = (0..rng.usize(2..6))
        .map(|_| random_from(rng, BASE64, 64))
        .collect();
    let body = lines.join("\n");
    let written = format!("-----BEGIN {label}-----\n{body}\n-----END {label}-----");
    Sensitive {
        kind: "private-key",
        must_not_survive: lines
            .iter()
            .flat_map(|l| windows(l, 12))
            .step_by(7)
            .collect(),
        written,
        labels: CREDENTIAL_LABELS,
        needs_key: false,
        needs_label: false,
    }
}

fn aws_key_pair(rng: &mut Rng) -> (String, String) {
    let id = format!(
        "{}{}",
        pick(rng, &["AKIA", "ASIA"]),
        random_from(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)
    );
    let secret = loop {
        let s = random_from(rng, BASE64, 40);
        if s.bytes().any(|b| b.is_ascii_lowercase()) && s.bytes().any(|b| b.is_ascii_uppercase()) {
            break s;
        }
    };
    (id, secret)
}

fn sensitive(rng: &mut Rng) -> Sensitive {
    match rng.u8(..20) {
        0..=1 => email(rng),
        2..=4 => phone(rng),
        5..=6 => ssn(rng),
        7 => itin(rng),
        8..=10 => card(rng),
        11 => iban(rng),
        12..=15 => keyed_secret(rng),
        16..=18 => credential(rng),
        _ => private_key(rng),
    }
}

/// Text before and after a value that must not hide it.
const BEFORE: &[&str] = &[
    "", " ", "(", "[", "<", "'", "\"", "\t", "\n", "at ", "is ", "->", "|", "x ",
];
const AFTER: &[&str] = &[
    "", " ", ")", "]", ".", ",", ";", "\n", "\t", "!", "'", "\"", " ok", ">",
];
/// Between a label and its value.
const LABEL_SEPARATORS: &[&str] = &[
    ":", ": ", "=", " = ", "#", "-", "/", "", " ", "\": \"", ":\t", "\n",
];
/// Between a secret key and its value.
const KEY_SEPARATORS: &[&str] = &[":", ": ", "=", " = ", "\":\"", "\": \"", "='", ": '"];

/// The value in free text, in one of the shapes logs hold it.
fn text_shape(rng: &mut Rng, value: &Sensitive) -> (String, &'static str) {
    let v = &value.written;
    if value.needs_key {
        let key = pick(rng, value.labels);
        return match rng.u8(..20) {
            0 => (
                format!("{key}{}{v}", pick(rng, KEY_SEPARATORS)),
                "key-value",
            ),
            1 => (format!("{{\"{key}\":\"{v}\"}}"), "json-pair"),
            2 => (
                format!("{{\"{key}\":{{\"current\":\"{v}\",\"rotated\":true}}}}"),
                "json-nested-under-key",
            ),
            3 => (
                format!("{{\"{key}\":[\"{v}\",{{\"old\":\"{v}\"}}]}}"),
                "json-array-under-key",
            ),
            4 => (format!("user=bob {key}={v} status=ok"), "logfmt"),
            5 => (
                format!(
                    "{{\"Name\":\"/prod/app/{}\",\"Type\":\"SecureString\",\"Value\":\"{v}\"}}",
                    key.to_ascii_lowercase()
                ),
                "ssm-name-value",
            ),
            6 => (
                format!(
                    "[{{\"name\":\"APP_{}\",\"value\":\"{v}\"}}]",
                    key.to_ascii_uppercase().replace('-', "_")
                ),
                "env-name-value",
            ),
            7 => (
                format!(
                    "{{\"ParameterValue\":\"{v}\",\"ParameterKey\":\"Db{}\"}}",
                    capitalize(key)
                ),
                "cfn-value-first",
            ),
            8 => (
                format!(
                    "Set-Cookie: {}={v}; Path=/; HttpOnly",
                    pick(
                        rng,
                        &["sid", "session", "JSESSIONID", "auth_token", "connect.sid"]
                    )
                ),
                "set-cookie",
            ),
            9 => (
                format!(
                    "Cookie: theme=dark; {}={v}",
                    pick(rng, &["sessionid", "PHPSESSID", "csrftoken", "remember_me"])
                ),
                "cookie",
            ),
            10 => (
                format!(
                    "dsn {}://{}:{v}@db.internal:5432/app",
                    pick(rng, &["postgres", "mysql", "redis", "mongodb+srv", "amqp"]),
                    pick(rng, &["root", "app_user", "admin"])
                ),
                "url-userinfo",
            ),
            11 => (
                format!("{key}={{'current': '{v}', 'next': null}}"),
                "python-repr-under-key",
            ),
            12 => (
                format!("Url {{ {key}: Some(\"{v}\"), host: Some(\"db\") }}"),
                "debug-some",
            ),
            13 => (
                format!("{{\"{key}\": String(\"{v}\"), \"n\": Number(1)}}"),
                "debug-json-value",
            ),
            14 => (
                format!("user[email]=bob&user[{key}]={v}&commit=Sign+in"),
                "form-brackets",
            ),
            15 => (
                format!("config:\n  {key}:\n    {v}\n  region: x"),
                "yaml-next-line",
            ),
            16 => (
                format!(
                    "Authorization: {} {v}",
                    pick(rng, &["Token", "ApiKey", "Bearer", "Basic", "Custom"])
                ),
                "authorization-scheme",
            ),
            17 => (
                format!(
                    "{{\"cookies\":[\"lang=en\",\"{}={v}\"]}}",
                    pick(rng, &["sid", "session", "auth"])
                ),
                "cookies-array",
            ),
            18 => (
                format!(
                    "{{\"Value\":\"{v}\",\"Name\":[\"/prod/app/host\",\"/prod/app/{}\"]}}",
                    key.to_ascii_lowercase()
                ),
                "name-list-after-value",
            ),
            _ => (format!("'{key}' => '{v}'"), "php-arrow"),
        };
    }
    let label = pick(rng, value.labels);
    // A credential's shape names it; glued to a word with nothing between, it is no longer one.
    let separator = loop {
        let separator = *pick(rng, LABEL_SEPARATORS);
        if !separator.is_empty() || value.labels != CREDENTIAL_LABELS {
            break separator;
        }
    };
    let shape = if value.needs_label {
        *pick(rng, &[0u8, 1, 4, 5, 6])
    } else {
        rng.u8(..8)
    };
    match shape {
        0 | 1 => (format!("{label}{separator}{v}"), "labelled"),
        2 | 3 => (
            format!("{}{v}{}", pick(rng, BEFORE), pick(rng, AFTER)),
            "bare",
        ),
        4 => (format!("customer {label}: {v} (verified)"), "prose"),
        5 => (format!("line one\n{label}={v}\nline three"), "multi-line"),
        6 => (
            format!("{{\"{label}\":\"{v}\",\"note\":\"x\"}}"),
            "json-pair",
        ),
        _ => (v.clone(), "alone"),
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

/// The value in a JSON record, in one of the shapes API payloads hold it.
fn record_shape(rng: &mut Rng, value: &Sensitive, text: &str) -> (Value, &'static str) {
    let v = value.written.clone();
    let key = (*pick(rng, value.labels)).to_owned();
    match rng.u8(..9) {
        0 => (json!({ "id": "c-1", key: v }), "record-field"),
        1 => (json!({ "id": "c-1", "note": text }), "record-text"),
        2 => (
            json!({ "profile": { "contact": { key: v } }, "tags": ["a"] }),
            "record-nested",
        ),
        3 => (
            json!({ "payload": json!({ key: v, "n": 1 }).to_string() }),
            "record-double-encoded",
        ),
        4 => (
            json!({ "history": [ { "entry": text } ] }),
            "record-array-text",
        ),
        5 => (
            json!({ "Parameters": [ { "Name": "/prod/app/host", "Value": "db.internal" }, { "Name": format!("/prod/app/{}", if value.needs_key { key.to_ascii_lowercase() } else { "password".to_owned() }), "Value": v } ] }),
            "record-name-value",
        ),
        6 => (
            json!({ "password": { "current": v, "history": [ { "v": text } ] } }),
            "record-under-secret",
        ),
        7 => (
            json!({ "blob": json!({ "inner": json!({ "k": text }).to_string() }).to_string() }),
            "record-triple-encoded",
        ),
        _ => {
            // A number stored as a number under its label.
            let digits: String = v.chars().filter(char::is_ascii_digit).collect();
            match (value.needs_key, digits.parse::<u64>()) {
                (false, Ok(n))
                    if (value.kind == "card" || value.kind == "phone")
                        && digits.len() == v.len() =>
                {
                    (json!({ key: n }), "record-number")
                }
                _ => (json!({ "id": "c-1", key: v }), "record-field"),
            }
        }
    }
}

/// The value in a JSON document cut inside its string, as a bounded log preview cuts it: what
/// is left of the value must not survive.
fn truncated(rng: &mut Rng, value: &Sensitive) -> Option<(String, String)> {
    let key = pick(rng, value.labels);
    let document = json!([{ "user": "u-1", *key: value.written.clone() }]).to_string();
    let start = document.find(value.written.as_str())?;
    let keep = rng.usize(8..=value.written.len().max(8));
    let cut = (start + keep).min(document.len());
    if !document.is_char_boundary(cut) {
        return None;
    }
    let left = document[start..cut].to_owned();
    (left.chars().count() >= 8).then(|| (format!("{}...", &document[..cut]), left))
}

/// A case: one sensitive value in one text shape and one record shape.
pub fn case(rng: &mut Rng) -> Case {
    let value = match rng.u8(..16) {
        0 => {
            // An access key id with its secret key.
            let (id, secret) = aws_key_pair(rng);
            let text = match rng.u8(..4) {
                0 => format!("key {id} and {secret}"),
                1 => {
                    format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {secret}")
                }
                2 => format!("{{\"AccessKeyId\":\"{id}\",\"SecretAccessKey\":\"{secret}\"}}"),
                _ => format!("creds [REDACTED:AWS_ACCESS_KEY]:{secret}"),
            };
            let mut secrets = windows(&secret, 8);
            secrets.push(id.clone());
            return Case {
                shape: "aws-key-pair".into(),
                record: json!({ "note": text.clone(), "AccessKeyId": id, "SecretAccessKey": secret }),
                text,
                secrets,
            };
        }
        1 => {
            // A cut preview.
            let value = sensitive(rng);
            if let Some((text, left)) = truncated(rng, &value) {
                let mut secrets = value.must_not_survive.clone();
                secrets.retain(|s| text.contains(s.as_str()));
                if left.chars().count() >= 8 {
                    secrets.push(left);
                }
                return Case {
                    shape: format!("{}/truncated", value.kind),
                    record: json!({ "preview": text.clone() }),
                    text,
                    secrets,
                };
            }
            value
        }
        _ => sensitive(rng),
    };
    let (text, text_shape_name) = text_shape(rng, &value);
    let (record, record_shape_name) = record_shape(rng, &value, &text);
    Case {
        shape: format!("{}/{text_shape_name}/{record_shape_name}", value.kind),
        text,
        record,
        secrets: value.must_not_survive,
    }
}

/// Look-alikes that must come out unchanged.
pub fn clean_case(rng: &mut Rng) -> Case {
    let hex = |rng: &mut Rng, n: usize| random_from(rng, b"0123456789abcdef", n);
    let text = match rng.u8(..24) {
        0 => format!(
            "2026-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            rng.u8(1..13),
            rng.u8(1..29),
            rng.u8(..24),
            rng.u8(..60),
            rng.u8(..60),
            rng.u32(..1_000_000)
        ),
        1 => format!(
            "{}-{}-4{}-a{}-{}",
            hex(rng, 8),
            hex(rng, 4),
            hex(rng, 3),
            hex(rng, 3),
            hex(rng, 12)
        ),
        2 => format!(
            "version {}.{}.{}",
            rng.u8(..20),
            rng.u8(..50),
            rng.u16(..999)
        ),
        3 => format!(
            "from {}.{}.{}.{}:{}",
            rng.u8(1..255),
            rng.u8(..255),
            rng.u8(..255),
            rng.u8(1..255),
            rng.u16(1024..65535)
        ),
        4 => format!("ip6 2001:db8:{}::{}", hex(rng, 4), hex(rng, 4)),
        5 => format!("commit {}", hex(rng, 40)),
        6 => {
            let len = 4 * rng.usize(6..22);
            format!("etag \"{}\"", random_from(rng, BASE64, len))
        }
        7 => format!(
            "order {}",
            loop {
                let d = random_from(rng, b"0123456789", 16);
                let digits: Vec<u8> = d.bytes().map(|b| b - b'0').collect();
                if !crate::mask::detect::luhn_valid(&digits) {
                    break d;
                }
            }
        ),
        8 => format!(
            "took {}.{}ms status={} bytes={}",
            rng.u16(..2000),
            rng.u8(..100),
            pick(rng, &[200, 201, 204, 304, 404, 500]),
            rng.u32(..1_000_000)
        ),
        9 => format!(
            "arn:aws:iam::{}:role/app-{}",
            random_from(rng, b"0123456789", 12),
            hex(rng, 6)
        ),
        10 => format!(
            "GET https://api.example.com:8443/v1/orders/{}?page={}",
            rng.u32(..100_000),
            rng.u8(..50)
        ),
        11 => format!(
            "Cookie: theme={}; lang=en-US; tz=UTC",
            pick(rng, &["dark", "light"])
        ),
        12 => format!(
            "{{\"Name\":\"/prod/app/{}\",\"Value\":\"{}\"}}",
            pick(rng, &["host", "port", "region", "feature-flags"]),
            pick(rng, &["db.internal", "5432", "us-east-1", "on"])
        ),
        13 => format!(
            "call 555-1{:02}-{:04} (invalid exchange)",
            rng.u8(..100),
            rng.u16(..10_000)
        ),
        14 => format!(
            "ssn 000-{:02}-{:04} is not issued",
            rng.u8(1..100),
            rng.u16(1..10_000)
        ),
        15 => format!(
            "date {}-{:02}-{:02} zip {:05}-{:04}",
            rng.u16(1990..2030),
            rng.u8(1..13),
            rng.u8(1..29),
            rng.u32(10_000..99_999),
            rng.u16(..10_000)
        ),
        16 => format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----",
            random_from(rng, BASE64, 64)
        ),
        17 => format!(
            "{{\"secret_id\":\"prod/db\",\"token_use\":\"id\",\"tokenType\":\"{}\"}}",
            pick(rng, &["id", "access"])
        ),
        18 => format!(
            "price ${}.{:02} qty {} total ${}",
            rng.u16(..1000),
            rng.u8(..100),
            rng.u8(1..20),
            rng.u32(..100_000)
        ),
        19 => format!("epoch {} ms", rng.u64(1_600_000_000_000..1_900_000_000_000)),
        20 => format!(
            "mac {}:{}:{}:{}:{}:{}",
            hex(rng, 2),
            hex(rng, 2),
            hex(rng, 2),
            hex(rng, 2),
            hex(rng, 2),
            hex(rng, 2)
        ),
        21 => format!("hotel room 4{} floor {}", rng.u16(100..999), rng.u8(1..40)),
        22 => format!(
            "the passwords are checked; tokens expire after {}s",
            rng.u16(60..3600)
        ),
        _ => format!("sha256:{}", hex(rng, 64)),
    };
    Case {
        shape: "clean".into(),
        record: json!({ "event": text.clone(), "count": rng.u16(..1000) }),
        text,
        secrets: Vec::new(),
    }
}

/// `n` cases from `seed`.
pub fn cases(seed: u64, n: usize) -> Vec<Case> {
    let mut rng = Rng::with_seed(seed);
    (0..n).map(|_| case(&mut rng)).collect()
}

/// `n` clean cases from `seed`.
pub fn clean_cases(seed: u64, n: usize) -> Vec<Case> {
    let mut rng = Rng::with_seed(seed);
    (0..n).map(|_| clean_case(&mut rng)).collect()
}

/// An output as its reader may read it: raw, every string inside it parsed as JSON however deep,
/// and, where it does not parse (a cut preview), with its escapes undone level by level.
pub fn views(output: &str) -> Vec<String> {
    let mut views = Vec::new();
    let mut pending = vec![(output.to_owned(), 0usize)];
    while let Some((text, depth)) = pending.pop() {
        if depth > 8 || views.contains(&text) {
            continue;
        }
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            let mut stack = vec![value];
            while let Some(value) = stack.pop() {
                match value {
                    Value::String(s) => pending.push((s, depth + 1)),
                    Value::Array(items) => stack.extend(items),
                    Value::Object(map) => stack.extend(map.into_iter().map(|(_, v)| v)),
                    _ => {}
                }
            }
        }
        if text.contains('\\') {
            pending.push((unescape(&text), depth + 1));
        }
        views.push(text);
    }
    views
}

/// JSON/Rust escapes undone once, leniently.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) if hex.len() == 4 => {
                        out.push(decoded);
                        for _ in 0..4 {
                            chars.next();
                        }
                    }
                    _ => out.push('u'),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The secrets of `secrets` that survive in some view of `output`.
pub fn leaks(output: &str, secrets: &[String]) -> Vec<String> {
    let views = views(output);
    secrets
        .iter()
        .filter(|secret| views.iter().any(|view| view.contains(secret.as_str())))
        .cloned()
        .collect()
}
