//! Words that name a kind of value: `ssn`, `card`, `phone` and their spellings.
//!
//! A number glued to other text is normally no candidate (timestamps, UUIDs, versions and IPs are
//! all digits glued to something), and a bare run of 9 or 10 digits is an id as often as an SSN or
//! a phone. A label changes both: after `SSN:`, `card#`, `phone/`, `Tel.` or `cc` with nothing
//! between, the value is a candidate, and the validators decide.

/// The kinds a label can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Label {
    /// SSNs and other US taxpayer ids.
    Ssn,
    Card,
    Phone,
}

/// Label words, lower-case, without separators. A word matches at the end of a key or of the
/// text before a value, where it starts a word (`customerPhone`, `cc_number`, `mySSN`; not
/// `hotel` or `Japan`), alone or followed by one of [`SUFFIXES`] (`ssn_no`, `cardNumber`).
const LABELS: [(&[u8], Label); 26] = [
    (b"ssn", Label::Ssn),
    (b"ss", Label::Ssn),
    (b"socialsecurity", Label::Ssn),
    (b"socialsec", Label::Ssn),
    (b"itin", Label::Ssn),
    (b"tin", Label::Ssn),
    (b"taxid", Label::Ssn),
    (b"taxpayerid", Label::Ssn),
    (b"taxpayer", Label::Ssn),
    (b"card", Label::Card),
    (b"creditcard", Label::Card),
    (b"debitcard", Label::Card),
    (b"cc", Label::Card),
    (b"ccn", Label::Card),
    (b"pan", Label::Card),
    (b"phone", Label::Phone),
    (b"tel", Label::Phone),
    (b"telephone", Label::Phone),
    (b"mobile", Label::Phone),
    (b"mobilephone", Label::Phone),
    (b"cell", Label::Phone),
    (b"cellphone", Label::Phone),
    (b"fax", Label::Phone),
    (b"msisdn", Label::Phone),
    (b"contactnumber", Label::Phone),
    (b"contactphone", Label::Phone),
];

/// Words that may follow a label word (`card number`, `phone_no`, `ssnNum`). `ss` counts as a
/// label only with one of them (`ss no`, `ssnumber`).
const SUFFIXES: [&[u8]; 5] = [b"", b"number", b"num", b"no", b"nr"];

/// Longest stretch of a label phrase read back (`social security number` with its spaces).
const MAX_LABEL_BYTES: usize = 40;

/// The kind a key or field name names: `customerPhone`, `ssn`, `Card-Number`.
pub fn of_key(key: &str) -> Option<Label> {
    // `phone1`, `phone_2`: a numbered field names its kind as well.
    let key = key.trim_end_matches(|c: char| c.is_ascii_digit() || c == '_' || c == '-');
    word_label(key.as_bytes(), key.len())
}

/// The label a value at `pos` stands after: a label word, then at most a few separators (`:`,
/// `=`, `#`, `-`, `/`, `.`), spaces and quotes. Reaching the start of the text that way gives
/// `context`, what the text's container calls it.
pub(super) fn before(bytes: &[u8], pos: usize, context: Option<Label>) -> Option<Label> {
    let mut k = pos;
    let mut skipped = 0;
    while k > 0
        && skipped < 6
        && matches!(
            bytes[k - 1],
            b' ' | b'\t'
                | b'\n'
                | b'\r'
                | b':'
                | b'='
                | b'#'
                | b'-'
                | b'/'
                | b'.'
                | b'"'
                | b'\''
                | b'\\'
        )
    {
        k -= 1;
        skipped += 1;
    }
    if k == 0 {
        return context;
    }
    if k >= 2
        && bytes[k - 1].is_ascii_alphabetic()
        && !ends_like_a_label(bytes[k - 2], bytes[k - 1])
    {
        return None;
    }
    // `"phone": String("4155552671")`, `Some(...)`: a wrapper's name stands between label and
    // value.
    if bytes[k - 1] == b'(' {
        let mut w = k - 1;
        while w > 0 && bytes[w - 1].is_ascii_alphabetic() && k - 1 - w < 8 {
            w -= 1;
        }
        if matches!(&bytes[w..k - 1], b"Some" | b"String" | b"Number" | b"Ok") {
            return before(bytes, w, context);
        }
    }
    word_label(bytes, k)
}

/// The label of the word glued to the digit at `pos` (`SSN123456789`, `card4111...`). Digits
/// glued to letters are common (hex ids, `v2`, `T00`): words whose last two letters end no label
/// word are rejected before they are read.
pub(super) fn glued_before(bytes: &[u8], pos: usize) -> Option<Label> {
    if pos < 2 || !ends_like_a_label(bytes[pos - 2], bytes[pos - 1]) {
        return None;
    }
    word_label(bytes, pos)
}

