//! How a sensitive value is replaced.
//!
//! The lab's formats keep what support staff need and nothing more: the first and last character
//! of an email's local part and its domain, the last two digits of a phone, the last four of an
//! SSN or a card. The other strategies redact whole, keep the last N characters, keep only the
//! length and separators, or replace the value with a keyed token (HMAC-SHA256) so that masked
//! data stays joinable without being reversible.

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};

use super::detect::PiiKind;
use super::path::JsonPath;

/// A way to mask one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy {
    /// The lab's format for the value's kind (see [`lab_format`]); full redaction for kinds
    /// without one.
    Lab(PiiKind),
    /// `[REDACTED:<KIND>]` (or `[REDACTED]` when the kind is unknown).
    Redact(Option<PiiKind>),
    /// Every character but the last N becomes `*`; separators are kept.
    KeepLast(usize),
    /// Every letter and digit becomes `*`; length and separators are kept.
    PreserveLength,
    /// `tok_<hex>`: HMAC-SHA256 of the value under the masking key, truncated to 16 bytes.
    Token,
    /// The value (a scalar, or an object or array whole) becomes the text a [`ValueSealer`]
    /// makes of its JSON: reversible, for whoever may decrypt it.
    Encrypt,
}

impl Strategy {
    /// Parses a rule's strategy name: `email`, `phone`, `ssn`, `card`, `redact`,
    /// `preserve-length`, `token`, or `keep-last-<N>`.
    pub fn parse(name: &str) -> Option<Strategy> {
        Some(match name {
            "email" => Strategy::Lab(PiiKind::Email),
            "phone" => Strategy::Lab(PiiKind::Phone),
            "ssn" => Strategy::Lab(PiiKind::Ssn),
            "card" => Strategy::Lab(PiiKind::Card),
            "redact" => Strategy::Redact(None),
            "preserve-length" => Strategy::PreserveLength,
            "token" => Strategy::Token,
            "encrypt" => Strategy::Encrypt,
            other => {
                let n = other.strip_prefix("keep-last-")?.parse().ok()?;
                if n > 64 {
                    return None;
                }
                Strategy::KeepLast(n)
            }
        })
    }

    /// The names [`Strategy::parse`] accepts, for error messages.
    pub const NAMES: &'static str =
        "email, phone, ssn, card, redact, preserve-length, token, encrypt, keep-last-<N>";
}

/// The key of [`Strategy::Token`]. Held as a secret; `Debug` is redacted.
#[derive(Clone)]
pub struct TokenKey(SecretSlice<u8>);

impl TokenKey {
    /// Shorter keys make tokens guessable.
    pub const MIN_LEN: usize = 16;

    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then(|| TokenKey(SecretSlice::from(bytes)))
    }

    /// The token of `value`: stable for one key, unrelated across keys.
    pub fn token(&self, value: &str) -> String {
        let mut mac = match hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.expose_secret()) {
            Ok(mac) => mac,
            // HMAC accepts keys of any length; this arm exists only because the API is fallible.
            Err(_) => return "[REDACTED:TOKEN]".to_owned(),
        };
        mac.update(value.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut out = String::with_capacity(4 + 32);
        out.push_str("tok_");
        for byte in digest.iter().take(16) {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([REDACTED])")
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Why a value could not be masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    #[error("the `token` strategy needs a masking key, and none is configured")]
    NoTokenKey,
    #[error("the `encrypt` strategy needs an encryption key, and none is configured")]
    NoSealer,
    /// Why the value could not be sealed (never the value itself).
    #[error("the value could not be encrypted: {0}")]
    Seal(String),
    #[error("the rules encrypt more than {max} values: send fewer records per request")]
    TooManyValues { max: usize },
}

/// Seals the values [`Strategy::Encrypt`] selects. Called once per selected value, in document
/// order, while the masked output is written: it must not block on I/O (whatever it needs from
/// a key service is fetched before masking starts).
pub trait ValueSealer: Send + Sync + std::fmt::Debug {
    /// The text written in place of the value whose compact JSON is `json`, selected by `rule`.
    fn seal(&self, json: &[u8], rule: &JsonPath) -> Result<String, MaskError>;
}

/// Masks `value` with `strategy`; `key` is needed for [`Strategy::Token`] only.
pub fn apply(strategy: Strategy, value: &str, key: Option<&TokenKey>) -> Result<String, MaskError> {
    Ok(match strategy {
        // Only a value that is one email keeps its domain: a rule may point `email` at any text
        // (`"jane@example.com, SSN ..."` would keep everything after the `@`).
        Strategy::Lab(PiiKind::Email) if !is_one_email(value) => {
            redaction_marker(Some(PiiKind::Email))
        }
        Strategy::Lab(kind) => lab_format(kind, value),
        Strategy::Redact(kind) => redaction_marker(kind),
        Strategy::KeepLast(n) => keep_last(value, n),
        Strategy::PreserveLength => preserve_length(value),
        Strategy::Token => key.ok_or(MaskError::NoTokenKey)?.token(value),
        // Sealed by the masker, which holds the sealer and the value's JSON.
        Strategy::Encrypt => return Err(MaskError::NoSealer),
    })
}

/// `[REDACTED:EMAIL]`, or `[REDACTED]` without a kind.
pub fn redaction_marker(kind: Option<PiiKind>) -> String {
    match kind {
        Some(kind) => ["[REDACTED:", kind.name(), "]"].concat(),
        None => crate::REDACTED.to_owned(),
    }
}

/// The lab formats: `j***e@example.com`, `***-***-**67`, `***-**-6789` (ITINs alike),
/// `****-****-****-1234`.
/// A value that does not have the kind's shape is redacted whole rather than half-masked.
pub fn lab_format(kind: PiiKind, value: &str) -> String {
    match kind {
        PiiKind::Email => match value.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                // Only a letter or digit is kept: a quote or a backslash (the start of an escape
                // the value was glued to) would change what the masked text means.
                let shown = |c: Option<char>| c.filter(char::is_ascii_alphanumeric).unwrap_or('*');
                let mut masked = String::with_capacity(domain.len() + 6);
                masked.push(shown(local.chars().next()));
                masked.push_str("***");
                if local.chars().nth(2).is_some() {
                    masked.push(shown(local.chars().last()));
                }
                masked.push('@');
                masked.push_str(domain);
                masked
            }
            _ => redaction_marker(Some(kind)),
        },
        PiiKind::Phone => last_digits_after("***-***-**", value, 2, 7)
            .unwrap_or_else(|| redaction_marker(Some(kind))),
        PiiKind::Ssn | PiiKind::Itin => last_digits_after("***-**-", value, 4, 9)
            .unwrap_or_else(|| redaction_marker(Some(kind))),
        PiiKind::Card => last_digits_after("****-****-****-", value, 4, 12)
            .unwrap_or_else(|| redaction_marker(Some(kind))),
        other => redaction_marker(Some(other)),
    }
}

