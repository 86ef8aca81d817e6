//! Numbers: phones, SSNs and ITINs, payment cards, and IBANs.
//!
//! A digit token is digit groups joined by single `-`, `.` or space (and `(415) ` for an area
//! code). Values are read from runs of whole groups with one separator throughout, then
//! validated: phones by the NANP or E.164 rules, SSNs by the SSA's allocation rules, ITINs by the
//! IRS's ranges, cards by Luhn and a known issuer prefix and length, IBANs by their country's
//! length and the mod-97 check.
//!
//! A token glued to a word by a letter, `-`, `.`, `/` or `_` (timestamps, UUIDs, versions, IP
//! addresses, decimals) is no candidate, unless a [label](super::label) stands right before it
//! (`SSN-123-45-6789`, `card4111111111111111`). After `key:` or `key=` a value is a candidate
//! whatever the key.

use super::label::{self, Label};
use super::{is_alnum, Finding, PiiKind};

/// Most digit groups one token may have (`4111 1111 1111 1111` is 4; a phone after it 3 more).
const MAX_GROUPS: usize = 12;
/// No value spans more groups than this (a 19-digit card in fours: 5).
const MAX_VALUE_GROUPS: usize = 5;
/// No single value of interest has more digits than this.
const MAX_VALUE_DIGITS: usize = 19;
/// Fewest digits any value has (`+` and 8 digits for E.164; 9 for a bare SSN; more for the rest).
const MIN_VALUE_DIGITS: usize = 8;

/// One run of digits of a token, and the separator before it (0 for the first).
#[derive(Clone, Copy, Default)]
struct Group {
    start: usize,
    end: usize,
    sep_before: u8,
}

