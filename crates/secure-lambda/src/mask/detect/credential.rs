//! Credentials found by their shape: AWS access key ids and the secret keys beside them, JWTs,
//! bearer tokens, provider tokens by prefix, and private key blocks.
//!
//! Each starts with a literal that ordinary text rarely holds (`@` for emails is here too), so
//! one substring search over the text finds every trigger, and each is then validated.

use std::sync::LazyLock;

use aho_corasick::{packed, AhoCorasick, Input, MatchKind, Span};
use memchr::memmem;

use super::{is_alnum, Finding, PiiKind};

/// What a trigger starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Trigger {
    /// `@`: an email.
    At,
    /// `eyJ`: a JWT.
    Jwt,
    /// `AKIA` / `ASIA`: an AWS access key id (and perhaps its secret key beside it).
    AccessKey,
    /// `_ACCESS_KEY]`: the end of the mask of an access key id, already applied by someone else; its
    /// secret key may still stand beside it.
    AccessKeyMarker,
    /// `Bearer` (or `bearer`, `BEARER`): a bearer token.
    Bearer,
    /// `-BEGIN ` (of `-----BEGIN `): a private key block (certificates and public keys stay).
    Armour,
    /// A provider's token prefix: the index into [`PROVIDERS`].
    Provider(usize),
}

/// A provider's token: the trigger the search looks for, the prefixes it stands for (a shared
/// trigger keeps the search to one pattern per provider, and few patterns keep it fast), the
/// length range of what follows, and its alphabet.
struct Provider {
    trigger: &'static str,
    /// How many bytes of a form stand before its trigger (`s` of `sk_live_` for `k_live_`):
    /// triggers are chosen so that their first three bytes are rare in text, which is what the
    /// search screens on.
    lead: usize,
    forms: &'static [&'static str],
    min: usize,
    max: usize,
    alphabet: fn(u8) -> bool,
}

fn alnum(b: u8) -> bool {
    is_alnum(b)
}

fn alnum_dash(b: u8) -> bool {
    is_alnum(b) || b == b'-'
}

fn alnum_dash_underscore(b: u8) -> bool {
    is_alnum(b) || b == b'-' || b == b'_'
}

fn alnum_underscore(b: u8) -> bool {
    is_alnum(b) || b == b'_'
}

fn hex(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

fn sendgrid(b: u8) -> bool {
    alnum_dash_underscore(b) || b == b'.'
}

/// One provider whose trigger is its only prefix.
const fn single(
    prefix: &'static [&'static str; 1],
    min: usize,
    max: usize,
    alphabet: fn(u8) -> bool,
) -> Provider {
    Provider {
        trigger: prefix[0],
        lead: 0,
        forms: prefix,
        min,
        max,
        alphabet,
    }
}

/// Token formats published by their providers (prefix, then body length and alphabet).
const PROVIDERS: [Provider; 21] = [
    // GitHub: personal, OAuth, user-to-server, server-to-server, refresh; fine-grained PATs.
    single(&["ghp_"], 30, 255, alnum),
    single(&["gho_"], 30, 255, alnum),
    single(&["ghu_"], 30, 255, alnum),
    single(&["ghs_"], 30, 255, alnum),
    single(&["ghr_"], 30, 255, alnum),
    Provider {
        trigger: "b_pat_",
        lead: 5,
        forms: &["github_pat_"],
        min: 40,
        max: 255,
        alphabet: alnum_underscore,
    },
    // Slack: bot, user, workspace, refresh, session, config; app-level tokens.
    Provider {
        trigger: "xox",
        lead: 0,
        forms: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"],
        min: 10,
        max: 255,
        alphabet: alnum_dash,
    },
    single(&["xapp-"], 20, 255, alnum_dash),
    // Stripe: secret and restricted keys, live and test; webhook signing secrets.
    Provider {
        trigger: "k_live_",
        lead: 1,
        forms: &["sk_live_", "rk_live_"],
        min: 16,
        max: 255,
        alphabet: alnum,
    },
    Provider {
        trigger: "k_test_",
        lead: 1,
        forms: &["sk_test_", "rk_test_"],
        min: 16,
        max: 255,
        alphabet: alnum,
    },
    single(&["whsec_"], 24, 255, alnum),
    // GitLab personal access tokens.
    single(&["glpat-"], 20, 255, alnum_dash_underscore),
    // Google API keys: exactly 35 characters after `AIza`.
    single(&["AIza"], 35, 35, alnum_dash_underscore),
    // npm and Hugging Face access tokens.
    single(&["npm_"], 36, 255, alnum),
    single(&["hf_"], 30, 255, alnum),
    // OpenAI project keys, Anthropic keys.
    Provider {
        trigger: "k-proj-",
        lead: 1,
        forms: &["sk-proj-"],
        min: 20,
        max: 255,
        alphabet: alnum_dash_underscore,
    },
    Provider {
        trigger: "k-ant-",
        lead: 1,
        forms: &["sk-ant-"],
        min: 20,
        max: 255,
        alphabet: alnum_dash_underscore,
    },
    // Shopify access tokens, DigitalOcean personal tokens.
    single(&["shpat_"], 32, 32, hex),
    single(&["dop_v1_"], 64, 64, hex),
    // SendGrid: `SG.` 22 characters `.` 43 characters.
    single(&["SG."], 60, 80, sendgrid),
    // PyPI upload tokens (a macaroon whose header always encodes `pypi.org`).
    single(&["pypi-AgEIcHlwaS5vcmc"], 50, 512, alnum_dash_underscore),
];

