//! Finding PII and secrets in text: cheap triggers first, strict validation after.
//!
//! Text is read as its reader will read it. A log line is JSON whose strings carry escapes
//! (`\n`, `\"`, `\u0034`), often around more JSON (a request body logged as a string, itself
//! holding strings); a JSON masker's value is such a string already decoded once. So detection
//! runs on the text as given and, for every quoted string that holds an escape, again on the
//! string as decoded, down to [`MAX_NESTING`] levels; findings in a decoded string are mapped back
//! to the raw bytes they came from. Escapes are therefore separators or characters, never glue
//! and never a way to hide a digit.
//!
//! Where the text cannot be read to its end, detection fails closed: an unterminated string in a
//! value position (a cut preview), or an escaped string nested deeper than [`MAX_NESTING`], is one
//! [`PiiKind::Unreadable`] finding from where reading lost track to the end of the string or text.
//!
//! The detectors, each in its module:
//! - [`number`]: phones, SSNs and ITINs, payment cards, IBANs, from one pass over digit runs;
//! - [`label`]: words that name a kind (`ssn`, `card`, `phone`, ...), which make a value glued to
//!   them (`SSN:123-45-6789`, `card4111111111111111`) or bare (`phone 4155552671`) a candidate;
//! - [`pairs`]: values named secret by their key, by a sibling (`{"Name": "/prod/db/password",
//!   "Value": ...}`), by a cookie's name, or by a URL's user info, including containers below a
//!   secret key;
//! - [`credential`]: AWS access and secret keys, JWTs, bearer tokens, provider tokens by prefix,
//!   private key blocks;
//! - [`email`]: email addresses;
//! - [`strings`]: the quoted strings of a text, their escapes, and the levels below them.

mod credential;
mod email;
mod label;
mod number;
mod pairs;
mod scan;
mod strings;

pub(crate) use credential::{holds_access_key_id, is_secret_access_key};
pub use label::{of_key as label_of_key, Label};
pub use number::{known_card, luhn_valid, valid_iban, valid_itin, valid_nanp, valid_ssn};
pub(crate) use pairs::{cookie_key, is_name_key, is_value_key};
pub use pairs::{is_secret_key, names_secret};

/// How many levels of escaped strings inside strings are decoded before the rest is masked whole.
pub const MAX_NESTING: usize = 6;

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Ssn,
    /// A US individual taxpayer identification number (`9xx-[5-9]x-xxxx`).
    Itin,
    Card,
    Iban,
    /// A value named secret by its key, a sibling's name, a cookie's name or its place in a URL.
    Secret,
    AwsAccessKey,
    /// A 40-character AWS secret access key next to its key id.
    AwsSecretKey,
    /// A token of a known provider, by prefix (`ghp_`, `xoxb-`, `sk_live_`, ...).
    ProviderToken,
    /// A PEM or OpenSSH private key block, armour included.
    PrivateKey,
    BearerToken,
    Jwt,
    /// Text that could not be read to its end (an unterminated string, escapes nested too
    /// deep), masked whole from where reading lost track.
    Unreadable,
}

impl PiiKind {
    pub const ALL: [PiiKind; 14] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Ssn,
        PiiKind::Itin,
        PiiKind::Card,
        PiiKind::Iban,
        PiiKind::Secret,
        PiiKind::AwsAccessKey,
        PiiKind::AwsSecretKey,
        PiiKind::ProviderToken,
        PiiKind::PrivateKey,
        PiiKind::BearerToken,
        PiiKind::Jwt,
        PiiKind::Unreadable,
    ];

    /// Upper-case name used in redaction markers and metrics.
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Ssn => "SSN",
            PiiKind::Itin => "ITIN",
            PiiKind::Card => "CARD",
            PiiKind::Iban => "IBAN",
            PiiKind::Secret => "SECRET",
            PiiKind::AwsAccessKey => "AWS_ACCESS_KEY",
            PiiKind::AwsSecretKey => "AWS_SECRET_KEY",
            PiiKind::ProviderToken => "PROVIDER_TOKEN",
            PiiKind::PrivateKey => "PRIVATE_KEY",
            PiiKind::BearerToken => "BEARER_TOKEN",
            PiiKind::Jwt => "JWT",
            PiiKind::Unreadable => "UNREADABLE",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// Which kind names a merged finding when two overlap: the one whose mask reveals least.
    fn rank(self) -> u8 {
        match self {
            PiiKind::Email => 0,
            PiiKind::Phone => 1,
            PiiKind::Ssn | PiiKind::Itin | PiiKind::Card | PiiKind::Iban => 2,
            _ => 3,
        }
    }
}

/// A sensitive value at `start..end` (byte offsets, always on character boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

impl Finding {
    pub(crate) fn new(kind: PiiKind, start: usize, end: usize) -> Self {
        Self { kind, start, end }
    }
}

/// Finds every finding in `text`, sorted by position, without overlaps.
pub fn find_all(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    find_into(text, &mut findings);
    findings
}

/// Like [`find_all`], reusing `out`'s allocation (cleared first).
pub fn find_into(text: &str, out: &mut Vec<Finding>) {
    find_labelled(text, None, out);
}

/// Like [`find_into`], for text that its container labels: a JSON value under the key `phone`
/// is read as if `phone:` stood before it, so that a bare `4155552671` is a candidate.
pub fn find_labelled(text: &str, label: Option<Label>, out: &mut Vec<Finding>) {
    out.clear();
    if scan::holds_no_trigger(text.as_bytes()) {
        return;
    }
    strings::find_level(text.as_bytes(), label, 0, out);
    resolve_overlaps(out);
}

/// Like [`find_labelled`], for the value of a cookie header (`Cookie`, `Set-Cookie`, an item of
/// `cookies`): its session-like cookie values are found too.
pub(crate) fn find_in_cookie_header(text: &str, set_cookie: bool, out: &mut Vec<Finding>) {
    out.clear();
    strings::find_level(text.as_bytes(), None, 0, out);
    pairs::cookie_list(text.as_bytes(), 0, text.len(), set_cookie, out);
    resolve_overlaps(out);
}

/// Drops empty findings, sorts by start and merges findings that overlap into one covering
/// both, named by the kind whose mask reveals least.
fn resolve_overlaps(findings: &mut Vec<Finding>) {
    findings.retain(|f| f.end > f.start);
    if findings.len() < 2 {
        return;
    }
    findings.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept = 0;
    for i in 0..findings.len() {
        let next = findings[i];
        if kept > 0 && next.start < findings[kept - 1].end {
            let last = &mut findings[kept - 1];
            last.end = last.end.max(next.end);
            if next.kind.rank() > last.kind.rank() {
                last.kind = next.kind;
            }
            continue;
        }
        findings[kept] = next;
        kept += 1;
    }
    findings.truncate(kept);
}

/// ASCII letters and digits, as a table: the scan skips words byte by byte, and one load beats
/// the range comparisons.
const ALNUM: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    table
};

#[inline(always)]
fn is_alnum(b: u8) -> bool {
    ALNUM[b as usize]
}

#[cfg(test)]
mod tests;