impl Group {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Reads a digit token starting at `start` (a digit), finds the values in it, returns where to
/// resume. `context` is what the text's container calls it; `glued` is the label the token is
/// glued to, if the scan found one.
///
/// A run may begin or end only where the token does or at a space, so that
/// `555-234-4567 555-987-6543` is two phones and `415.555-2671` is none.
pub(super) fn number_at(
    bytes: &[u8],
    start: usize,
    context: Option<Label>,
    glued: Option<Label>,
    out: &mut Vec<Finding>,
) -> usize {
    let n = bytes.len();
    let mut i = start;
    while i < n && bytes[i].is_ascii_digit() {
        i += 1;
    }
    // Fast path: a short number standing alone (a status code, a count, a duration) is no value.
    let continues = match bytes.get(i) {
        Some(b'-' | b' ' | b'.') => bytes.get(i + 1).is_some_and(u8::is_ascii_digit),
        Some(b')') => i - start == 3 && start > 0 && bytes[start - 1] == b'(',
        _ => false,
    };
    if !continues && i - start < MIN_VALUE_DIGITS {
        while i < n && is_alnum(bytes[i]) {
            i += 1;
        }
        return i;
    }

    let mut groups = [Group::default(); MAX_GROUPS];
    let mut group_count = 0usize;
    let mut i = start;
    let mut paren_area = false;
    let mut sep_before = 0u8;
    let labels = Labels { context, glued };

    loop {
        let group_start = i;
        while i < n && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let len = i - group_start;
        if len > MAX_VALUE_DIGITS {
            // A long digit run (an id, a hash) holds no value of interest; neither does its word.
            while i < n && is_alnum(bytes[i]) {
                i += 1;
            }
            return i;
        }
        groups[group_count] = Group {
            start: group_start,
            end: i,
            sep_before,
        };
        group_count += 1;
        // A separator followed by a digit continues the token; `) ` after an area code too.
        let (sep, skip) = match bytes.get(i) {
            Some(b')') if group_count == 1 && len == 3 && start > 0 && bytes[start - 1] == b'(' => {
                paren_area = true;
                match bytes.get(i + 1) {
                    Some(b'-') => (b'-', 2),
                    Some(b' ') => (b' ', 2),
                    _ => (b' ', 1),
                }
            }
            Some(&b @ (b'-' | b' ' | b'.')) => (b, 1),
            _ => break,
        };
        if !bytes.get(i + skip).is_some_and(u8::is_ascii_digit) {
            break;
        }
        if group_count == MAX_GROUPS {
            // A longer token. No value spans more than `MAX_VALUE_GROUPS` groups: keep what is
            // found well before the end of the window, and scan again after it.
            let mut found = Vec::new();
            values_in_groups(
                bytes,
                &groups,
                start,
                paren_area,
                sep != b' ',
                labels,
                &mut found,
            );
            let horizon = groups[MAX_GROUPS - MAX_VALUE_GROUPS].start;
            let mut resume_group = 1;
            for finding in found.into_iter().filter(|f| f.end <= horizon) {
                resume_group = groups
                    .iter()
                    .position(|g| g.start >= finding.end)
                    .unwrap_or(1);
                out.push(finding);
            }
            return groups[resume_group.max(1)].start;
        }
        sep_before = sep;
        i += skip;
    }
    let end = groups[group_count - 1].end;

    let glued_after = end < n
        && (is_alnum(bytes[end])
            || (matches!(bytes[end], b'-' | b'.' | b':' | b'/' | b'_')
                && bytes.get(end + 1).is_some_and(|b| is_alnum(*b))));
    values_in_groups(
        bytes,
        &groups[..group_count],
        start,
        paren_area,
        glued_after,
        labels,
        out,
    );
    if glued_after {
        let mut resume = end;
        while resume < n && is_alnum(bytes[resume]) {
            resume += 1;
        }
        resume
    } else {
        end
    }
}

/// The labels that may apply to a token: the one it is glued to, or the one its container gives.
#[derive(Clone, Copy)]
struct Labels {
    context: Option<Label>,
    glued: Option<Label>,
}

/// Finds the values in the groups of one token. Where groups can be read more than one way
/// (`4020 9677 7331 3539 840 200 0000`: a 19-digit card, or a card then a phone), the reading
/// that leaves the fewest digits unmasked wins.
fn values_in_groups(
    bytes: &[u8],
    groups: &[Group],
    start: usize,
    paren_area: bool,
    glued_after: bool,
    labels: Labels,
    out: &mut Vec<Finding>,
) {
    let plus = start > 0 && bytes[start - 1] == b'+';
    let token_start = if plus || paren_area { start - 1 } else { start };
    let glued_before = token_start > 0
        && (is_alnum(bytes[token_start - 1])
            || (matches!(bytes[token_start - 1], b'-' | b'.' | b'/' | b'_' | b'+')
                && token_start >= 2
                && is_alnum(bytes[token_start - 2])));
    let count = groups.len();
    // A label lifts the glue rule and admits bare forms; it is looked for only where it matters.
    let lens = |expected: &[usize]| {
        count == expected.len() && groups.iter().zip(expected).all(|(g, n)| g.len() == *n)
    };
    let bare = count == 1 && (9..=11).contains(&groups[0].len());
    // `123 45 6789` and `123.45.6789` are SSNs only after a label (`123-45-6789` always is).
    let bare = bare || (lens(&[3, 2, 4]) && groups[1].sep_before != b'-');
    let label = match labels.glued {
        Some(glued) => Some(glued),
        None if glued_before || bare => label::before(bytes, token_start, labels.context),
        None => None,
    };
    let glued_before = glued_before && label.is_none();
    let glued_after = glued_after && label.is_none();
    let can_start = |g: usize| {
        if g == 0 {
            !glued_before
        } else {
            groups[g].sep_before == b' '
        }
    };
    let can_end = |h: usize| {
        if h + 1 == count {
            !glued_after
        } else {
            groups[h + 1].sep_before == b' '
        }
    };
    let token = Token {
        bytes,
        groups,
        token_start,
        plus,
        paren_area,
        label,
    };

    if count == 1 {
        // The common case: one run of digits.
        if can_start(0) && can_end(0) {
            out.extend(token.value(0, 0));
        }
        return;
    }
    // best[g]: most digits covered by values in groups[g..], and the value chosen at g.
    let mut best = [(0usize, None::<(Finding, usize)>); MAX_GROUPS + 1];
    for g in (0..count).rev() {
        best[g] = (best[g + 1].0, None);
        if !can_start(g) {
            continue;
        }
        for h in g..count {
            if !can_end(h) {
                continue;
            }
            if let Some(finding) = token.value(g, h) {
                let covered = token.digit_count(g, h) + best[h + 1].0;
                if covered > best[g].0 {
                    best[g] = (covered, Some((finding, h + 1)));
                }
            }
        }
    }
    let mut g = 0;
    while g < count {
        match best[g].1 {
            Some((finding, next)) => {
                out.push(finding);
                g = next;
            }
            None => g += 1,
        }
    }
}

/// The digit groups of one token, and what surrounds it.
struct Token<'a> {
    bytes: &'a [u8],
    groups: &'a [Group],
    token_start: usize,
    plus: bool,
    paren_area: bool,
    label: Option<Label>,
}