/// The fixed triggers, in the order of their [`Trigger`]s; the providers' prefixes follow.
const FIXED: [(&str, Trigger); 8] = [
    ("eyJ", Trigger::Jwt),
    ("AKIA", Trigger::AccessKey),
    ("ASIA", Trigger::AccessKey),
    ("Bearer", Trigger::Bearer),
    ("bearer", Trigger::Bearer),
    ("BEARER", Trigger::Bearer),
    ("_ACCESS_KEY]", Trigger::AccessKeyMarker),
    ("-BEGIN ", Trigger::Armour),
];

/// The search for every multi-byte trigger, built once: the SIMD "Teddy" searcher, which
/// screens on each pattern's first three bytes (no pattern is a prefix of another, so its
/// leftmost-first matches are all of them), or, where the CPU lacks the instructions for it, an
/// Aho-Corasick automaton.
enum Searcher {
    Packed(packed::Searcher),
    Automaton(AhoCorasick),
}

pub(super) fn patterns() -> impl Iterator<Item = &'static str> {
    FIXED
        .iter()
        .map(|(text, _)| *text)
        .chain(PROVIDERS.iter().map(|p| p.trigger))
}

static SEARCHER: LazyLock<Option<Searcher>> = LazyLock::new(|| {
    if let Some(packed) = packed::Searcher::new(patterns()) {
        return Some(Searcher::Packed(packed));
    }
    AhoCorasick::builder()
        .match_kind(MatchKind::LeftmostFirst)
        .build(patterns())
        .ok()
        .map(Searcher::Automaton)
});

/// The first two bytes of every trigger pattern, one bit per byte pair: a text in which no two
/// adjacent bytes begin a pattern holds none. `None` if some pattern is shorter than two bytes.
static PATTERN_STARTS: LazyLock<Option<Box<[u64; 1024]>>> = LazyLock::new(|| {
    let mut table = Box::new([0u64; 1024]);
    for pattern in patterns() {
        let [first, second, ..] = *pattern.as_bytes() else {
            return None;
        };
        let pair = usize::from(first) << 8 | usize::from(second);
        table[pair / 64] |= 1 << (pair % 64);
    }
    Some(table)
});

/// Below this length a text is screened by [`PATTERN_STARTS`] before the search: the SIMD
/// searcher needs a few vectors of text, and below that it hashes every byte (Rabin-Karp), which
/// costs more than the screen on the short strings most JSON values are.
const SCREENED_BELOW: usize = 64;

/// False only if `bytes` holds no trigger pattern.
pub(super) fn may_hold_a_pattern(bytes: &[u8]) -> bool {
    let Some(table) = PATTERN_STARTS.as_ref() else {
        return true;
    };
    bytes.windows(2).any(|pair| {
        let pair = usize::from(pair[0]) << 8 | usize::from(pair[1]);
        table[pair / 64] & (1 << (pair % 64)) != 0
    })
}

/// How many trigger patterns there are: the fixed ones and one per provider.
pub(super) const PATTERNS: usize = FIXED.len() + PROVIDERS.len();

fn trigger_of(pattern: usize) -> Trigger {
    match FIXED.get(pattern) {
        Some((_, trigger)) => *trigger,
        None => Trigger::Provider(pattern - FIXED.len()),
    }
}

