//! Decoding one long JSON string: an HTTP event's body, which is the request's JSON text escaped
//! once, so that every quote of it is `\"`, one escape every few bytes.
//!
//! Stopping at each escape costs a dependent load and a branch per escape, about two thirds of
//! the time of reading such a body. Here a block of 64 bytes is read as bit masks (one bit per
//! byte for backslashes and quotes), the escaping backslashes of the block are found from the
//! masks alone, and the bytes between them are copied in fixed-size moves. A block holding
//! anything else (an escape other than `\"` or `\\`, a control character, the closing quote) is
//! read escape by escape, as [`Lexer::string`](super::stream) reads any string, and the blocks
//! go on after it. The result is the same string, or `None` for text that is not one.

use super::stream::{escape_at, next_string_byte};

const BLOCK: usize = 64;
/// The size of one move of kept bytes; a run between two escapes longer than that takes more.
const MOVE: usize = 16;

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
const LOWS: u64 = u64::from_ne_bytes([0x7f; 8]);
const EVEN_BITS: u64 = 0x5555_5555_5555_5555;

/// The value of the JSON string at the start of `text` (after any whitespace) and where its text
/// ends (after the closing quote), in a buffer of `capacity` bytes; `None` if `text` does not
/// start with a JSON string.
pub(crate) fn decode_json_string_at(text: &str, capacity: usize) -> Option<(String, usize)> {
    let bytes = text.as_bytes();
    let mut at = bytes
        .iter()
        .position(|b| !matches!(b, b' ' | b'\n' | b'\r' | b'\t'))?;
    if bytes[at] != b'"' {
        return None;
    }
    at += 1;
    let mut out = Vec::with_capacity(capacity);
    loop {
        at = plain_blocks(bytes, at, &mut out);
        match escapes_until(bytes, at, at + BLOCK, &mut out)? {
            Read::End(end) => return String::from_utf8(out).ok().map(|s| (s, end)),
            Read::Upto(next) => at = next,
        }
    }
}

/// How far [`escapes_until`] read.
enum Read {
    /// The string ended: the index after its closing quote.
    End(usize),
    /// The string goes on from here, outside any escape.
    Upto(usize),
}

/// Decodes escape by escape from `at` (outside any escape) until the string ends or an escape
/// ends at or past `limit`; `None` for text that is not a JSON string's.
fn escapes_until(bytes: &[u8], mut at: usize, limit: usize, out: &mut Vec<u8>) -> Option<Read> {
    loop {
        let stop = next_string_byte(bytes, at)?;
        out.extend_from_slice(&bytes[at..stop]);
        match bytes[stop] {
            b'"' => return Some(Read::End(stop + 1)),
            b'\\' => {
                let (decoded, next) = escape_at(bytes, stop).ok()?;
                out.extend_from_slice(decoded.encode_utf8(&mut [0; 4]).as_bytes());
                at = next;
                if at >= limit {
                    return Some(Read::Upto(at));
                }
            }
            // A raw control character.
            _ => return None,
        }
    }
}

/// Decodes whole blocks from `at` (outside any escape) while each holds no escape but `\"` and
/// `\\`, no control character and no closing quote; returns where it stopped, outside any
/// escape.
fn plain_blocks(bytes: &[u8], mut at: usize, out: &mut Vec<u8>) -> usize {
    // The block and the kept bytes, each with room for a last move past its end.
    let mut block = [0u8; BLOCK + MOVE];
    let mut kept = [0u8; BLOCK + MOVE];
    while let Some(chunk) = bytes.get(at..at + BLOCK) {
        block[..BLOCK].copy_from_slice(chunk);
        let masks = Masks::of(&block);
        if masks.control != 0 {
            return at;
        }
        if masks.backslash == 0 {
            if masks.quote != 0 {
                return at;
            }
            out.extend_from_slice(chunk);
            at += BLOCK;
            continue;
        }
        let mut escapers = escapers(masks.backslash);
        // An escape cut by the block's end is left to the next block.
        let len = if escapers >> (BLOCK - 1) != 0 {
            escapers &= !(1 << (BLOCK - 1));
            BLOCK - 1
        } else {
            BLOCK
        };
        let escaped = escapers << 1;
        if escaped & !(masks.quote | masks.backslash) != 0 || masks.quote & !escaped != 0 {
            return at;
        }
        let mut written = 0;
        let mut from = 0;
        while escapers != 0 {
            let escaper = escapers.trailing_zeros() as usize;
            written = move_run(&block, from, escaper, &mut kept, written);
            from = escaper + 1;
            escapers &= escapers - 1;
        }
        written = move_run(&block, from, len, &mut kept, written);
        out.extend_from_slice(&kept[..written]);
        at += len;
    }
    at
}

