//! Finding PII and secrets in text: cheap triggers first, strict validation after.
//!
//! One pass over the bytes looks only at digits (numbers), `:` and `=` (key/value pairs); SIMD
//! substring searches (`memchr`) find the rarer triggers: `@` (emails), `eyJ` (JWTs),
//! `AKIA`/`ASIA` (AWS access key ids) and `earer` (bearer tokens). Each candidate is then
//! validated: emails need a real domain shape, phones the NANP or E.164 rules, SSNs the SSA's
//! allocation rules, cards a Luhn check and a known issuer prefix and length.
//!
//! A number glued to other text by `-`, `.`, `:`, `/` or `_` (timestamps, UUIDs, versions, IP
//! addresses, decimals) is never a candidate, and neither is a digit run inside a longer one.

use std::sync::LazyLock;

use memchr::memmem;

/// The rare triggers, in the order `find_into` dispatches on: `@` (emails), `eyJ` (JWTs),
/// `AKIA`/`ASIA` (access key ids), `earer` (bearer tokens).
const RARE_PATTERNS: [&str; 5] = ["@", "eyJ", "AKIA", "ASIA", "earer"];

/// Substring searchers built once: building a `Finder` per line costs more than the search. On
/// log-line-sized text, one memchr/memmem pass per trigger measured faster than one multi-pattern
/// pass.
static RARE_FINDERS: LazyLock<[memmem::Finder<'static>; 4]> = LazyLock::new(|| {
    [
        memmem::Finder::new(RARE_PATTERNS[1]),
        memmem::Finder::new(RARE_PATTERNS[2]),
        memmem::Finder::new(RARE_PATTERNS[3]),
        memmem::Finder::new(RARE_PATTERNS[4]),
    ]
});

/// `(pattern index, start)` of every rare trigger in `bytes`.
fn rare_triggers(bytes: &[u8], mut each: impl FnMut(usize, usize)) {
    for at in memchr::memchr_iter(b'@', bytes) {
        each(0, at);
    }
    for (index, finder) in RARE_FINDERS.iter().enumerate() {
        for start in finder.find_iter(bytes) {
            each(index + 1, start);
        }
    }
}

/// What a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiKind {
    Email,
    Phone,
    Ssn,
    Card,
    /// The value of a key/value pair whose key names a secret (`password`, `token`, ...).
    Secret,
    AwsAccessKey,
    BearerToken,
    Jwt,
}

impl PiiKind {
    pub const ALL: [PiiKind; 8] = [
        PiiKind::Email,
        PiiKind::Phone,
        PiiKind::Ssn,
        PiiKind::Card,
        PiiKind::Secret,
        PiiKind::AwsAccessKey,
        PiiKind::BearerToken,
        PiiKind::Jwt,
    ];