/// Calls `each` with every trigger in `bytes`, its pattern's index (`PATTERNS` for `@`) and
/// where it starts. `first_at` is where the first `@` is, if the caller has looked.
pub(super) fn rare_triggers(
    bytes: &[u8],
    first_at: Option<usize>,
    mut each: impl FnMut(Trigger, usize, usize),
) {
    if let Some(from) = first_at {
        for at in memchr::memchr_iter(b'@', &bytes[from..]) {
            each(Trigger::At, PATTERNS, from + at);
        }
    }
    if bytes.len() < SCREENED_BELOW && !may_hold_a_pattern(bytes) {
        return;
    }
    // Each search resumes one byte after the last match's start, not after its end: triggers
    // may overlap (`AKIAIza...` holds `AKIA` and `AIza`).
    let mut from = 0;
    loop {
        let found = match SEARCHER.as_ref() {
            Some(Searcher::Packed(searcher)) => searcher
                .find_in(bytes, Span::from(from..bytes.len()))
                .map(|m| (m.pattern().as_usize(), m.start())),
            Some(Searcher::Automaton(searcher)) => searcher
                .find(Input::new(bytes).range(from..))
                .map(|m| (m.pattern().as_usize(), m.start())),
            // Building from constant patterns does not fail; if it ever did, search one by one.
            None => patterns()
                .enumerate()
                .filter_map(|(index, pattern)| {
                    memmem::find(&bytes[from..], pattern.as_bytes()).map(|at| (index, from + at))
                })
                .min_by_key(|(_, at)| *at),
        };
        let Some((pattern, at)) = found else {
            break;
        };
        each(trigger_of(pattern), pattern, at);
        from = at + 1;
    }
}

/// The findings a (non-email) trigger at `at` starts; returns how far it read, so that a later
/// trigger of the same pattern inside what was read (`AIzaAIzaAIza...`) is not read again.
pub(super) fn credentials_at(
    bytes: &[u8],
    trigger: Trigger,
    at: usize,
    out: &mut Vec<Finding>,
) -> usize {
    let found = match trigger {
        Trigger::At => None,
        Trigger::Jwt => jwt_at(bytes, at),
        Trigger::AccessKey => {
            let key_id = aws_key_at(bytes, at);
            if let Some(key_id) = key_id {
                out.extend(secret_key_near(bytes, key_id.start, key_id.end));
            }
            key_id
        }
        Trigger::AccessKeyMarker => {
            let end = at + "_ACCESS_KEY]".len();
            out.extend(secret_key_near(bytes, at, end));
            return end;
        }
        Trigger::Bearer => bearer_at(bytes, at + 1),
        Trigger::Armour => private_key_at(bytes, at.checked_sub(4).unwrap_or(at)),
        Trigger::Provider(index) => provider_token_at(bytes, &PROVIDERS[index], at),
    };
    match found {
        Some(finding) => {
            out.push(finding);
            finding.end
        }
        None => run_end(bytes, at),
    }
}

/// The end of the run of token characters from `at`, bounded: what a failed trigger read.
fn run_end(bytes: &[u8], at: usize) -> usize {
    let limit = (at + MAX_TOKEN_BYTES).min(bytes.len());
    bytes[at..limit]
        .iter()
        .position(|b| !(is_alnum(*b) || matches!(b, b'-' | b'_' | b'.')))
        .map_or(limit, |len| at + len)
}

/// Longest token part read: longer runs are no tokens, and reading them whole at every trigger
/// would cost time quadratic in their length.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

fn is_base64url(b: u8) -> bool {
    is_alnum(b) || b == b'-' || b == b'_'
}

/// `eyJ<header>.eyJ<payload>.<signature>` (base64url parts; the signature may be empty, as
/// in unsigned tokens, which are no less sensitive). What stands before it does not matter: the
/// two `eyJ` parts are shape enough, and a token glued to a label is still a token.
fn jwt_at(bytes: &[u8], start: usize) -> Option<Finding> {
    let part = |from: usize| {
        let limit = (from + MAX_TOKEN_BYTES).min(bytes.len());
        let mut i = from;
        while i < limit && is_base64url(bytes[i]) {
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
    Some(Finding::new(PiiKind::Jwt, start, end))
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
    (boundary_before && boundary_after && body_ok)
        .then(|| Finding::new(PiiKind::AwsAccessKey, start, end))
}

/// True when `text` holds an AWS access key id (`AKIA`/`ASIA` and 16 more).
pub(crate) fn holds_access_key_id(text: &str) -> bool {
    // Built once: the streaming masker asks this of every string value, and building a
    // searcher per call cost more than the search.
    static AKIA: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"AKIA"));
    static ASIA: LazyLock<memmem::Finder<'static>> = LazyLock::new(|| memmem::Finder::new(b"ASIA"));
    let bytes = text.as_bytes();
    // Most values are shorter than a key id; they are answered without a search.
    if bytes.len() < 20 {
        return false;
    }
    // Below a few vectors of text a searcher's set-up is most of its cost: the windows are read
    // directly. (A match overlapping an earlier one, which the searchers skip, starts after a
    // letter of it, so it is no key id either way.)
    if bytes.len() < 64 {
        return bytes.windows(4).enumerate().any(|(at, window)| {
            matches!(window, b"AKIA" | b"ASIA") && aws_key_at(bytes, at).is_some()
        });
    }
    AKIA.find_iter(bytes)
        .chain(ASIA.find_iter(bytes))
        .any(|at| aws_key_at(bytes, at).is_some())
}

