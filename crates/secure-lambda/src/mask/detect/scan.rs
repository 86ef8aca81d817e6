//! The main pass: one walk over the bytes that stops only at digits (numbers), `:` and `=`
//! (pairs, URLs, cookies); the rarer triggers are found by substring search in [`credential`].
//!
//! [`credential`]: super::credential

use super::label::{self, Label};
use super::{credential, email, is_alnum, number, pairs, Finding};

/// Byte classes of the main pass.
const OTHER: u8 = 0;
const DIGIT: u8 = 1;
const KV_SEPARATOR: u8 = 2;

const CLASS: [u8; 256] = {
    let mut table = [OTHER; 256];
    let mut b = b'0';
    while b <= b'9' {
        table[b as usize] = DIGIT;
        b += 1;
    }
    table[b':' as usize] = KV_SEPARATOR;
    table[b'=' as usize] = KV_SEPARATOR;
    table
};

/// Bytes that some detector starts at or needs: the main pass's (digits for numbers, glued
/// labels, IBANs and cut numbers; `:` and `=` for pairs, URLs and cookies), `@` (emails), quotes
/// (strings, unreadable text) and backslashes (escapes).
const NEEDED: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = CLASS[b] != OTHER;
        b += 1;
    }
    table[b'@' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

/// True when no detector can find anything in `bytes`: none of the bytes some detector needs
/// and no start of a credential pattern. Most short values (names, cities, statuses) are such
/// text, answered without running the detectors.
pub(super) fn holds_no_trigger(bytes: &[u8]) -> bool {
    !bytes.iter().any(|&b| NEEDED[usize::from(b)]) && !credential::may_hold_a_pattern(bytes)
}

/// Runs every detector over `bytes` (one level: escapes are not decoded here), appending what it
/// finds. `label` is what the text's container calls it.
///
/// `rare` says whether the text holds a backslash (only then can a key be escaped,
/// `"pass\u0077ord":`, which costs a second look at every key) and where its first `@` is.
pub(super) fn detect(bytes: &[u8], label: Option<Label>, rare: RareBytes, out: &mut Vec<Finding>) {
    scan_digits_and_pairs(bytes, label, rare.escaped, out);
    // Per pattern, how far a trigger of it has read: a trigger inside that is not read again.
    // Most texts hold no trigger, so the table is made at the first.
    let mut read_until: Option<[usize; credential::PATTERNS]> = None;
    credential::rare_triggers(bytes, rare.first_at, |trigger, pattern, at| match trigger {
        credential::Trigger::At => out.extend(email::email_at(bytes, at)),
        other => {
            let table = read_until.get_or_insert([0; credential::PATTERNS]);
            if let Some(until) = table.get_mut(pattern) {
                if at >= *until {
                    *until = credential::credentials_at(bytes, other, at, out);
                }
            }
        }
    });
}

/// Two bytes most texts lack, found in one pass: a backslash (escapes to decode) and `@`
/// (emails).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct RareBytes {
    pub(super) escaped: bool,
    pub(super) first_at: Option<usize>,
}

impl RareBytes {
    pub(super) fn of(bytes: &[u8]) -> Self {
        let mut rare = RareBytes::default();
        // Most texts are short JSON values, where a vector search's set-up costs more than
        // reading the bytes one by one.
        if bytes.len() < 64 {
            rare.escaped = bytes.contains(&b'\\');
            rare.first_at = bytes.iter().position(|&b| b == b'@');
            return rare;
        }
        for at in memchr::memchr2_iter(b'\\', b'@', bytes) {
            if bytes[at] == b'\\' {
                rare.escaped = true;
            } else if rare.first_at.is_none() {
                rare.first_at = Some(at);
            }
            if rare.escaped && rare.first_at.is_some() {
                break;
            }
        }
        rare
    }
}

/// Index of the first byte at or after `from` that is a digit, `:` or `=`, or `bytes.len()`.
///
/// Such bytes all lie in `0x30..=0x3D`; testing 16 bytes at a time for that range compiles to a
/// few vector instructions, which lets the scan skip the letters that make up most log text.
#[inline]
fn next_trigger(bytes: &[u8], from: usize) -> usize {
    const LANES: usize = 16;
    let in_range = |b: u8| b.wrapping_sub(b'0') <= b'=' - b'0';
    let mut i = from;
    while i + LANES <= bytes.len() {
        let chunk = &bytes[i..i + LANES];
        let any = chunk.iter().fold(false, |acc, &b| acc | in_range(b));
        if any {
            break;
        }
        i += LANES;
    }
    while i < bytes.len() && !in_range(bytes[i]) {
        i += 1;
    }
    i
}

fn scan_digits_and_pairs(
    bytes: &[u8],
    label: Option<Label>,
    escaped: bool,
    out: &mut Vec<Finding>,
) {
    let n = bytes.len();
    let mut pairs = pairs::PairState::new(escaped);
    let mut i = next_trigger(bytes, 0);
    while i < n {
        match CLASS[bytes[i] as usize] {
            DIGIT => {
                if i > 0 && (is_alnum(bytes[i - 1]) || bytes[i - 1] == b'_') {
                    // Glued to a word. A label (`SSN123-45-6789`, `card4111...`) makes it a
                    // candidate; an IBAN starts with its two letters; else it continues the word
                    // (`a456`, `v2`) and is no value.
                    // `card_4111...`: a label glued by an underscore.
                    let label_end = if bytes[i - 1] == b'_' { i - 1 } else { i };
                    if label_end > 0 && bytes[label_end - 1].is_ascii_alphabetic() {
                        if let Some(glued) = label::glued_before(bytes, label_end) {
                            i = number::number_at(bytes, i, label, Some(glued), out);
                            continue;
                        }
                        if let Some(iban) = number::iban_at(bytes, i) {
                            i = iban.end;
                            out.push(iban);
                            continue;
                        }
                    }
                    i += 1;
                    while i < n && is_alnum(bytes[i]) {
                        i += 1;
                    }
                    continue;
                }
                i = number::number_at(bytes, i, label, None, out);
            }
            KV_SEPARATOR => match pairs::pair_at(bytes, i, &mut pairs, out) {
                Some(resume) => i = resume.max(i + 1),
                None => i = next_trigger(bytes, i + 1),
            },
            _ => i = next_trigger(bytes, i + 1),
        }
    }
}