/// The shape of a run of groups, as [`classify`] reads it.
struct Shape<'a> {
    digits: &'a [u8],
    groups: &'a [u8],
    separator: Option<u8>,
    plus: bool,
    paren_area: bool,
    label: Option<Label>,
}

impl Token<'_> {
    fn digit_count(&self, g: usize, h: usize) -> usize {
        self.groups[g..=h].iter().map(Group::len).sum()
    }

    /// `groups[g..=h]` as one value, if they are one.
    fn value(&self, g: usize, h: usize) -> Option<Finding> {
        let first = g == 0;
        let plus = self.plus && first;
        let paren_area = self.paren_area && first;
        let run = &self.groups[g..=h];
        let digit_count = self.digit_count(g, h);
        // Most runs tried are a group or two of a longer token (`4111` of a card): no value.
        if !(MIN_VALUE_DIGITS..=MAX_VALUE_DIGITS).contains(&digit_count) {
            return None;
        }
        // One separator throughout; after `(415)` the next may differ.
        let inner = if paren_area { &run[1..] } else { run };
        let separator = inner.get(1).map(|r| r.sep_before);
        if inner
            .iter()
            .skip(1)
            .any(|r| Some(r.sep_before) != separator)
        {
            return None;
        }
        let mut lens = [0u8; MAX_GROUPS];
        for (slot, r) in lens.iter_mut().zip(run) {
            *slot = u8::try_from(r.len()).unwrap_or(u8::MAX);
        }
        let label = if first { self.label } else { None };
        if !plus && !may_be_value(&lens[..run.len()], digit_count, label) {
            return None;
        }
        let mut digits = [0u8; MAX_VALUE_DIGITS];
        let value_digits = run
            .iter()
            .flat_map(|r| &self.bytes[r.start..r.end])
            .map(|b| b - b'0');
        for (slot, digit) in digits.iter_mut().zip(value_digits) {
            *slot = digit;
        }
        let start = if first {
            self.token_start
        } else {
            run[0].start
        };
        let shape = Shape {
            digits: &digits[..digit_count],
            groups: &lens[..run.len()],
            separator: if paren_area { Some(b' ') } else { separator },
            plus,
            paren_area,
            // Only the run the label stands before is labelled.
            label,
        };
        let kind = classify(self.bytes, start, &shape)?;
        Some(Finding::new(kind, start, run[run.len() - 1].end))
    }
}