/// True when two letters can end a label word or a label with its suffix.
fn ends_like_a_label(second: u8, last: u8) -> bool {
    matches!(
        (second.to_ascii_lowercase(), last.to_ascii_lowercase()),
        (b's' | b'i' | b'c' | b'a' | b'd', b'n')
            | (b's', b's')
            | (b't', b'y')
            | (b'e' | b'c', b'c')
            | (b'i' | b'r', b'd')
            | (b'e', b'r')
            | (b'e' | b'l', b'l')
            | (b'n' | b'l', b'e')
            | (b'a', b'x')
            | (b'u', b'm')
            | (b'n', b'o' | b'r')
    )
}

/// The label the word (or phrase) ending at `end` ends with, read backwards in place: letters
/// compared case-folded, a single `_`, `-` or space between letters skipped.
fn word_label(bytes: &[u8], end: usize) -> Option<Label> {
    SUFFIXES.iter().find_map(|suffix| {
        let mut rest = match_back(bytes, end, suffix)?;
        // `card_number`, `phone no`: a separator may stand between label and suffix.
        if !suffix.is_empty() && rest > 0 && matches!(bytes[rest - 1], b'_' | b'-' | b' ') {
            rest -= 1;
        }
        let last = bytes.get(rest.checked_sub(1)?)?.to_ascii_lowercase();
        LABELS.iter().find_map(|(word, label)| {
            if word.last() != Some(&last) || (suffix.is_empty() && *word == b"ss") {
                return None;
            }
            let first = match_back(bytes, rest, word)?;
            let starts_word = first == 0 || {
                let previous = bytes[first - 1];
                !previous.is_ascii_alphabetic()
                    || (previous.is_ascii_lowercase() && bytes[first].is_ascii_uppercase())
            };
            (starts_word && end - first <= MAX_LABEL_BYTES).then_some(*label)
        })
    })
}

/// Where `word` starts if the text before `end` ends with it (see [`word_label`]); `end` itself
/// for the empty word.
fn match_back(bytes: &[u8], end: usize, word: &[u8]) -> Option<usize> {
    let mut k = end;
    for (i, &expected) in word.iter().rev().enumerate() {
        // A separator may stand between two letters of a phrase, not at its end.
        if i > 0
            && k >= 2
            && matches!(bytes[k - 1], b'_' | b'-' | b' ')
            && bytes[k - 2].is_ascii_alphabetic()
        {
            k -= 1;
        }
        if k == 0 || bytes[k - 1].to_ascii_lowercase() != expected {
            return None;
        }
        k -= 1;
    }
    Some(k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_their_kind() {
        for (key, label) in [
            ("ssn", Some(Label::Ssn)),
            ("SSN", Some(Label::Ssn)),
            ("customerSsn", Some(Label::Ssn)),
            ("social_security_number", Some(Label::Ssn)),
            ("card", Some(Label::Card)),
            ("card_number", Some(Label::Card)),
            ("creditCardNumber", Some(Label::Card)),
            ("cc", Some(Label::Card)),
            ("PAN", Some(Label::Card)),
            ("phone", Some(Label::Phone)),
            ("mobileTel", Some(Label::Phone)),
            ("Tel", Some(Label::Phone)),
            ("fax", Some(Label::Phone)),
            ("phone1", Some(Label::Phone)),
            ("phone_2", Some(Label::Phone)),
            ("hotel", None),
            ("Japan", None),
            ("account", None),
            ("latin", None),
            ("cardholder", None),
            ("number", None),
            ("", None),
        ] {
            assert_eq!(of_key(key), label, "{key}");
        }
    }

    #[test]
    fn labels_before_values() {
        let at = |text: &str| before(text.as_bytes(), text.len(), None);
        assert_eq!(at("SSN:"), Some(Label::Ssn));
        assert_eq!(at("ssn#"), Some(Label::Ssn));
        assert_eq!(at("card-"), Some(Label::Card));
        assert_eq!(at("phone/"), Some(Label::Phone));
        assert_eq!(at("\"phone\": \""), Some(Label::Phone));
        assert_eq!(at("social security no. "), Some(Label::Ssn));
        assert_eq!(at("Tel. "), Some(Label::Phone));
        assert_eq!(at("version "), None);
        assert_eq!(before(b": ", 2, Some(Label::Card)), Some(Label::Card));
        assert_eq!(glued_before(b"card4", 4), Some(Label::Card));
        assert_eq!(glued_before(b"v4", 1), None);
        assert_eq!(glued_before(b"SSN1", 3), Some(Label::Ssn));
        assert_eq!(glued_before(b"ssn_no1", 6), Some(Label::Ssn));
        assert_eq!(glued_before(b"cardNumber1", 10), Some(Label::Card));
        assert_eq!(glued_before(b"TEL1", 3), Some(Label::Phone));
        assert_eq!(glued_before(b"fax1", 3), Some(Label::Phone));
        assert_eq!(glued_before(b"e89b1", 4), None);
    }
}