/// Appends `block[from..to]` to `kept[..written]` in moves of [`MOVE`] bytes (the last move's
/// excess is overwritten by the next run or never read); returns the new length.
#[inline(always)]
fn move_run(
    block: &[u8; BLOCK + MOVE],
    mut from: usize,
    to: usize,
    kept: &mut [u8; BLOCK + MOVE],
    mut written: usize,
) -> usize {
    while from < to {
        let n = (to - from).min(MOVE);
        if let (Some(dst), Some(src)) = (
            kept.get_mut(written..written + MOVE),
            block.get(from..from + MOVE),
        ) {
            dst.copy_from_slice(src);
        }
        written += n;
        from += n;
    }
    written
}

/// One bit per byte of a block, bit `i` for byte `i`.
struct Masks {
    backslash: u64,
    quote: u64,
    /// Non-zero if any byte is below 0x20 (not one bit per byte).
    control: u64,
}

impl Masks {
    #[inline(always)]
    fn of(block: &[u8; BLOCK + MOVE]) -> Self {
        let mut masks = Masks {
            backslash: 0,
            quote: 0,
            control: 0,
        };
        for lane in 0..BLOCK / 8 {
            let mut word = [0; 8];
            word.copy_from_slice(&block[lane * 8..lane * 8 + 8]);
            let word = u64::from_le_bytes(word);
            masks.backslash |= gather(zero_bytes(word ^ (ONES * u64::from(b'\\')))) << (lane * 8);
            masks.quote |= gather(zero_bytes(word ^ (ONES * u64::from(b'"')))) << (lane * 8);
            masks.control |= zero_bytes(word & (ONES * 0xE0));
        }
        masks
    }
}

/// The high bit of each zero byte of `word`, and no other bit (no borrow between bytes).
#[inline(always)]
fn zero_bytes(word: u64) -> u64 {
    !(((word & LOWS).wrapping_add(LOWS)) | word) & HIGHS
}

/// The high bits of `word`'s bytes as the low 8 bits, bit `i` for byte `i`: each byte's bit is
/// multiplied into the top byte at its own place, with no two products on one bit.
#[inline(always)]
fn gather(high_bits: u64) -> u64 {
    ((high_bits >> 7).wrapping_mul(0x0102_0408_1020_4080)) >> 56
}