fn classify(bytes: &[u8], token_start: usize, shape: &Shape<'_>) -> Option<PiiKind> {
    let Shape {
        digits,
        groups,
        separator,
        plus,
        paren_area,
        label,
    } = *shape;
    let count = digits.len();
    if plus {
        // E.164: `+`, country code not starting with 0, up to 15 digits; 8 at least, so that
        // `+1234` in prose is not a phone.
        return ((8..=15).contains(&count) && digits[0] != 0).then_some(PiiKind::Phone);
    }
    // `123-45-6789`; after an SSN label, `123 45 6789` and `123.45.6789` too.
    let ssn_separator = separator == Some(b'-') || label == Some(Label::Ssn);
    if ssn_separator && groups == [3, 2, 4] {
        if let Some(kind) = taxpayer_id(digits) {
            return Some(kind);
        }
    }
    if groups == [9] && (label == Some(Label::Ssn) || ssn_context_before(bytes, token_start)) {
        if let Some(kind) = taxpayer_id(digits) {
            return Some(kind);
        }
    }
    let nanp_groups = groups == [3, 3, 4] || groups == [1, 3, 3, 4];
    let bare_labelled_phone = label == Some(Label::Phone) && (groups == [10] || groups == [11]);
    if (nanp_groups && (separator.is_some() || paren_area)) || bare_labelled_phone {
        let local = if count == 11 {
            if digits[0] != 1 {
                return None;
            }
            &digits[1..]
        } else {
            digits
        };
        if local.len() == 10 && valid_nanp(local) {
            return Some(PiiKind::Phone);
        }
    }
    let card_separator = match separator {
        None | Some(b' ') | Some(b'-') => true,
        // `4111.1111.1111.1111`: fours only, so that versions and addresses stay out.
        Some(b'.') => groups.len() >= 4 && groups.iter().all(|&g| g == 4),
        _ => false,
    };
    if (12..=19).contains(&count)
        && card_separator
        && card_grouping(groups)
        && luhn_valid(digits)
        && known_card(digits)
    {
        return Some(PiiKind::Card);
    }
    None
}

/// False when no value [`classify`] finds without a `+` can have these groups: what it checks of
/// the grouping alone, looser than it, so that most runs (`2023-01-15`, two groups of a card) are
/// given up before their digits are copied out.
fn may_be_value(groups: &[u8], count: usize, label: Option<Label>) -> bool {
    let taxpayer_id = groups == [3, 2, 4] || groups == [9];
    let phone = groups == [3, 3, 4]
        || groups == [1, 3, 3, 4]
        || (label == Some(Label::Phone) && (groups == [10] || groups == [11]));
    let card = (12..=19).contains(&count) && card_grouping(groups);
    taxpayer_id || phone || card
}

/// An SSN or, in the IRS's ranges, an ITIN.
fn taxpayer_id(digits: &[u8]) -> Option<PiiKind> {
    if valid_ssn(digits) {
        Some(PiiKind::Ssn)
    } else if valid_itin(digits) {
        Some(PiiKind::Itin)
    } else {
        None
    }
}

/// How card numbers are printed: one run, groups of four (the last may be shorter), the 4-6-5 /
/// 4-6-4 grouping of American Express and Diners Club, or UATP's 4-5-6.
fn card_grouping(groups: &[u8]) -> bool {
    match groups {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] | [4, 5, 6] => true,
        [init @ .., last] => init.iter().all(|&g| g == 4) && (1..=4).contains(last),
        [] => false,
    }
}

/// `ssn`, `social security` or `ss#` shortly before a bare 9-digit number.
fn ssn_context_before(bytes: &[u8], start: usize) -> bool {
    let from = start.saturating_sub(24);
    let window = &bytes[from..start];
    let mut lower = [0u8; 24];
    for (slot, b) in lower.iter_mut().zip(window) {
        *slot = b.to_ascii_lowercase();
    }
    let lower = &lower[..window.len()];
    let has = |needle: &[u8]| lower.windows(needle.len()).any(|w| w == needle);
    has(b"ssn") || has(b"social") || has(b"ss#") || has(b"itin")
}

fn area_group(d: &[u8]) -> (u16, u8) {
    (
        u16::from(d[0]) * 100 + u16::from(d[1]) * 10 + u16::from(d[2]),
        d[3] * 10 + d[4],
    )
}

/// SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000.
pub fn valid_ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let (area, group) = area_group(d);
    let serial = d[5..].iter().all(|&x| x == 0);
    area != 0 && area != 666 && area < 900 && group != 0 && !serial
}