    /// Upper-case name used in redaction markers and metrics.
    pub fn name(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Phone => "PHONE",
            PiiKind::Ssn => "SSN",
            PiiKind::Card => "CARD",
            PiiKind::Secret => "SECRET",
            PiiKind::AwsAccessKey => "AWS_ACCESS_KEY",
            PiiKind::BearerToken => "BEARER_TOKEN",
            PiiKind::Jwt => "JWT",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A sensitive value at `start..end` (byte offsets, always on character boundaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub kind: PiiKind,
    pub start: usize,
    pub end: usize,
}

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

/// Finds every finding in `text`, sorted by position, without overlaps.
pub fn find_all(text: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    find_into(text, &mut findings);
    findings
}

/// Like [`find_all`], reusing `out`'s allocation (cleared first).
pub fn find_into(text: &str, out: &mut Vec<Finding>) {
    out.clear();
    let bytes = text.as_bytes();
    scan_digits_and_pairs(bytes, out);
    rare_triggers(bytes, |pattern, at| {
        let finding = match pattern {
            0 => email_at(bytes, at),
            1 => jwt_at(bytes, at),
            2 | 3 => aws_key_at(bytes, at),
            _ => bearer_at(bytes, at),
        };
        if let Some(finding) = finding {
            out.push(finding);
        }
    });
    resolve_overlaps(out);
}

/// Sorts by start and drops findings that overlap an earlier (or longer, same-start) one.
fn resolve_overlaps(findings: &mut Vec<Finding>) {
    if findings.len() < 2 {
        return;
    }
    findings.sort_unstable_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut kept = 0;
    for i in 0..findings.len() {
        if kept > 0 && findings[i].start < findings[kept - 1].end {
            // Overlap: widen the kept one so no part of either survives.
            if findings[i].end > findings[kept - 1].end {
                findings[kept - 1].end = findings[i].end;
            }
            continue;
        }
        findings[kept] = findings[i];
        kept += 1;
    }
    findings.truncate(kept);
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

fn scan_digits_and_pairs(bytes: &[u8], out: &mut Vec<Finding>) {
    let n = bytes.len();
    let mut i = next_trigger(bytes, 0);
    while i < n {
        match CLASS[bytes[i] as usize] {
            DIGIT => {
                // Skip digits that continue a word (`a456`, `v2`): never a number of interest.
                if i > 0 && (is_alnum(bytes[i - 1]) || bytes[i - 1] == b'_') {
                    i += 1;
                    while i < n && is_alnum(bytes[i]) {
                        i += 1;
                    }
                    continue;
                }
                i = number_at(bytes, i, out);
            }
            KV_SEPARATOR => {
                if let Some(finding) = secret_pair_at(bytes, i) {
                    i = finding.end;
                    out.push(finding);
                } else {
                    i = next_trigger(bytes, i + 1);
                }
            }
            _ => i = next_trigger(bytes, i + 1),
        }
    }
}

/// Most digit groups one token may have (`4111 1111 1111 1111` is 4; a phone after it 3 more).
const MAX_GROUPS: usize = 12;
/// No value spans more groups than this (a 19-digit card in fours: 5).
const MAX_VALUE_GROUPS: usize = 5;
/// No single value of interest has more digits than this.
const MAX_VALUE_DIGITS: usize = 19;

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

/// Fewest digits any value has (`+` and 8 digits for E.164; 9 for a bare SSN; more for the rest).
const MIN_VALUE_DIGITS: usize = 8;

/// Reads a digit token starting at `start` (a digit), finds the values in it, returns where to
/// resume.
///
/// A token is digit groups joined by single `-`, `.` or space (and `(415) ` for an area code).
/// Values are found in runs of whole groups with one separator throughout; a run may begin or end
/// only where the token does or at a space, so that `555-234-4567 555-987-6543` is two phones and
/// `415.555-2671` is none.
fn number_at(bytes: &[u8], start: usize, out: &mut Vec<Finding>) -> usize {
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
            values_in_groups(bytes, &groups, start, paren_area, sep != b' ', &mut found);
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

/// Finds the values in the groups of one token. Where groups can be read more than one way
/// (`4020 9677 7331 3539 840 200 0000`: a 19-digit card, or a card then a phone), the reading
/// that leaves the fewest digits unmasked wins.
fn values_in_groups(
    bytes: &[u8],
    groups: &[Group],
    start: usize,
    paren_area: bool,
    glued_after: bool,
    out: &mut Vec<Finding>,
) {
    let plus = start > 0 && bytes[start - 1] == b'+';
    let token_start = if plus || paren_area { start - 1 } else { start };
    let glued_before = token_start > 0
        && (is_alnum(bytes[token_start - 1])
            || (matches!(
                bytes[token_start - 1],
                b'-' | b'.' | b':' | b'/' | b'_' | b'+'
            ) && token_start >= 2
                && is_alnum(bytes[token_start - 2])));
    let count = groups.len();
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
        if digit_count > MAX_VALUE_DIGITS {
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
        let mut digits = [0u8; MAX_VALUE_DIGITS];
        let value_digits = run
            .iter()
            .flat_map(|r| &self.bytes[r.start..r.end])
            .map(|b| b - b'0');
        for (slot, digit) in digits.iter_mut().zip(value_digits) {
            *slot = digit;
        }
        let value_digits = &digits[..digit_count];
        let start = if first {
            self.token_start
        } else {
            run[0].start
        };
        let separator = if paren_area { Some(b' ') } else { separator };
        let kind = classify_number(
            self.bytes,
            start,
            value_digits,
            &lens[..run.len()],
            separator,
            plus,
            paren_area,
        )?;
        Some(Finding {
            kind,
            start,
            end: run[run.len() - 1].end,
        })
    }
}

fn classify_number(
    bytes: &[u8],
    token_start: usize,
    digits: &[u8],
    groups: &[u8],
    separator: Option<u8>,
    plus: bool,
    paren_area: bool,
) -> Option<PiiKind> {
    let count = digits.len();
    if plus {
        // E.164: `+`, country code not starting with 0, up to 15 digits; 8 at least, so that
        // `+1234` in prose is not a phone.
        return ((8..=15).contains(&count) && digits[0] != 0).then_some(PiiKind::Phone);
    }
    if separator == Some(b'-') && groups == [3, 2, 4] {
        return valid_ssn(digits).then_some(PiiKind::Ssn);
    }
    if groups == [9] && valid_ssn(digits) && ssn_context_before(bytes, token_start) {
        return Some(PiiKind::Ssn);
    }
    let nanp_groups = groups == [3, 3, 4] || groups == [1, 3, 3, 4];
    if nanp_groups && (separator.is_some() || paren_area) {
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
    if (12..=19).contains(&count)
        && matches!(separator, None | Some(b' ') | Some(b'-'))
        && card_grouping(groups)
        && luhn_valid(digits)
        && known_card(digits)
    {
        return Some(PiiKind::Card);
    }
    None
}

/// How card numbers are printed: one run, groups of four (the last may be shorter), or the
/// 4-6-5 / 4-6-4 grouping of American Express and Diners Club.
fn card_grouping(groups: &[u8]) -> bool {
    match groups {
        [_] => true,
        [4, 6, 5] | [4, 6, 4] => true,
        [init @ .., last] => init.iter().all(|&g| g == 4) && (1..=4).contains(last),
        [] => false,
    }
}

/// `ssn`, `social security` or `ss#` shortly before a bare 9-digit number.
fn ssn_context_before(bytes: &[u8], start: usize) -> bool {
    let from = start.saturating_sub(24);
    let window = &bytes[from..start];
    let lower: Vec<u8> = window.iter().map(u8::to_ascii_lowercase).collect();
    memmem::find(&lower, b"ssn").is_some()
        || memmem::find(&lower, b"social").is_some()
        || memmem::find(&lower, b"ss#").is_some()
}

/// SSA rules: area not 000, 666 or 900-999; group not 00; serial not 0000.
pub fn valid_ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = u16::from(d[0]) * 100 + u16::from(d[1]) * 10 + u16::from(d[2]);
    let group = d[3] * 10 + d[4];
    let serial = d[5..].iter().all(|&x| x == 0);
    area != 0 && area != 666 && area < 900 && group != 0 && !serial
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
}

fn is_local_char(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_domain_char(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'.' | b'-')
}

/// An email around the `@` at `at`: local part of allowed characters (no leading, trailing or
/// double dot), domain of dot-separated labels (letters, digits, inner hyphens, 1-63 long) ending
/// in a TLD of two or more letters.
fn email_at(bytes: &[u8], at: usize) -> Option<Finding> {
    let mut start = at;
    while start > 0 && is_local_char(bytes[start - 1]) && at - start < 64 {
        start -= 1;
    }
    while start < at && bytes[start] == b'.' {
        start += 1;
    }
    let local = &bytes[start..at];
    if local.is_empty() || local.ends_with(b".") || memmem::find(local, b"..").is_some() {
        return None;
    }
    let mut end = at + 1;
    while end < bytes.len() && is_domain_char(bytes[end]) && end - at <= 253 {
        end += 1;
    }
    while end > at + 1 && matches!(bytes[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &bytes[at + 1..end];
    let mut labels = 0;
    let mut last: &[u8] = &[];
    for label in domain.split(|&b| b == b'.') {
        let valid = !label.is_empty()
            && label.len() <= 63
            && is_alnum(label[0])
            && is_alnum(label[label.len() - 1]);
        if !valid {
            return None;
        }
        labels += 1;
        last = label;
    }
    let tld_ok = last.len() >= 2 && last.iter().all(u8::is_ascii_alphabetic);
    (labels >= 2 && tld_ok).then_some(Finding {
        kind: PiiKind::Email,
        start,
        end,
    })
}

fn is_base64url(b: u8) -> bool {
    is_alnum(b) || b == b'-' || b == b'_'
}

/// `eyJ<header>.eyJ<payload>.<signature>` (base64url parts; the signature may be empty, as
/// in unsigned tokens, which are no less sensitive).
fn jwt_at(bytes: &[u8], start: usize) -> Option<Finding> {
    if start > 0 && is_base64url(bytes[start - 1]) {
        return None;
    }
    let part = |from: usize| {
        let mut i = from;
        while i < bytes.len() && is_base64url(bytes[i]) {
            i += 1;
        }
        i
    };
    let header_end = part(start);
    if header_end - start < 10 || bytes.get(header_end) != Some(&b'.') {
        return None;
    }
    let payload_start = header_end + 1;
    if !bytes[payload_start..].starts_with(b"eyJ") {
        return None;
    }
    let payload_end = part(payload_start);
    if bytes.get(payload_end) != Some(&b'.') {
        return None;
    }
    let end = part(payload_end + 1);
    Some(Finding {
        kind: PiiKind::Jwt,
        start,
        end,
    })
}

/// `AKIA`/`ASIA` and 16 upper-case letters or digits, on word boundaries.
fn aws_key_at(bytes: &[u8], start: usize) -> Option<Finding> {
    let end = start + 20;
    let boundary_before = start == 0 || !is_alnum(bytes[start - 1]);
    let boundary_after = end == bytes.len() || bytes.get(end).is_some_and(|b| !is_alnum(*b));
    let body_ok = bytes.get(start + 4..end).is_some_and(|body| {
        body.iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    });
    (boundary_before && boundary_after && body_ok).then_some(Finding {
        kind: PiiKind::AwsAccessKey,
        start,
        end,
    })
}

fn is_token_char(b: u8) -> bool {
    is_alnum(b) || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// `Bearer <token>` (any case), the token at least 8 characters.
fn bearer_at(bytes: &[u8], hit: usize) -> Option<Finding> {
    let start = hit.checked_sub(1)?;
    if !matches!(bytes[start], b'B' | b'b') || (start > 0 && is_alnum(bytes[start - 1])) {
        return None;
    }
    let mut i = hit + 5;
    let spaces_from = i;
    while i < bytes.len() && bytes[i] == b' ' {
        i += 1;
    }
    if i == spaces_from {
        return None;
    }
    let token_start = i;
    while i < bytes.len() && is_token_char(bytes[i]) {
        i += 1;
    }
    (i - token_start >= 8).then_some(Finding {
        kind: PiiKind::BearerToken,
        start: token_start,
        end: i,
    })
}

/// Key names whose values are secrets, compared against the end of the key with `-` and `_`
/// removed and lower-cased: `db_password`, `X-Api-Key` and `clientSecret` match; `secret_id`,
/// `token_use` and `SecretsManager` do not.
const SECRET_KEY_SUFFIXES: [&[u8]; 11] = [
    b"password",
    b"passwd",
    b"pwd",
    b"secret",
    b"secretkey",
    b"secretaccesskey",
    b"token",
    b"apikey",
    b"authorization",
    b"privatekey",
    b"sessionkey",
];

/// True when a field or key of this name holds a secret (see [`SECRET_KEY_SUFFIXES`]).
pub fn is_secret_key(key: &str) -> bool {
    let normalized: Vec<u8> = key
        .bytes()
        .filter(|b| *b != b'_' && *b != b'-')
        .map(|b| b.to_ascii_lowercase())
        .collect();
    SECRET_KEY_SUFFIXES
        .iter()
        .any(|suffix| normalized.ends_with(suffix))
}

/// A `key: value` / `key=value` / `"key": "value"` pair at the separator `sep`, whose key names a
/// secret. The finding covers the value only, so that the key stays readable.
fn secret_pair_at(bytes: &[u8], sep: usize) -> Option<Finding> {
    // The key: skip a closing quote (`"`, `'`, or JSON-escaped `\"`) and spaces, then read back.
    let mut k = sep;
    while k > 0 && bytes[k - 1] == b' ' {
        k -= 1;
    }
    if k > 0 && matches!(bytes[k - 1], b'"' | b'\'') {
        k -= 1;
        if k > 0 && bytes[k - 1] == b'\\' {
            k -= 1;
        }
    }
    let key_end = k;
    // Every secret key name ends in d, t, y or n (before any `_`/`-`): most keys stop here,
    // before they are read.
    let last = key_end.checked_sub(1).map(|i| bytes[i])?;
    if !matches!(last | 0x20, b'd' | b't' | b'y' | b'n') && !matches!(last, b'_' | b'-') {
        return None;
    }
    while k > 0
        && (is_alnum(bytes[k - 1]) || matches!(bytes[k - 1], b'_' | b'-'))
        && key_end - k < 64
    {
        k -= 1;
    }
    let key = &bytes[k..key_end];
    // Every secret key name ends in d, t, y or n: most keys are rejected here.
    let last_letter = key.iter().rev().find(|b| is_alnum(**b)).map(|b| b | 0x20);
    if key.len() < 3 || !matches!(last_letter, Some(b'd' | b't' | b'y' | b'n')) {
        return None;
    }
    let mut normalized = [0u8; 64];
    let mut len = 0;
    for &b in key {
        if b != b'_' && b != b'-' {
            normalized[len] = b.to_ascii_lowercase();
            len += 1;
        }
    }
    let normalized = &normalized[..len];
    if !SECRET_KEY_SUFFIXES
        .iter()
        .any(|suffix| normalized.ends_with(suffix))
    {
        return None;
    }

    // The value.
    let mut v = sep + 1;
    while v < bytes.len() && bytes[v] == b' ' {
        v += 1;
    }
    let rest = &bytes[v..];
    let (start, end) = if rest.starts_with(b"\\\"") {
        let start = v + 2;
        let close = memmem::find(&bytes[start..], b"\\\"")?;
        (start, start + close)
    } else if rest.first() == Some(&b'"') || rest.first() == Some(&b'\'') {
        let quote = rest[0];
        let start = v + 1;
        let mut i = start;
        while i < bytes.len() && bytes[i] != quote {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        (start, i.min(bytes.len()))
    } else {
        let stops = |b: u8| {
            matches!(
                b,
                b' ' | b',' | b';' | b'&' | b'}' | b')' | b'"' | b'\'' | b'\n' | b'\r' | b'\t'
            )
        };
        let mut i = v;
        while i < bytes.len() && !stops(bytes[i]) {
            i += 1;
        }
        // `Authorization: Bearer <token>`: the scheme and the credentials are one value.
        let word = &bytes[v..i];
        if (word.eq_ignore_ascii_case(b"bearer") || word.eq_ignore_ascii_case(b"basic"))
            && bytes.get(i) == Some(&b' ')
        {
            while i < bytes.len() && bytes[i] == b' ' {
                i += 1;
            }
            while i < bytes.len() && !stops(bytes[i]) {
                i += 1;
            }
        }
        let value = &bytes[v..i];
        if matches!(value, b"null" | b"true" | b"false")
            || value.first() == Some(&b'{')
            || value.first() == Some(&b'[')
        {
            return None;
        }
        (v, i)
    };
    (end > start).then_some(Finding {
        kind: PiiKind::Secret,
        start,
        end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
            r#"{"password": {"min": 8}}"#,
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
}