/// The backslashes that start an escape, in a block that starts outside any escape: in each run
/// of backslashes, the first, third, fifth...
///
/// Adding a run's first bit to the run carries through it and clears it, so the runs starting on
/// an even bit are told apart from those starting on an odd one without a loop.
#[inline(always)]
fn escapers(backslash: u64) -> u64 {
    let starts = backslash & !(backslash << 1);
    let in_even_runs = backslash & !backslash.wrapping_add(starts & EVEN_BITS);
    let in_odd_runs = backslash & !in_even_runs;
    (in_even_runs & EVEN_BITS) | (in_odd_runs & !EVEN_BITS)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the lexer makes of the string (every other string's reader).
    fn by_lexer(text: &str) -> Option<(String, usize)> {
        super::super::stream::decode_by_lexer(text)
    }

    #[test]
    fn escapers_are_the_odd_members_of_each_run() {
        let by_bytes = |bs: u64| {
            let mut escapers = 0u64;
            let mut i = 0;
            while i < 64 {
                if bs >> i & 1 == 1 {
                    escapers |= 1 << i;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            escapers
        };
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..200_000 {
            // Dense and sparse masks, with long runs.
            let bs = match rng.u8(..3) {
                0 => rng.u64(..),
                1 => rng.u64(..) | rng.u64(..) | rng.u64(..),
                _ => rng.u64(..) & rng.u64(..),
            };
            assert_eq!(escapers(bs), by_bytes(bs), "{bs:064b}");
        }
        assert_eq!(escapers(u64::MAX), EVEN_BITS);
    }

    #[test]
    fn masks_find_exactly_the_bytes() {
        let mut rng = fastrand::Rng::with_seed(5);
        for _ in 0..20_000 {
            let mut block = [0u8; BLOCK + MOVE];
            for b in block.iter_mut().take(BLOCK) {
                *b = match rng.u8(..4) {
                    0 => *rng
                        .choice(b"\\\"\x00\x1f\x20\x21\x5c\x5d\x7f\x80\xa2\xdc\xe0\xff")
                        .unwrap_or(&0),
                    _ => rng.u8(..),
                };
            }
            let masks = Masks::of(&block);
            let bits = |want: &dyn Fn(u8) -> bool| {
                (0..BLOCK).fold(0u64, |m, i| m | (u64::from(want(block[i])) << i))
            };
            assert_eq!(masks.backslash, bits(&|b| b == b'\\'));
            assert_eq!(masks.quote, bits(&|b| b == b'"'));
            assert_eq!(masks.control != 0, bits(&|b| b < 0x20) != 0);
        }
    }

    /// Strings built to put every kind of escape, and every run of backslashes, across block
    /// boundaries: the blocks' decoder reads each as the lexer does, including the ones that are
    /// not JSON strings.
    #[test]
    fn decodes_as_the_lexer_does() {
        let pieces: &[&str] = &[
            "\\\"",
            "\\\\",
            "\\\\\\\"",
            "\\\\\\\\",
            "a",
            "plain text ",
            "\\/",
            "\\n",
            "\\t",
            "\\r",
            "\\b",
            "\\f",
            "\\u00e9",
            "\\u20AC",
            "\\ud83d\\ude00",
            "é",
            "€",
            "😀",
            "\"",
            "{\\\"records\\\":[{\\\"name\\\":\\\"Jane\\\"}]}",
        ];
        // What no JSON string holds, and a backslash that may or may not start an escape.
        let broken: &[&str] = &["\\ud83d", "\\ude00", "\\u12", "\\x", "\\", "\u{1}", "\t"];
        let mut rng = fastrand::Rng::with_seed(9);
        let mut texts = 0;
        for _ in 0..60_000 {
            let mut text = String::from(if rng.u8(..20) == 0 { " \n\"" } else { "\"" });
            let target = rng.usize(0..400);
            while text.len() < target {
                // Mostly quotes and backslashes (as a body is), so that blocks stay on the
                // fast path long enough to meet the rarer pieces at every offset.
                let piece = match rng.u16(..200) {
                    0 => broken[rng.usize(..broken.len())],
                    1..=99 => pieces[rng.usize(..4)],
                    _ => pieces[rng.usize(..pieces.len())],
                };
                text.push_str(piece);
            }
            match rng.u8(..4) {
                0 => {}
                1 => text.push_str("\" , \"next\": 1}"),
                _ => text.push('"'),
            }
            let got = decode_json_string_at(&text, text.len());
            assert_eq!(got, by_lexer(&text), "{text:?}");
            texts += usize::from(got.is_some());
        }
        // Most of them are strings, so the decoded values were compared, not only failures.
        assert!(texts > 30_000, "{texts}");
    }

    #[test]
    fn a_long_body_decodes_whole() {
        let json = serde_json::json!({
            "records": (0..500).map(|i| serde_json::json!({
                "name": format!("user {i}"),
                "note": "said \"hi\" \\ left\nbye",
                "city": "Zürich €",
            })).collect::<Vec<_>>()
        })
        .to_string();
        let body = serde_json::Value::String(json.clone()).to_string();
        let event = format!("{body}, \"isBase64Encoded\": false}}");
        assert_eq!(
            decode_json_string_at(&event, event.len()),
            Some((json, body.len()))
        );
    }
}