/// IRS rules for individual taxpayer identification numbers: area 900-999, group 50-65, 70-88,
/// 90-92 or 94-99.
pub fn valid_itin(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let (area, group) = area_group(d);
    area >= 900 && matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// NANP: area code and exchange start with 2-9 and are not N11.
pub fn valid_nanp(d: &[u8]) -> bool {
    let ok = |first: u8, second: u8, third: u8| first >= 2 && !(second == 1 && third == 1);
    d.len() == 10 && ok(d[0], d[1], d[2]) && ok(d[3], d[4], d[5])
}

/// The Luhn check digit test.
pub fn luhn_valid(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &digit) in d.iter().rev().enumerate() {
        let mut v = u32::from(digit);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    !d.is_empty() && sum % 10 == 0
}

fn prefix_value(d: &[u8], len: usize) -> u32 {
    d.iter()
        .take(len)
        .fold(0, |acc, &x| acc * 10 + u32::from(x))
}

/// Issuer identification: prefix ranges and lengths of the major card networks.
pub fn known_card(d: &[u8]) -> bool {
    let len = d.len();
    let p1 = prefix_value(d, 1);
    let p2 = prefix_value(d, 2);
    let p3 = prefix_value(d, 3);
    let p4 = prefix_value(d, 4);
    let p6 = prefix_value(d, 6);
    // Visa
    (p1 == 4 && matches!(len, 13 | 16 | 19))
        // Mastercard: 51-55 and 2221-2720
        || ((51..=55).contains(&p2) || (2221..=2720).contains(&p4)) && len == 16
        // American Express
        || matches!(p2, 34 | 37) && len == 15
        // Discover: 6011, 644-649, 65, 622126-622925
        || (p4 == 6011 || (644..=649).contains(&p3) || p2 == 65 || (622_126..=622_925).contains(&p6))
            && (16..=19).contains(&len)
        // JCB: 3528-3589
        || (3528..=3589).contains(&p4) && (16..=19).contains(&len)
        // UnionPay: 62
        || p2 == 62 && (16..=19).contains(&len)
        // Diners Club: 300-305, 36, 38, 39
        || ((300..=305).contains(&p3) || matches!(p2, 36 | 38 | 39)) && (14..=19).contains(&len)
        // Maestro: 50, 56-58, 6304, 6759, 676770, 676774
        || (p2 == 50 || (56..=58).contains(&p2) || matches!(p4, 6304 | 6759) || matches!(p6, 676_770 | 676_774))
            && (12..=19).contains(&len)
        // UATP (airline cards, AirPlus among them): 1 and 14 more digits
        || p1 == 1 && len == 15
}

/// IBAN lengths by country (ISO 13616 registry), sorted by country for binary search.
const IBAN_LENGTHS: [(&[u8; 2], usize); 77] = [
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"LY", 25),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"XK", 20),
];

/// The registered length of an IBAN of `country`.
fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .binary_search_by(|(code, _)| code.as_slice().cmp(country))
        .ok()
        .map(|index| IBAN_LENGTHS[index].1)
}