/// True when `text` is, whole, what an AWS secret access key looks like (40 characters of the
/// base64 alphabet, both cases).
pub(crate) fn is_secret_access_key(text: &str) -> bool {
    let bytes = text.trim().as_bytes();
    bytes.len() == 40
        && bytes.iter().all(|b| is_secret_key_char(*b))
        && bytes.iter().any(u8::is_ascii_lowercase)
        && bytes.iter().any(u8::is_ascii_uppercase)
}

fn is_secret_key_char(b: u8) -> bool {
    is_alnum(b) || b == b'/' || b == b'+'
}

/// How far from its key id a secret access key is looked for.
const SECRET_KEY_REACH: usize = 160;

/// A 40-character AWS secret access key (base64 alphabet, both cases) within reach of the key id
/// at `id_start..id_end`, before or after it: credentials are written as pairs.
fn secret_key_near(bytes: &[u8], id_start: usize, id_end: usize) -> Vec<Finding> {
    let windows = [
        (id_end, (id_end + SECRET_KEY_REACH).min(bytes.len())),
        (id_start.saturating_sub(SECRET_KEY_REACH), id_start),
    ];
    let mut found = Vec::new();
    for (from, to) in windows {
        let mut i = from;
        while i < to {
            if !is_secret_key_char(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            // Reading past 41 characters tells nothing more, and runs of the alphabet can be the
            // whole text: the rest of a long run is skipped within the window only.
            while i < bytes.len() && i - start <= 40 && is_secret_key_char(bytes[i]) {
                i += 1;
            }
            let run = &bytes[start..i];
            if run.len() > 40 {
                while i < to && is_secret_key_char(bytes[i]) {
                    i += 1;
                }
                continue;
            }
            let standalone =
                (start == 0 || bytes[start - 1] != b'=') && bytes.get(i).is_none_or(|b| *b != b'=');
            if run.len() == 40
                && standalone
                && run.iter().any(u8::is_ascii_lowercase)
                && run.iter().any(u8::is_ascii_uppercase)
            {
                found.push(Finding::new(PiiKind::AwsSecretKey, start, i));
            }
        }
    }
    found
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
    let limit = (token_start + MAX_TOKEN_BYTES).min(bytes.len());
    while i < limit && is_token_char(bytes[i]) {
        i += 1;
    }
    (i - token_start >= 8).then(|| Finding::new(PiiKind::BearerToken, token_start, i))
}

/// A provider token: one of its prefixes, then a body of its alphabet and length. Prefixes of
/// three characters must start a word; longer ones, with the body they require, are shape
/// enough even glued to a label.
fn provider_token_at(bytes: &[u8], provider: &Provider, trigger: usize) -> Option<Finding> {
    let start = trigger.checked_sub(provider.lead)?;
    let form = provider
        .forms
        .iter()
        .find(|form| bytes[start..].starts_with(form.as_bytes()))?;
    if form.len() <= 3 && start > 0 && is_alnum(bytes[start - 1]) {
        return None;
    }
    let body_start = start + form.len();
    // One past the longest body: enough to tell a token from a longer run.
    let limit = (body_start + provider.max + 1).min(bytes.len());
    let mut end = body_start;
    while end < limit && (provider.alphabet)(bytes[end]) {
        end += 1;
    }
    let body = end - body_start;
    (provider.min..=provider.max)
        .contains(&body)
        .then(|| Finding::new(PiiKind::ProviderToken, start, end))
}

/// Longest armour label read (`ENCRYPTED PRIVATE KEY`, `PGP PRIVATE KEY BLOCK`, ...).
const MAX_ARMOUR_LABEL: usize = 48;

/// `-----BEGIN <label>-----` where the label names a private key, through its matching `-----END
/// <label>-----`, whatever lies between (real line breaks, `\n` escapes). Without its end line
/// (a cut log line), the block runs to the end of the text.
fn private_key_at(bytes: &[u8], start: usize) -> Option<Finding> {
    if !bytes[start..].starts_with(b"-----BEGIN ") {
        return None;
    }
    let label_start = start + b"-----BEGIN ".len();
    let label_len = bytes[label_start..]
        .iter()
        .take(MAX_ARMOUR_LABEL)
        .position(|b| !(b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b' '))?;
    let label = &bytes[label_start..label_start + label_len];
    let header_end = label_start + label_len;
    if !bytes[header_end..].starts_with(b"-----")
        || !(label.ends_with(b"PRIVATE KEY") || label.ends_with(b"PRIVATE KEY BLOCK"))
    {
        return None;
    }
    let mut footer = Vec::with_capacity(label.len() + 14);
    footer.extend_from_slice(b"-----END ");
    footer.extend_from_slice(label);
    footer.extend_from_slice(b"-----");
    let end = match memmem::find(&bytes[header_end..], &footer) {
        Some(at) => header_end + at + footer.len(),
        None => bytes.len(),
    };
    Some(Finding::new(PiiKind::PrivateKey, start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Short texts are read window by window, long ones searched: both answer as the searchers
    /// do, on texts dense in the patterns, overlapping ones (`AKIAKIA...`) included.
    #[test]
    fn short_texts_hold_a_key_id_exactly_when_a_search_finds_one() {
        let searched = |bytes: &[u8]| {
            let akia = memmem::Finder::new(b"AKIA");
            let asia = memmem::Finder::new(b"ASIA");
            akia.find_iter(bytes)
                .chain(asia.find_iter(bytes))
                .any(|at| aws_key_at(bytes, at).is_some())
        };
        let pieces: [&[u8]; 8] = [b"AKIA", b"ASIA", b"KIA", b"SIA", b"A", b"Z7", b"Q", b" "];
        let mut rng = fastrand::Rng::with_seed(7);
        let (mut holding, mut tried) = (0, 0);
        for _ in 0..200_000 {
            let mut text = Vec::new();
            let len = rng.usize(20..64);
            while text.len() < len {
                text.extend_from_slice(pieces[rng.usize(..pieces.len())]);
            }
            text.truncate(len);
            let Ok(text) = String::from_utf8(text) else {
                continue;
            };
            let expected = searched(text.as_bytes());
            assert_eq!(holds_access_key_id(&text), expected, "{text}");
            holding += usize::from(expected);
            tried += 1;
        }
        assert!(holding > 100 && holding < tried, "{holding} of {tried}");
    }

    #[test]
    fn the_screen_is_in_use_and_passes_every_pattern() {
        assert!(PATTERN_STARTS.is_some(), "a pattern shorter than two bytes");
        let mut rng = fastrand::Rng::with_seed(3);
        let filler = b"aZ09 _-.:=\"\\@eyJAKIbBx";
        for pattern in patterns() {
            for _ in 0..200 {
                let mut text: Vec<u8> = (0..rng.usize(0..30))
                    .map(|_| filler[rng.usize(..filler.len())])
                    .collect();
                let at = rng.usize(0..=text.len());
                text.splice(at..at, pattern.bytes());
                assert!(may_hold_a_pattern(&text), "{pattern} in {text:?}");
            }
        }
    }

    /// Over short texts made of pieces of patterns, the screened search finds exactly the
    /// pattern occurrences a plain substring search finds.
    #[test]
    fn the_screened_search_finds_every_occurrence() {
        let all: Vec<&str> = patterns().collect();
        let mut rng = fastrand::Rng::with_seed(4);
        let filler = b"aZ09 _-.:=@";
        for _ in 0..20_000 {
            let mut text = Vec::new();
            while text.len() < rng.usize(0..SCREENED_BELOW + 8) {
                if rng.bool() {
                    let pattern = all[rng.usize(..all.len())].as_bytes();
                    text.extend_from_slice(&pattern[..rng.usize(1..=pattern.len())]);
                } else {
                    text.push(filler[rng.usize(..filler.len())]);
                }
            }
            // Overlapping occurrences too (`AKIAKIA`): every start, every pattern.
            let expected: Vec<(usize, usize)> = (0..text.len())
                .flat_map(|at| {
                    let text = &text;
                    all.iter()
                        .enumerate()
                        .filter(move |(_, pattern)| text[at..].starts_with(pattern.as_bytes()))
                        .map(move |(index, _)| (index, at))
                })
                .collect();
            let mut found = Vec::new();
            rare_triggers(&text, None, |_, pattern, at| found.push((pattern, at)));
            assert_eq!(found, expected, "{:?}", String::from_utf8_lossy(&text));
        }
    }
}