/// True when `value` is a single email address, whole.
fn is_one_email(value: &str) -> bool {
    matches!(
        super::detect::find_all(value).as_slice(),
        [finding] if finding.kind == PiiKind::Email && finding.start == 0 && finding.end == value.len()
    )
}

/// `mask` followed by the last `n` digits of `value`, if it has at least `min_digits` digits.
fn last_digits_after(mask: &str, value: &str, n: usize, min_digits: usize) -> Option<String> {
    // Every rule-masked phone, SSN and card comes through here: counted, then copied into the
    // mask, with no buffer of the digits between.
    let digits = value.bytes().filter(u8::is_ascii_digit).count();
    if digits < min_digits {
        return None;
    }
    let mut masked = String::with_capacity(mask.len() + n);
    masked.push_str(mask);
    masked.extend(value.chars().filter(char::is_ascii_digit).skip(digits - n));
    Some(masked)
}

fn keep_last(value: &str, n: usize) -> String {
    let total = value.chars().filter(|c| c.is_alphanumeric()).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen + n > total {
                    c
                } else {
                    '*'
                }
            } else {
                c
            }
        })
        .collect()
}

fn preserve_length(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_alphanumeric() { '*' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_formats_exactly() {
        assert_eq!(
            lab_format(PiiKind::Email, "jane.doe@example.com"),
            "j***e@example.com"
        );
        assert_eq!(
            lab_format(PiiKind::Email, "jo@example.com"),
            "j***@example.com"
        );
        assert_eq!(
            lab_format(PiiKind::Email, "j@example.com"),
            "j***@example.com"
        );
        assert_eq!(
            lab_format(PiiKind::Phone, "+1-555-123-4567"),
            "***-***-**67"
        );
        assert_eq!(lab_format(PiiKind::Ssn, "123-45-6789"), "***-**-6789");
        assert_eq!(
            lab_format(PiiKind::Card, "4111-1111-1111-1234"),
            "****-****-****-1234"
        );
        assert_eq!(lab_format(PiiKind::Ssn, "12"), "[REDACTED:SSN]");
        assert_eq!(lab_format(PiiKind::Secret, "x"), "[REDACTED:SECRET]");
    }

    #[test]
    fn other_strategies() {
        assert_eq!(
            apply(Strategy::KeepLast(4), "4111-1111-1111-1234", None).unwrap(),
            "****-****-****-1234"
        );
        assert_eq!(
            apply(Strategy::PreserveLength, "ab-12 c", None).unwrap(),
            "**-** *"
        );
        assert_eq!(
            apply(Strategy::Redact(Some(PiiKind::Email)), "x", None).unwrap(),
            "[REDACTED:EMAIL]"
        );
        assert_eq!(
            apply(Strategy::Token, "x", None),
            Err(MaskError::NoTokenKey)
        );
    }

    #[test]
    fn tokens_are_keyed_and_stable() {
        let a = TokenKey::new(vec![1; 32]).unwrap();
        let b = TokenKey::new(vec![2; 32]).unwrap();
        let t = a.token("jane@example.com");
        assert_eq!(t, a.token("jane@example.com"));
        assert_ne!(t, b.token("jane@example.com"));
        assert_ne!(t, a.token("john@example.com"));
        assert_eq!(t.len(), 4 + 32);
        assert!(TokenKey::new(vec![0; 8]).is_none());
        assert_eq!(format!("{a:?}"), "TokenKey([REDACTED])");
    }

    #[test]
    fn strategy_names() {
        assert_eq!(Strategy::parse("keep-last-4"), Some(Strategy::KeepLast(4)));
        assert_eq!(Strategy::parse("keep-last-x"), None);
        assert_eq!(Strategy::parse("keep-last-1000"), None);
        assert_eq!(Strategy::parse("ssn"), Some(Strategy::Lab(PiiKind::Ssn)));
        assert_eq!(Strategy::parse("nope"), None);
    }
}