/// True for an IBAN (upper-case, no separators) of its country's length whose mod-97 check
/// holds.
pub fn valid_iban(iban: &[u8]) -> bool {
    let ok_shape = iban.len() >= 15
        && iban[..2].iter().all(u8::is_ascii_uppercase)
        && iban[2..4].iter().all(u8::is_ascii_digit)
        && iban[4..]
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if !ok_shape || iban_length(&iban[..2]) != Some(iban.len()) {
        return false;
    }
    // Move the first four characters to the end, letters as 10-35, then mod 97, digit by digit.
    let mut remainder = 0u32;
    for &b in iban[4..].iter().chain(&iban[..4]) {
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
    remainder == 1
}

/// An IBAN whose check digits start at `digit` (two upper-case letters before it), written
/// whole or in groups of four separated by single spaces. What stands before the country code
/// does not matter (`iban:DE89...`, `ibanDE89...`): country, length and mod-97 are shape enough.
pub(super) fn iban_at(bytes: &[u8], digit: usize) -> Option<Finding> {
    let start = digit.checked_sub(2)?;
    if !bytes[start..digit].iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let expected = iban_length(&bytes[start..digit])?;
    let mut compact = [0u8; 34];
    let mut len = 0;
    let mut i = start;
    while i < bytes.len() && len < expected {
        let b = bytes[i];
        if b.is_ascii_digit() || b.is_ascii_uppercase() {
            compact[len] = b;
            len += 1;
            i += 1;
        } else if b == b' ' && len % 4 == 0 && bytes.get(i + 1).is_some_and(|b| is_alnum(*b)) {
            i += 1;
        } else {
            break;
        }
    }
    let ends_word = i == bytes.len() || !is_alnum(bytes[i]);
    (len == expected && ends_word && valid_iban(&compact[..len]))
        .then(|| Finding::new(PiiKind::Iban, start, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Digits of `len` that pass each kind's check where the length allows: a Visa-, Amex- or
    /// UATP-like card completed by its Luhn digit, an SSN, an ITIN, a NANP phone with and without
    /// its `1`, and plain digits.
    fn valid_looking(len: usize) -> Vec<Vec<u8>> {
        let mut found = Vec::new();
        for prefix in [&[4u8][..], &[3, 7], &[1], &[5, 5], &[6, 0, 1, 1]] {
            if len <= prefix.len() {
                continue;
            }
            let mut d: Vec<u8> = prefix.to_vec();
            d.resize(len - 1, 1);
            for check in 0..10 {
                d.push(check);
                if luhn_valid(&d) {
                    found.push(d.clone());
                }
                d.pop();
            }
        }
        found.extend(
            [
                &b"123456789"[..],
                b"912701234",
                b"4155552671",
                b"14155552671",
                b"12345678901234567890",
            ]
            .iter()
            .filter(|d| d.len() == len)
            .map(|d| d.iter().map(|b| b - b'0').collect()),
        );
        found.push(vec![7; len]);
        found
    }

    /// Every grouping of 8 to 19 digits in up to 5 groups, each with digits that pass each
    /// kind's check, every separator, bracket, label and SSN context: where `may_be_value` gives
    /// up early, `classify` finds nothing either.
    #[test]
    fn groupings_given_up_early_are_never_values() {
        fn groupings(total: usize, parts: usize, prefix: &mut Vec<u8>, out: &mut Vec<Vec<u8>>) {
            let used: usize = prefix.iter().map(|&g| usize::from(g)).sum();
            if prefix.len() == parts {
                if used == total {
                    out.push(prefix.clone());
                }
                return;
            }
            for len in 1..=total.saturating_sub(used) {
                prefix.push(len as u8);
                groupings(total, parts, prefix, out);
                prefix.pop();
            }
        }
        let contexts: [&[u8]; 2] = [b"id ", b"ssn "];
        let mut given_up = 0;
        for total in MIN_VALUE_DIGITS..=MAX_VALUE_DIGITS {
            let mut shapes = Vec::new();
            for parts in 1..=MAX_VALUE_GROUPS {
                groupings(total, parts, &mut Vec::new(), &mut shapes);
            }
            for groups in &shapes {
                for label in [
                    None,
                    Some(Label::Ssn),
                    Some(Label::Card),
                    Some(Label::Phone),
                ] {
                    if may_be_value(groups, total, label) {
                        continue;
                    }
                    given_up += 1;
                    for digits in valid_looking(total) {
                        for separator in [None, Some(b'-'), Some(b' '), Some(b'.')] {
                            for paren_area in [false, true] {
                                for context in contexts {
                                    let shape = Shape {
                                        digits: &digits,
                                        groups,
                                        separator,
                                        plus: false,
                                        paren_area,
                                        label,
                                    };
                                    assert_eq!(
                                        classify(context, context.len(), &shape),
                                        None,
                                        "{groups:?} {digits:?} {label:?}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
        assert!(given_up > 1000, "{given_up}");
    }
}
