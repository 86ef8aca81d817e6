//! Masking JSON text to JSON text in one pass per record, without building a tree.
//!
//! Some facts about an object or an array depend on members the masker has not reached yet when
//! it writes an earlier one: a name member naming a secret may follow its value member; an access
//! key id may follow its secret key; a key holding PII may repeat a key written before it. Most
//! records hold none of these, so a record is first written in one pass straight from the
//! request's bytes. If that pass meets one of them (or any error), what it wrote is taken back
//! and the record is read twice: a first scan checks the syntax and the depth and notes those
//! facts for each object and array, and a second pass writes the masked record with the notes
//! in hand. Either way a record costs at most three readings, and memory is the output plus
//! O(depth), whatever the record's size: no `Value` tree, no copy of strings that need no mask
//! and hold no escapes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::hash::{Hash, Hasher};

use super::detect::{
    find_labelled, holds_access_key_id, is_secret_access_key, names_secret, Finding, Label, PiiKind,
};
use super::format::{apply, redaction_marker, MaskError, Strategy};
use super::json::{JsonMaskError, JsonMasker, MaskReport};
use super::key_facts::{worth_reading, KeyCache};
use super::path::{JsonPath, PathState, Step};
use super::text::{default_mask, redact_cookie_header, redact_labelled_with, redact_text};

/// Where the masked JSON goes: a buffer, either as JSON text or as the contents of a JSON string
/// (the body of a Lambda response envelope), with an optional copy of its first bytes for a log
/// preview.
pub struct JsonOut<'o> {
    buf: &'o mut Vec<u8>,
    quoted: bool,
    preview: Vec<u8>,
    preview_room: usize,
    preview_cut: bool,
}

impl<'o> JsonOut<'o> {
    /// Writes JSON text as it is.
    pub fn new(buf: &'o mut Vec<u8>) -> Self {
        Self {
            buf,
            quoted: false,
            preview: Vec::new(),
            preview_room: 0,
            preview_cut: false,
        }
    }

    /// Writes JSON text escaped as the contents of a JSON string (`"` and `\` escaped; masked
    /// JSON holds no raw control characters).
    pub fn quoted(buf: &'o mut Vec<u8>) -> Self {
        Self {
            quoted: true,
            ..Self::new(buf)
        }
    }

    /// Keeps a copy of the next `max` bytes of JSON text written (before any quoting).
    pub fn start_preview(&mut self, max: usize) {
        self.preview = Vec::with_capacity(max.min(4096));
        self.preview_room = max;
    }

    /// The preview: the bytes kept, and whether more was written after them; no more is kept.
    pub fn take_preview(&mut self) -> (Vec<u8>, bool) {
        self.preview_room = 0;
        let cut = std::mem::take(&mut self.preview_cut);
        (std::mem::take(&mut self.preview), cut)
    }

    /// Writes JSON text.
    #[inline]
    pub fn push(&mut self, bytes: &[u8]) {
        // Called for every piece of punctuation: the common case (room left, no preview being
        // kept, JSON text as it is) stays small enough to inline.
        self.prepare(bytes, bytes.len() * 2);
        if self.quoted {
            self.push_quoted(bytes);
        } else {
            self.buf.extend_from_slice(bytes);
        }
    }

    /// Before writing the JSON text `text` as at most `written` bytes: room for them, and the
    /// preview's copy of the text.
    #[inline]
    fn prepare(&mut self, text: &[u8], written: usize) {
        if written > self.buf.capacity() - self.buf.len() {
            self.grow(written);
        }
        if self.previewing() {
            self.keep_preview(text);
        }
    }

    #[cold]
    fn grow(&mut self, needed: usize) {
        // Grows by an eighth rather than by doubling: a response of several megabytes that
        // outgrows its estimate must not reserve twice its size.
        let step = (self.buf.capacity() / 8).max(needed).max(4096);
        self.buf.reserve_exact(step);
    }

    /// True while the preview still takes bytes or has yet to note that it was cut.
    #[inline]
    fn previewing(&self) -> bool {
        self.preview_room > 0 || (!self.preview_cut && !self.preview.is_empty())
    }

    #[inline(never)]
    fn keep_preview(&mut self, bytes: &[u8]) {
        let take = bytes.len().min(self.preview_room);
        self.preview.extend_from_slice(&bytes[..take]);
        self.preview_room -= take;
        self.preview_cut |= take < bytes.len();
    }

    fn push_quoted(&mut self, bytes: &[u8]) {
        let escaped = |b: &u8| matches!(b, b'"' | b'\\');
        // Most pieces are short (punctuation, keys, masked values): scanned inline, as a call
        // into memchr costs more than it saves below a few dozen bytes.
        if bytes.len() < 32 {
            if !bytes.iter().any(escaped) {
                self.buf.extend_from_slice(bytes);
                return;
            }
            for b in bytes {
                if escaped(b) {
                    self.buf.push(b'\\');
                }
                self.buf.push(*b);
            }
            return;
        }
        let mut rest = bytes;
        while let Some(at) = memchr::memchr2(b'"', b'\\', rest) {
            self.buf.extend_from_slice(&rest[..at]);
            self.buf.push(b'\\');
            self.buf.push(rest[at]);
            rest = &rest[at + 1..];
        }
        self.buf.extend_from_slice(rest);
    }

    /// Writes JSON text that holds no quote and no backslash (punctuation, a number, a literal,
    /// a string's text that held no escape): inside a quoted output it needs no escape either,
    /// so it is not looked at.
    #[inline]
    fn push_plain(&mut self, bytes: &[u8]) {
        debug_assert!(!bytes.iter().any(|b| matches!(b, b'"' | b'\\')));
        self.prepare(bytes, bytes.len());
        self.buf.extend_from_slice(bytes);
    }

    /// Writes the quote that opens or closes a string.
    #[inline]
    fn push_quote(&mut self) {
        let quote: &[u8] = if self.quoted { b"\\\"" } else { b"\"" };
        self.prepare(b"\"", quote.len());
        self.buf.extend_from_slice(quote);
    }

    /// Writes a JSON string whose text needs no escape (no quote, no backslash, no control
    /// character), quotes included: most strings written, so one check for room, not three.
    #[inline]
    fn push_plain_string(&mut self, text: &[u8]) {
        if self.previewing() {
            self.push_quote();
            self.push_plain(text);
            self.push_quote();
            return;
        }
        let quote: &[u8] = if self.quoted { b"\\\"" } else { b"\"" };
        let written = text.len() + 2 * quote.len();
        if written > self.buf.capacity() - self.buf.len() {
            self.grow(written);
        }
        self.buf.extend_from_slice(quote);
        self.buf.extend_from_slice(text);
        self.buf.extend_from_slice(quote);
    }

    /// Like [`JsonOut::push_plain_string`] for the text `input[start..end]`: a short one is
    /// copied as a block of fixed size from the input and cut to its length, since most strings
    /// are a few bytes long and a copy of unknown length is a call into `memcpy`.
    #[inline]
    fn push_input_string(&mut self, input: &[u8], start: usize, end: usize) {
        const BLOCK: usize = 32;
        let text = &input[start..end];
        let block = input
            .get(start..start + BLOCK)
            .and_then(|block| <&[u8; BLOCK]>::try_from(block).ok());
        let Some(block) = block.filter(|_| text.len() <= BLOCK && !self.previewing()) else {
            self.push_plain_string(text);
            return;
        };
        let written = BLOCK + 4;
        if written > self.buf.capacity() - self.buf.len() {
            self.grow(written);
        }
        if self.quoted {
            self.buf.extend_from_slice(b"\\\"");
        } else {
            self.buf.push(b'"');
        }
        let len = self.buf.len() + text.len();
        self.buf.extend_from_slice(block);
        self.buf.truncate(len);
        if self.quoted {
            self.buf.extend_from_slice(b"\\\"");
        } else {
            self.buf.push(b'"');
        }
    }

    /// Writes `text` as a JSON string, escaped as serde_json escapes it.
    pub fn string(&mut self, text: &str) {
        let bytes = text.as_bytes();
        // Masks and most keys need no escape: written whole.
        if next_string_byte(bytes, 0).is_none() {
            self.push_plain_string(bytes);
            return;
        }
        self.push_quote();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'"' => b"\\\"",
                b'\\' => b"\\\\",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                b'\t' => b"\\t",
                0x08 => b"\\b",
                0x0c => b"\\f",
                0..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    self.push_plain(&bytes[start..i]);
                    self.push(&[
                        b'\\',
                        b'u',
                        b'0',
                        b'0',
                        HEX[usize::from(b >> 4)],
                        HEX[usize::from(b & 0xf)],
                    ]);
                    start = i + 1;
                    continue;
                }
                _ => continue,
            };
            self.push_plain(&bytes[start..i]);
            self.push(escape);
            start = i + 1;
        }
        self.push_plain(&bytes[start..]);
        self.push_quote();
    }

    /// Where the output stands, to go back to with [`JsonOut::rewind`].
    fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            preview_len: self.preview.len(),
            preview_room: self.preview_room,
            preview_cut: self.preview_cut,
        }
    }

    /// Takes back everything written since `mark`, the preview's copy included.
    fn rewind(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.preview.truncate(mark.preview_len);
        self.preview_room = mark.preview_room;
        self.preview_cut = mark.preview_cut;
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A point of a [`JsonOut`] to go back to.
#[derive(Clone, Copy)]
struct Mark {
    len: usize,
    preview_len: usize,
    preview_room: usize,
    preview_cut: bool,
}

/// The value of a JSON string from its text (`"..."`), in a buffer of `capacity` bytes (its exact
/// length, when the caller knows it); `None` if the text is not one JSON string.
pub fn decode_json_string(quoted: &str, capacity: usize) -> Option<String> {
    let (out, end) = super::unescape::decode_json_string_at(quoted, capacity)?;
    let rest = &quoted.as_bytes()[end..];
    rest.iter()
        .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        .then_some(out)
}

/// [`decode_json_string_at`] as the lexer reads a string: what the blocks' decoder is checked
/// against.
#[cfg(test)]
pub(super) fn decode_by_lexer(text: &str) -> Option<(String, usize)> {
    let mut lex = Lexer { text, pos: 0 };
    let mut out = String::new();
    if let Str::Raw(start, end) = lex.string(&mut out).ok()? {
        out.push_str(&text[start..end]);
    }
    Some((out, lex.pos))
}

/// Why a JSON text could not be masked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the JSON is not valid at byte {at}")]
    Syntax { at: usize },
    #[error("records must be a JSON array")]
    NotAnArray,
    #[error("record {index}: {error}")]
    Record { index: usize, error: JsonMaskError },
}

/// Object notes from the first scan.
const NAMES_SECRET: u8 = 1;
const HOLDS_KEY_ID: u8 = 2;
const KEY_WORTH_READING: u8 = 4;

/// A string as read: its bytes in the input when it holds no escape, else decoded into a scratch
/// buffer.
#[derive(Clone, Copy)]
enum Str {
    Raw(usize, usize),
    Decoded,
}

/// The input and a position in it.
struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

type Syntax = usize;

impl<'a> Lexer<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        let bytes = self.bytes();
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Result<u8, Syntax> {
        self.ws();
        self.bytes().get(self.pos).copied().ok_or(self.pos)
    }

    fn eat(&mut self, byte: u8) -> Result<(), Syntax> {
        if self.peek()? == byte {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.pos)
        }
    }

    /// After a member or item: `true` for `,`, `false` for the closing `close`.
    fn next_or_close(&mut self, close: u8) -> Result<bool, Syntax> {
        match self.peek()? {
            b',' => {
                self.pos += 1;
                Ok(true)
            }
            b if b == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(self.pos),
        }
    }

    fn resolve<'s>(&self, s: Str, scratch: &'s str) -> &'s str
    where
        'a: 's,
    {
        match s {
            Str::Raw(start, end) => &self.text[start..end],
            Str::Decoded => scratch,
        }
    }

    /// A string at the position (`"` next); escapes are decoded into `scratch`.
    fn string(&mut self, scratch: &mut String) -> Result<Str, Syntax> {
        self.eat(b'"')?;
        let bytes = self.bytes();
        let start = self.pos;
        let mut decoded = false;
        let mut segment = start;
        loop {
            let at = string_stop(bytes, self.pos)?;
            if bytes[at] == b'"' {
                self.pos = at + 1;
                if decoded {
                    scratch.push_str(&self.text[segment..at]);
                    return Ok(Str::Decoded);
                }
                return Ok(Str::Raw(start, at));
            }
            if !decoded {
                scratch.clear();
                decoded = true;
            }
            scratch.push_str(&self.text[segment..at]);
            let (decoded, next) = escape_at(bytes, at)?;
            scratch.push(decoded);
            self.pos = next;
            segment = next;
        }
    }

    /// A number's text, checked against JSON's grammar.
    fn number(&mut self) -> Result<&'a str, Syntax> {
        let bytes = self.bytes();
        let start = self.pos;
        let digits = |pos: &mut usize| {
            let from = *pos;
            while bytes.get(*pos).is_some_and(u8::is_ascii_digit) {
                *pos += 1;
            }
            *pos > from
        };
        let mut pos = start;
        if bytes.get(pos) == Some(&b'-') {
            pos += 1;
        }
        match bytes.get(pos) {
            Some(b'0') => pos += 1,
            Some(b'1'..=b'9') => {
                digits(&mut pos);
            }
            _ => return Err(pos),
        }
        if bytes.get(pos) == Some(&b'.') {
            pos += 1;
            if !digits(&mut pos) {
                return Err(pos);
            }
        }
        if let Some(b'e' | b'E') = bytes.get(pos) {
            pos += 1;
            if let Some(b'+' | b'-') = bytes.get(pos) {
                pos += 1;
            }
            if !digits(&mut pos) {
                return Err(pos);
            }
        }
        self.pos = pos;
        Ok(&self.text[start..pos])
    }

    fn literal(&mut self, word: &'static str) -> Result<&'static str, Syntax> {
        if self.bytes().get(self.pos..self.pos + word.len()) == Some(word.as_bytes()) {
            self.pos += word.len();
            Ok(word)
        } else {
            Err(self.pos)
        }
    }
}

/// The character of the escape whose backslash is at `at`, and the index after the escape.
pub(super) fn escape_at(bytes: &[u8], at: usize) -> Result<(char, usize), Syntax> {
    let escape = bytes.get(at + 1).copied().ok_or(at)?;
    let mut pos = at + 2;
    let decoded = match escape {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(bytes, &mut pos)?;
            let c = if (0xD800..0xDC00).contains(&high) {
                if bytes.get(pos..pos + 2) != Some(b"\\u") {
                    return Err(pos);
                }
                pos += 2;
                let low = hex4(bytes, &mut pos)?;
                if !(0xDC00..0xE000).contains(&low) {
                    return Err(pos);
                }
                0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
            } else {
                high
            };
            char::from_u32(c).ok_or(pos)?
        }
        _ => return Err(at),
    };
    Ok((decoded, pos))
}

fn hex4(bytes: &[u8], pos: &mut usize) -> Result<u32, Syntax> {
    let digits = bytes.get(*pos..*pos + 4).ok_or(*pos)?;
    let mut value = 0;
    for &d in digits {
        let digit = char::from(d).to_digit(16).ok_or(*pos)?;
        value = value * 16 + digit;
    }
    *pos += 4;
    Ok(value)
}

/// Where the string text from `from` stops: its closing quote or its next backslash. A raw
/// control character before that stop, or no stop at all, is a syntax error.
#[inline]
fn string_stop(bytes: &[u8], from: usize) -> Result<usize, Syntax> {
    match next_string_byte(bytes, from) {
        Some(at) if matches!(bytes[at], b'"' | b'\\') => Ok(at),
        // A control character: the error is where it is if the string ends, else at the end.
        Some(_) => long_string_stop(bytes, from),
        None => Err(bytes.len()),
    }
}

/// The first quote, backslash or control character at or after `from`: the bytes inside a JSON
/// string that are not its text.
#[inline]
pub(crate) fn next_string_byte(bytes: &[u8], from: usize) -> Option<usize> {
    // Most strings (keys, short values) end within a few dozen bytes, and a large body's text
    // has an escape every few bytes: eight bytes at a time in a register cost less there than a
    // call into memchr followed by a second look for control characters.
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte below `n` (n <= 0x80), and possibly of bytes after the first
    // such byte, never before it (the borrow runs upwards, little-endian: to later bytes).
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let mut at = from;
    for _ in 0..4 {
        let Some(chunk) = bytes.get(at..at + 8) else {
            break;
        };
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let stops = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if stops != 0 {
            return Some(at + (stops.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let rest = bytes.get(at..)?;
    let stop = memchr::memchr2(b'"', b'\\', rest);
    let control = rest[..stop.unwrap_or(rest.len())]
        .iter()
        .position(|b| *b < 0x20);
    control.or(stop).map(|i| at + i)
}

fn long_string_stop(bytes: &[u8], from: usize) -> Result<usize, Syntax> {
    let at = memchr::memchr2(b'"', b'\\', &bytes[from..])
        .map(|at| from + at)
        .ok_or(bytes.len())?;
    if let Some(bad) = bytes[from..at].iter().position(|b| *b < 0x20) {
        return Err(from + bad);
    }
    Ok(at)
}

/// A number as serde_json writes it once parsed (`1.50` is `1.5`, `1e2` is `100.0`): what a
/// rule or a detector sees, and what comes back unmasked, is what the tree-based masker gave.
fn normalized_number(raw: &str) -> Result<Cow<'_, str>, Syntax> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    // Integers of up to 18 digits (other than `-0`) are i64/u64 values printed as they came.
    if digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) && raw != "-0" {
        return Ok(Cow::Borrowed(raw));
    }
    raw.parse::<serde_json::Number>()
        .map(|n| Cow::Owned(n.to_string()))
        .map_err(|_| 0)
}

/// What a value's place says about it.
#[derive(Debug, Clone, Copy, Default)]
struct Context {
    /// Below a key that names a secret, or the value member beside a name naming one.
    secret: bool,
    /// A string here shaped like an AWS secret key is secret (its container holds a key id).
    secret_if_key_shaped: bool,
    /// The kind its key names.
    label: Option<Label>,
    /// Below a cookie key (`Cookie`, `cookies`; `Some(true)` for `Set-Cookie`).
    cookie: Option<bool>,
    /// The member of a key that names its sibling (`Name`): a string here may name a secret.
    name_member: bool,
}

/// A step of the current location, for error messages: a key by its place in the input (the
/// quoted text), decoded only if a message names it.
#[derive(Clone, Copy)]
enum Seg {
    Key(usize, usize),
    Index(usize),
}

/// One record's masking pass.
struct Pass<'m, 'a> {
    masker: &'m JsonMasker,
    lex: Lexer<'a>,
    /// Notes of the first scan: (container number in document order, notes), ascending.
    notes: Vec<(usize, u8)>,
    next_note: usize,
    containers: usize,
    states: Vec<PathState>,
    location: Vec<Seg>,
    report: MaskReport,
    key_scratch: String,
    value_scratch: String,
    findings: Vec<Finding>,
    keys: KeyCache,
    /// Records may be written in one pass (no `encrypt` rule: sealing twice is not free).
    one_pass_allowed: bool,
    /// Writing a record in one pass, without notes: meeting what a note is for stops the pass.
    one_pass: bool,
    /// Set by the scan of a value: it is an array holding a string that names a secret (a name
    /// member given as a list, `{"Name": ["db_password"], "Value": ...}`).
    scanned_list_names_secret: bool,
}

impl<'m, 'a> Pass<'m, 'a> {
    fn new(masker: &'m JsonMasker, text: &'a str) -> Self {
        Self {
            masker,
            lex: Lexer { text, pos: 0 },
            notes: Vec::new(),
            next_note: 0,
            containers: 0,
            states: masker
                .rules()
                .iter()
                .map(|(path, _)| path.start())
                .collect(),
            location: Vec::new(),
            report: MaskReport::default(),
            key_scratch: String::new(),
            value_scratch: String::new(),
            findings: Vec::new(),
            keys: KeyCache::default(),
            one_pass_allowed: !masker
                .rules()
                .iter()
                .any(|(_, strategy)| *strategy == Strategy::Encrypt),
            one_pass: false,
            scanned_list_names_secret: false,
        }
    }

    fn too_deep(&self, depth: usize) -> Result<(), Failure> {
        if depth > self.masker.depth_limit() {
            return Err(Failure::Mask(JsonMaskError::TooDeep {
                max: self.masker.depth_limit(),
            }));
        }
        Ok(())
    }

    /// The first scan of the value at the position: syntax, depth, and the notes.
    fn scan(&mut self, depth: usize) -> Result<(), Failure> {
        self.too_deep(depth)?;
        self.scanned_list_names_secret = false;
        let detect = self.masker.detects();
        match self.lex.peek()? {
            b'{' => {
                self.lex.pos += 1;
                let number = self.containers;
                self.containers += 1;
                let mut notes = 0;
                if self.lex.peek()? == b'}' {
                    self.lex.pos += 1;
                } else {
                    loop {
                        let key = self.lex.string(&mut self.key_scratch)?;
                        self.lex.eat(b':')?;
                        let key = self.lex.resolve(key, &self.key_scratch);
                        let facts = self.keys.facts(key);
                        let name_key = detect && facts.name;
                        if detect && facts.worth_reading {
                            notes |= KEY_WORTH_READING;
                        }
                        if self.lex.peek()? == b'"' {
                            self.too_deep(depth + 1)?;
                            let value = self.lex.string(&mut self.value_scratch)?;
                            let value = self.lex.resolve(value, &self.value_scratch);
                            if name_key && names_secret(value) {
                                notes |= NAMES_SECRET;
                            }
                            if detect && holds_access_key_id(value) {
                                notes |= HOLDS_KEY_ID;
                            }
                        } else {
                            self.scan(depth + 1)?;
                            if name_key && self.scanned_list_names_secret {
                                notes |= NAMES_SECRET;
                            }
                        }
                        if !self.lex.next_or_close(b'}')? {
                            break;
                        }
                    }
                }
                if notes != 0 {
                    self.notes.push((number, notes));
                }
                // Members scanned above may have set it; an object names nothing.
                self.scanned_list_names_secret = false;
            }
            b'[' => {
                self.lex.pos += 1;
                let number = self.containers;
                self.containers += 1;
                let mut notes = 0;
                let mut names_secret_item = false;
                if self.lex.peek()? == b']' {
                    self.lex.pos += 1;
                } else {
                    loop {
                        if self.lex.peek()? == b'"' {
                            self.too_deep(depth + 1)?;
                            let value = self.lex.string(&mut self.value_scratch)?;
                            let value = self.lex.resolve(value, &self.value_scratch);
                            if detect && holds_access_key_id(value) {
                                notes |= HOLDS_KEY_ID;
                            }
                            names_secret_item |= detect && names_secret(value);
                        } else {
                            self.scan(depth + 1)?;
                        }
                        if !self.lex.next_or_close(b']')? {
                            break;
                        }
                    }
                }
                if notes != 0 {
                    self.notes.push((number, notes));
                }
                self.scanned_list_names_secret = names_secret_item;
            }
            b'"' => {
                self.lex.string(&mut self.value_scratch)?;
            }
            b't' => {
                self.lex.literal("true")?;
            }
            b'f' => {
                self.lex.literal("false")?;
            }
            b'n' => {
                self.lex.literal("null")?;
            }
            _ => {
                self.lex.number()?;
            }
        }
        Ok(())
    }

    /// The notes of the next container, in document order.
    fn take_notes(&mut self) -> u8 {
        let number = self.containers;
        self.containers += 1;
        while self
            .notes
            .get(self.next_note)
            .is_some_and(|(noted, _)| *noted < number)
        {
            self.next_note += 1;
        }
        match self.notes.get(self.next_note) {
            Some((n, notes)) if *n == number => {
                self.next_note += 1;
                *notes
            }
            _ => 0,
        }
    }

    /// The last rule that selects the current value.
    fn rule_here(&self) -> Option<&'m (JsonPath, super::format::Strategy)> {
        let rules = self.masker.rules();
        let here = &self.states[self.states.len() - rules.len()..];
        rules
            .iter()
            .zip(here)
            .rev()
            .find(|((path, _), state)| path.accepts(**state))
            .map(|(rule, _)| rule)
    }

    /// Moves past the value at the position as the second pass would, without writing it: the
    /// containers inside it are counted and their notes passed, so that the notes of the
    /// containers after it still meet their own.
    fn skip_value(&mut self, depth: usize) -> Result<(), Failure> {
        let notes = self.notes.len();
        self.scan(depth)?;
        // The scan noted these containers again; the first scan's notes are the ones kept.
        self.notes.truncate(notes);
        while self
            .notes
            .get(self.next_note)
            .is_some_and(|(number, _)| *number < self.containers)
        {
            self.next_note += 1;
        }
        Ok(())
    }

    /// [`Strategy::Encrypt`]: the value at the position, whole, becomes what the sealer makes of
    /// its compact JSON.
    fn seal(&mut self, out: &mut JsonOut<'_>, rule: &JsonPath) -> Result<(), Failure> {
        let depth = self.location.len();
        self.lex.ws();
        let start = self.lex.pos;
        self.skip_value(depth)?;
        let rule_error = |this: &Self, source| {
            Failure::Mask(JsonMaskError::Rule {
                path: this.describe(),
                source,
            })
        };
        let Some(sealer) = self.masker.sealer_ref() else {
            return Err(rule_error(self, MaskError::NoSealer));
        };
        // Compact, with numbers as JSON readers write them (`1.50` is `1.5`): what a reader
        // decrypts is the value, not the spelling it came in. A number JSON cannot hold
        // (`1e400`) is the same syntax error it is everywhere else.
        let value: serde_json::Value = serde_json::from_str(&self.lex.text[start..self.lex.pos])
            .map_err(|_| Failure::Syntax(start))?;
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&value).map_err(|_| Failure::Syntax(start))?,
        );
        drop(value);
        let sealed = sealer
            .seal(&json, rule)
            .map_err(|source| rule_error(self, source))?;
        self.report.by_rule += 1;
        out.string(&sealed);
        Ok(())
    }

    /// Advances every rule's automaton one step below the current value.
    fn step_in(&mut self, step: Step<'_>) {
        let rules = self.masker.rules();
        let parent = self.states.len() - rules.len();
        for (index, (path, _)) in rules.iter().enumerate() {
            let next = path.step(self.states[parent + index], step);
            self.states.push(next);
        }
    }

    fn step_out(&mut self) {
        let rules = self.masker.rules().len();
        self.states.truncate(self.states.len() - rules);
        self.location.pop();
    }

    /// The second pass: writes the masked value at the position.
    fn value(
        &mut self,
        out: &mut JsonOut<'_>,
        inherited: Option<super::format::Strategy>,
        context: Context,
    ) -> Result<(), Failure> {
        self.too_deep(self.location.len())?;
        let rule = self.rule_here();
        if let Some((path, Strategy::Encrypt)) = rule {
            return self.seal(out, path);
        }
        let strategy = rule.map(|(_, strategy)| *strategy).or(inherited);
        let detect = self.masker.detects();
        match self.lex.peek()? {
            b'{' => {
                self.lex.pos += 1;
                let notes = self.take_notes();
                let named_secret = detect && !context.secret && notes & NAMES_SECRET != 0;
                let key_pair = detect && notes & HOLDS_KEY_ID != 0;
                let mut keys_done = (notes & KEY_WORTH_READING != 0).then(HashSet::new);
                out.push_plain(b"{");
                if self.lex.peek()? == b'}' {
                    self.lex.pos += 1;
                } else {
                    let mut first = true;
                    loop {
                        if !first {
                            out.push_plain(b",");
                        }
                        first = false;
                        let mut scratch = std::mem::take(&mut self.key_scratch);
                        self.lex.peek()?;
                        let quoted_start = self.lex.pos;
                        let raw = self.lex.string(&mut scratch)?;
                        let quoted_end = self.lex.pos;
                        self.lex.eat(b':')?;
                        let key = self.lex.resolve(raw, &scratch);
                        let facts = self.keys.facts(key);
                        if self.one_pass && detect && facts.worth_reading {
                            return Err(Failure::Noted);
                        }
                        let child_context = Context {
                            secret: context.secret || facts.secret || (named_secret && facts.value),
                            secret_if_key_shaped: key_pair,
                            // A key that names no kind keeps its parent's:
                            // `{"phone": {"number": ..}}`.
                            label: facts.label.or(context.label),
                            cookie: facts.cookie,
                            name_member: detect && facts.name,
                        };
                        self.write_key(out, key, raw, keys_done.as_mut());
                        out.push_plain(b":");
                        self.step_in(Step::Key(key));
                        self.location.push(Seg::Key(quoted_start, quoted_end));
                        self.key_scratch = scratch;
                        let result = self.value(out, strategy, child_context);
                        self.step_out();
                        result?;
                        if !self.lex.next_or_close(b'}')? {
                            break;
                        }
                    }
                }
                out.push_plain(b"}");
                Ok(())
            }
            b'[' => {
                self.lex.pos += 1;
                let notes = self.take_notes();
                let key_pair = detect && notes & HOLDS_KEY_ID != 0;
                out.push_plain(b"[");
                if self.lex.peek()? == b']' {
                    self.lex.pos += 1;
                } else {
                    let mut index = 0;
                    loop {
                        if index > 0 {
                            out.push_plain(b",");
                        }
                        // Items keep the array's context: `"phone": ["415..."]`,
                        // `"password": [...]`, `"cookies": ["sid=..."]`; a secret key beside
                        // its key id is secret.
                        let child_context = Context {
                            secret_if_key_shaped: key_pair,
                            ..context
                        };
                        self.step_in(Step::Index(index));
                        self.location.push(Seg::Index(index));
                        let result = self.value(out, strategy, child_context);
                        self.step_out();
                        result?;
                        index += 1;
                        if !self.lex.next_or_close(b']')? {
                            break;
                        }
                    }
                }
                out.push_plain(b"]");
                Ok(())
            }
            b'n' => {
                self.lex.literal("null")?;
                out.push_plain(b"null");
                Ok(())
            }
            b'"' => {
                let mut scratch = std::mem::take(&mut self.value_scratch);
                let result = self
                    .lex
                    .string(&mut scratch)
                    .map_err(Failure::Syntax)
                    .and_then(|raw| {
                        let text = self.lex.resolve(raw, &scratch);
                        if self.one_pass
                            && detect
                            && (holds_access_key_id(text)
                                || (context.name_member && names_secret(text)))
                        {
                            return Err(Failure::Noted);
                        }
                        let secret = context.secret
                            || (context.secret_if_key_shaped && is_secret_access_key(text));
                        self.scalar(
                            out,
                            Scalar::String(text, raw),
                            strategy,
                            Context { secret, ..context },
                        )
                    });
                self.value_scratch = scratch;
                result
            }
            b't' => {
                let text = self.lex.literal("true")?;
                self.scalar(out, Scalar::Other(text), strategy, context)
            }
            b'f' => {
                let text = self.lex.literal("false")?;
                self.scalar(out, Scalar::Other(text), strategy, context)
            }
            _ => {
                let at = self.lex.pos;
                let raw = self.lex.number()?;
                let text = normalized_number(raw).map_err(|_| Failure::Syntax(at))?;
                self.scalar(out, Scalar::Other(&text), strategy, context)
            }
        }
    }
}

/// Why a pass stopped.
enum Failure {
    Syntax(usize),
    Mask(JsonMaskError),
    /// The one pass met what a note is for; the record is read again with notes.
    Noted,
}

impl Failure {
    /// The error of record `index`, which starts at byte `start`.
    fn into_stream_error(self, index: usize, start: usize) -> StreamError {
        match self {
            Failure::Syntax(at) => StreamError::Syntax { at },
            Failure::Mask(error) => StreamError::Record { index, error },
            // Not reached: a note stops only the one pass, which `Pass::record` then redoes.
            Failure::Noted => StreamError::Syntax { at: start },
        }
    }
}

impl From<Syntax> for Failure {
    fn from(at: Syntax) -> Self {
        Failure::Syntax(at)
    }
}

/// A scalar as the detectors and rules see it: a string's decoded text (and where its JSON text
/// is), or the text of a number or boolean.
enum Scalar<'t> {
    String(&'t str, Str),
    Other(&'t str),
}

fn key_hash(key: &str) -> u64 {
    // A fixed-key hasher: the set only tells whether a key was written before in this object.
    let mut hasher = std::hash::DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl Pass<'_, '_> {
    /// Writes a key: as it came, or masked if it holds PII itself; if a masked key meets another
    /// key, the later gains ` (2)`, ` (3)`, ... so that no member is lost.
    fn write_key(
        &mut self,
        out: &mut JsonOut<'_>,
        key: &str,
        raw: Str,
        keys_done: Option<&mut HashSet<u64>>,
    ) {
        let Some(done) = keys_done else {
            self.write_str(out, key, Some(raw));
            return;
        };
        let masked = if worth_reading(key) {
            redact_text(key, &mut self.report.detected)
        } else {
            Cow::Borrowed(key)
        };
        // A key as it came that meets a masked one (`"j***e@example.com"` beside
        // `"jane.doe@example.com"`) is renamed too: whichever comes first keeps the name.
        let masked_key = matches!(masked, Cow::Owned(_));
        if !masked_key && done.insert(key_hash(key)) {
            self.write_str(out, key, Some(raw));
            return;
        }
        let mut unique = masked.to_string();
        let mut n = 2;
        while !done.insert(key_hash(&unique)) {
            unique = format!("{masked} ({n})");
            n += 1;
        }
        out.string(&unique);
    }

    /// Writes a string: its input bytes when it held no escape, else escaped anew.
    fn write_str(&self, out: &mut JsonOut<'_>, text: &str, raw: Option<Str>) {
        match raw {
            Some(Str::Raw(start, end)) => {
                // A string read without escapes holds no quote, backslash or control character.
                out.push_input_string(self.lex.bytes(), start, end);
            }
            _ => out.string(text),
        }
    }

    fn scalar(
        &mut self,
        out: &mut JsonOut<'_>,
        value: Scalar<'_>,
        strategy: Option<super::format::Strategy>,
        context: Context,
    ) -> Result<(), Failure> {
        let text = match value {
            Scalar::String(text, _) | Scalar::Other(text) => text,
        };
        let write_unmasked = |this: &Self, out: &mut JsonOut<'_>| match value {
            Scalar::String(text, raw) => this.write_str(out, text, Some(raw)),
            // A number or a literal: digits, signs, `.`, `e`, letters.
            Scalar::Other(text) => out.push_plain(text.as_bytes()),
        };
        if let Some(strategy) = strategy {
            self.report.by_rule += 1;
            let masked = apply(strategy, text, self.masker.token_key_ref()).map_err(|source| {
                Failure::Mask(JsonMaskError::Rule {
                    path: self.describe(),
                    source,
                })
            })?;
            out.string(&masked);
            return Ok(());
        }
        if !self.masker.detects() {
            write_unmasked(self, out);
            return Ok(());
        }
        if context.secret {
            self.report.detected.add(PiiKind::Secret);
            out.string(&redaction_marker(Some(PiiKind::Secret)));
            return Ok(());
        }
        match value {
            Scalar::String(..) => {
                let masked = match context.cookie {
                    Some(set_cookie) => {
                        redact_cookie_header(text, set_cookie, &mut self.report.detected)
                    }
                    None => redact_labelled_with(
                        text,
                        context.label,
                        &mut self.report.detected,
                        &mut self.findings,
                    ),
                };
                match masked {
                    Cow::Borrowed(_) => write_unmasked(self, out),
                    Cow::Owned(masked) => out.string(&masked),
                }
            }
            // A number is PII only if it is one whole: a card or phone stored as a number, read
            // as its digits whatever its spelling (`-4111…`, `4111….0`, `4.111…e15`).
            Scalar::Other(_) => {
                let digits = number_digits(text);
                self.findings.clear();
                find_labelled(&digits, context.label, &mut self.findings);
                let whole = self
                    .findings
                    .iter()
                    .find(|f| f.start == 0 && f.end == digits.len())
                    .map(|f| f.kind);
                match whole {
                    Some(kind) => {
                        self.report.detected.add(kind);
                        out.string(&default_mask(kind, &digits));
                    }
                    None => write_unmasked(self, out),
                }
            }
        }
        Ok(())
    }

    /// `$.users[0].email` for error messages.
    fn describe(&self) -> String {
        let mut out = String::from("$");
        for seg in &self.location {
            match *seg {
                Seg::Key(start, end) => {
                    let key: String =
                        serde_json::from_str(&self.lex.text[start..end]).unwrap_or_default();
                    out.push('.');
                    out.push_str(&key);
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    /// Masks the value at the position: in one pass if it can, else scanned, then written.
    fn record(&mut self, out: &mut JsonOut<'_>) -> Result<(), Failure> {
        let start = self.lex.pos;
        self.notes.clear();
        self.next_note = 0;
        self.containers = 0;
        if self.one_pass_allowed {
            let mark = out.mark();
            let report = self.report.clone();
            self.one_pass = true;
            let written = self.value(out, None, Context::default());
            self.one_pass = false;
            if written.is_ok() {
                return Ok(());
            }
            // Whatever stopped it (a note, or an error, which the scan reports as before), the
            // record starts over: its output, its counts and the path taken back.
            out.rewind(mark);
            self.report = report;
            self.lex.pos = start;
            self.states.truncate(self.masker.rules().len());
            self.location.clear();
        }
        self.notes.clear();
        self.next_note = 0;
        self.containers = 0;
        self.scan(0)?;
        // The scan notes a container once it has read all of it, so an inner container's
        // notes come before its parent's; the second pass meets them in document order.
        self.notes.sort_unstable_by_key(|(number, _)| *number);
        let end = self.lex.pos;
        self.lex.pos = start;
        self.containers = 0;
        self.value(out, None, Context::default())?;
        debug_assert_eq!(self.lex.pos, end);
        Ok(())
    }
}

/// The digits a JSON number stands for, when it is a whole number: `-4111111111111111`,
/// `4111111111111111.0` and `4.111111111111111e15` are all `4111111111111111` (a detector sees
/// the card, not its spelling). Other numbers are returned as written.
fn number_digits(text: &str) -> Cow<'_, str> {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    if unsigned.bytes().all(|b| b.is_ascii_digit()) {
        return Cow::Borrowed(unsigned);
    }
    match unsigned.parse::<f64>() {
        // Below 2^64 the cast is exact for every integer an f64 holds.
        Ok(value) if value.fract() == 0.0 && value < 1.8e19 => {
            Cow::Owned(format!("{}", value as u64))
        }
        _ => Cow::Borrowed(text),
    }
}

impl JsonMasker {
    /// Masks one JSON document given as text, writing the masked JSON to `out`. The text must be
    /// one JSON value (surrounding whitespace allowed).
    pub fn mask_json(&self, json: &str, out: &mut JsonOut<'_>) -> Result<MaskReport, StreamError> {
        let mut pass = Pass::new(self, json);
        if let Err(failure) = pass.record(out) {
            return Err(failure.into_stream_error(0, 0));
        }
        pass.lex.ws();
        if pass.lex.pos != json.len() {
            return Err(StreamError::Syntax { at: pass.lex.pos });
        }
        Ok(pass.report)
    }

    /// Masks each item of a JSON array given as text (each item is a record: rules and the depth
    /// limit apply from it), writing the masked array to `out`. Returns how many records there
    /// were and what was masked. An error names the record; what was written before it is to be
    /// discarded.
    pub fn mask_records(
        &self,
        array: &str,
        out: &mut JsonOut<'_>,
    ) -> Result<(usize, MaskReport), StreamError> {
        let mut pass = Pass::new(self, array);
        if pass.lex.peek() != Ok(b'[') {
            return Err(StreamError::NotAnArray);
        }
        pass.lex.pos += 1;
        out.push_plain(b"[");
        let mut count = 0;
        if pass.lex.peek() == Ok(b']') {
            pass.lex.pos += 1;
        } else {
            loop {
                if count > 0 {
                    out.push_plain(b",");
                }
                pass.lex.ws();
                let start = pass.lex.pos;
                pass.record(out)
                    .map_err(|failure| failure.into_stream_error(count, start))?;
                count += 1;
                match pass.lex.next_or_close(b']') {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(at) => return Err(StreamError::Syntax { at }),
                }
            }
        }
        out.push_plain(b"]");
        pass.lex.ws();
        if pass.lex.pos != array.len() {
            return Err(StreamError::Syntax { at: pass.lex.pos });
        }
        Ok((count, pass.report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mask::corpus;
    use serde_json::{json, Value};

    fn masked(masker: &JsonMasker, text: &str) -> Result<Value, StreamError> {
        let mut buf = Vec::new();
        masker.mask_json(text, &mut JsonOut::new(&mut buf))?;
        Ok(serde_json::from_slice(&buf).unwrap())
    }

    /// A record written in one pass, or scanned and then written: output, counts and errors.
    fn each_way(masker: &JsonMasker, text: &str, one_pass: bool) -> (String, String) {
        let mut buf = Vec::new();
        let mut out = JsonOut::new(&mut buf);
        out.start_preview(40);
        let mut pass = Pass::new(masker, text);
        pass.one_pass_allowed &= one_pass;
        let result = match pass.record(&mut out) {
            Ok(()) => format!("{:?}", pass.report),
            Err(failure) => failure.into_stream_error(0, 0).to_string(),
        };
        let (preview, cut) = out.take_preview();
        (
            format!(
                "{}|{}|{cut}",
                String::from_utf8_lossy(&buf),
                String::from_utf8_lossy(&preview)
            ),
            result,
        )
    }

    /// The leak corpus's records, alone and in pairs, and the shapes notes and errors are for.
    fn awkward_texts() -> Vec<String> {
        let mut texts: Vec<String> = [
            r#"{"Value":"s3cr3tvalue","Name":"db_password"}"#,
            r#"{"a":1,"k":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","id":"AKIAIOSFODNN7EXAMPLE"}"#,
            r#"{"j***e@example.com":1,"jane.doe@example.com":2}"#,
            r#"{"x":[{"Name":"api_token","Value":"aaa1"}],"y":{"z":"4111 1111 1111 1111"}}"#,
            r#"{"Name":["password"],"Value":"v"}"#,
            r#"{"a":{"b":{"c":{"d":{"e":1}}}}}"#,
            r#"{"a":"x","b":[1,2,}"#,
            r#"{"email":"jane@example.com","n":1e400}"#,
            r#""AKIAIOSFODNN7EXAMPLE""#,
            r#"{"a":"\u0041KIAIOSFODNN7EXAMPLE","s":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#,
        ]
        .iter()
        .map(|t| t.to_string())
        .collect();
        let cases = corpus::cases(5, 2000);
        let clean = corpus::clean_cases(6, 500);
        for pair in cases.chunks(2).chain(clean.chunks(2)) {
            texts.push(pair[0].record.to_string());
            if let [a, b] = pair {
                texts.push(json!({"items": [a.record, b.record], "Name": a.text}).to_string());
            }
        }
        texts
    }

    /// Detection alone, with a rule, without detection, with a low depth limit.
    fn each_kind_of_masker() -> [JsonMasker; 4] {
        [
            JsonMasker::new(),
            JsonMasker::new().rule(
                JsonPath::parse("$..email").unwrap(),
                Strategy::Lab(PiiKind::Email),
            ),
            JsonMasker::new().detect(false),
            JsonMasker::new().max_depth(3),
        ]
    }

    /// Writing a record in one pass is only a shortcut: whatever a record holds (the leak
    /// corpus, the shapes notes are for, errors), the output, the preview, the counts and the
    /// error are those of the scan-then-write passes.
    #[test]
    fn one_pass_agrees_with_scan_then_write() {
        let texts = awkward_texts();
        for masker in &each_kind_of_masker() {
            for text in &texts {
                assert_eq!(
                    each_way(masker, text, true),
                    each_way(masker, text, false),
                    "{text}"
                );
            }
        }
    }

    /// Notes are found after a container's children; a parent's must still reach it, and every
    /// container after it must still meet its own.
    #[test]
    fn a_container_holding_noted_children_keeps_its_own_notes() {
        let masker = JsonMasker::new();
        let out = masked(
            &masker,
            r#"{"Name":"db_password","Value":"s3cr3tvalue","Meta":{"Name":"api_token","Value":"zzz1"}}"#,
        )
        .unwrap();
        assert_eq!(out["Meta"]["Value"], json!("[REDACTED:SECRET]"), "{out}");
        assert_eq!(out["Value"], json!("[REDACTED:SECRET]"), "{out}");
        let out = masked(
            &masker,
            r#"[{"x":{"y":{"Name":"api_token","Value":"aaa1"}},"Name":"db_password","Value":"bbb2"},{"Name":"db_password","Value":"ccc3"},[{"Name":"token","Value":"ddd4"}]]"#,
        )
        .unwrap();
        let text = out.to_string();
        for leaked in ["aaa1", "bbb2", "ccc3", "ddd4"] {
            assert!(!text.contains(leaked), "{leaked}: {text}");
        }
        // A name given as a list names the secret too, before or after its value.
        for text in [
            r#"{"Value":"s3cr3t1","Name":["db_password"]}"#,
            r#"{"Name":["db_password"],"Value":"s3cr3t1"}"#,
        ] {
            let out = masked(&masker, text).unwrap();
            assert_eq!(out["Value"], json!("[REDACTED:SECRET]"), "{out}");
        }
        // A key id beside its secret, in a parent of a noted child.
        let out = masked(
            &masker,
            r#"{"inner":{"Name":"password","Value":"eee5"},"id":"AKIAIOSFODNN7EXAMPLE","k":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}"#,
        )
        .unwrap();
        let text = out.to_string();
        assert!(
            !text.contains("eee5") && !text.contains("wJalrXUtnFEMI"),
            "{text}"
        );
    }

    /// A card stored as a number is masked however the number is spelled: signed, with a zero
    /// fraction, with an exponent.
    #[test]
    fn a_card_number_is_masked_in_every_number_spelling() {
        let masker = JsonMasker::new();
        let text = r#"{"a":4111111111111111,"n":-4111111111111111,"f":4111111111111111.0,"e":4.111111111111111e15,"E":4111111111111111E0}"#;
        let out = masked(&masker, text).unwrap();
        for key in ["a", "n", "f", "e", "E"] {
            assert_eq!(out[key], json!("****-****-****-1111"), "{key}: {out}");
        }
        // Numbers that are no card stay numbers.
        let out = masked(
            &masker,
            r#"{"x":-42,"y":1.5,"z":4111111111111112.0,"w":-0}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"x": -42, "y": 1.5, "z": 4111111111111112.0, "w": -0.0})
        );
    }

    /// Keys whose secret word is hidden by characters a reader does not see.
    #[test]
    fn invisible_characters_do_not_hide_a_secret_key() {
        let masker = JsonMasker::new();
        for key in [
            r"password\u0000",
            r"pass\u0000word",
            r"\u0000password",
            r"pass\u200bword",
            r"api\u00a0key",
            r"token\u00a0",
            r"pass\u00adword",
            r"pass\ufeffword",
        ] {
            let text = format!(r#"{{"{key}":"S1cret-value-9","other":"x"}}"#);
            let out = masked(&masker, &text).unwrap();
            assert!(!out.to_string().contains("S1cret-value-9"), "{key}: {out}");
            let pair = format!(r#"{{"Name":"{key}","Value":"S1cret-value-9"}}"#);
            let out = masked(&masker, &pair).unwrap();
            assert!(
                !out.to_string().contains("S1cret-value-9"),
                "Name {key}: {out}"
            );
        }
        // A visible word is still needed: `pass word` aside, these are not secrets.
        let out = masked(
            &masker,
            r#"{"passage\u0000":"kept","tok\u00a0en_use":"kept"}"#,
        )
        .unwrap();
        assert_eq!(out.to_string().matches("kept").count(), 2, "{out}");
    }

    /// The caller's formatting (whitespace, escapes, number spellings, member order) changes
    /// nothing: the text masks as the same document written compactly by serde_json does.
    #[test]
    fn formatting_does_not_change_the_result() {
        let masker = JsonMasker::new().rule(
            JsonPath::parse("$.n").unwrap(),
            super::super::format::Strategy::PreserveLength,
        );
        let texts = [
            "{ \"pass\\u0077ord\" : \"hunter2\" , \"x\":[ 1 , 2 ] }",
            r#"{"note":"card 4111\u00201111\u00201111\u00201111","e":"jane\u002edoe@example.com"}"#,
            r#"{"n": 1.50, "m": 1e2, "z": -0, "big": 12345678901234567890, "neg": -42}"#,
            r#"{"t":"tab\there \"quoted\" \\ slash\/ \ud83d\ude00 é","phone":"415\u002d555\u002d2671"}"#,
            r#"{"Value":"pg-Secret-1","Name":"/prod/db/password"}"#,
            r#"["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","AKIAIOSFODNN7EXAMPLE"]"#,
            r#"{"s":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY","k":"AKIAIOSFODNN7EXAMPLE"}"#,
            "\n [ true , false , null , \"\" , { } , [ ] ] \t",
        ];
        for text in texts {
            let value: Value = serde_json::from_str(text).unwrap();
            let compact = value.to_string();
            assert_eq!(
                masked(&masker, text).unwrap(),
                masked(&masker, &compact).unwrap(),
                "{text}"
            );
        }
        let out = masked(&JsonMasker::new(), texts[0]).unwrap();
        assert_eq!(out, json!({"password": "[REDACTED:SECRET]", "x": [1, 2]}));
        let out = masked(&JsonMasker::new(), texts[1]).unwrap().to_string();
        assert!(
            !out.contains("4111 1111") && !out.contains("jane.doe"),
            "{out}"
        );
        let out = masked(&JsonMasker::new(), texts[4]).unwrap().to_string();
        assert!(!out.contains("pg-Secret-1"), "{out}");
        for pair in [texts[5], texts[6]] {
            let out = masked(&JsonMasker::new(), pair).unwrap().to_string();
            assert!(!out.contains("wJalrXUtnFEMI"), "{out}");
        }
        // A masked key meeting a key written as its mask: both members stay.
        let keys =
            r#"{"jane.doe@example.com":1,"j***e@example.com":2,"john@example.com":{"x":null}}"#;
        let out = masked(&JsonMasker::new(), keys).unwrap();
        assert_eq!(out.as_object().map(serde_json::Map::len), Some(3), "{out}");
        assert!(!out.to_string().contains("jane.doe"), "{out}");
        let out = masked(&masker, texts[2]).unwrap();
        assert_eq!(
            out["n"], "*.*",
            "a rule sees the number as serde_json writes it: 1.5"
        );
        assert_eq!(out["m"], 100.0);
    }

    /// Duplicate members are both written and both masked (a reader keeps one of them).
    #[test]
    fn duplicate_members_are_each_masked() {
        let text = r#"{"password":"first-secret","password":"second-secret","a":1,"a":2}"#;
        let mut buf = Vec::new();
        JsonMasker::new()
            .mask_json(text, &mut JsonOut::new(&mut buf))
            .unwrap();
        let out = String::from_utf8(buf).unwrap();
        assert!(!out.contains("first-secret") && !out.contains("second-secret"));
        assert_eq!(out.matches("[REDACTED:SECRET]").count(), 2, "{out}");
    }

    /// What serde_json refuses, the masker refuses; what it reads, the masker reads.
    #[test]
    fn string_stop_agrees_with_reading_byte_by_byte() {
        let by_byte = |bytes: &[u8], from: usize| -> Result<usize, usize> {
            let at = bytes[from..]
                .iter()
                .position(|b| matches!(b, b'"' | b'\\'))
                .map_or(Err(bytes.len()), |at| Ok(from + at))?;
            match bytes[from..at].iter().position(|b| *b < 0x20) {
                Some(bad) => Err(from + bad),
                None => Ok(at),
            }
        };
        // Mostly plain bytes, so that stops fall at every offset of a word and beyond the
        // fast path's reach; the rest are the bytes the word tests must tell apart.
        let rare = [
            b'"', b'\\', 0x00, 0x01, 0x1f, 0x20, 0x21, 0x5b, 0x5d, 0x7f, 0x80, 0xff,
        ];
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5000 {
            let len = rng.usize(0..80);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.u8(..16) {
                    0 => rare[rng.usize(..rare.len())],
                    _ => b'a' + rng.u8(..26),
                })
                .collect();
            for from in 0..=len {
                assert_eq!(
                    next_string_byte(&bytes, from),
                    bytes[from..]
                        .iter()
                        .position(|b| matches!(b, b'"' | b'\\') || *b < 0x20)
                        .map(|at| from + at),
                    "{bytes:?} from {from}"
                );
                assert_eq!(
                    string_stop(&bytes, from),
                    by_byte(&bytes, from),
                    "{bytes:?} from {from}"
                );
            }
        }
    }

    #[test]
    fn syntax_agrees_with_serde_json() {
        let invalid = [
            "",
            "{",
            "[1,]",
            "{\"a\":}",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "01",
            "1.",
            "-",
            "1e",
            "tru",
            "nul",
            "[1] x",
            "\"\u{1}\"",
            "\"\\ud800\"",
            "\"\\ud800\\u0041\"",
            "\"\\x\"",
            "\"abc",
            "{1:2}",
            "[\"a\" \"b\"]",
            "\"\\u12\"",
        ];
        for text in invalid {
            assert!(serde_json::from_str::<Value>(text).is_err(), "{text:?}");
            let mut buf = Vec::new();
            let result = JsonMasker::new().mask_json(text, &mut JsonOut::new(&mut buf));
            assert!(
                matches!(result, Err(StreamError::Syntax { .. })),
                "{text:?}: {result:?}"
            );
        }
        let valid = [
            "0",
            "-0.5e-3",
            "\"\\ud83d\\ude00\"",
            " [ ] ",
            "{\"\":\"\"}",
            "1E+2",
        ];
        for text in valid {
            let expected: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                masked(&JsonMasker::new(), text).unwrap(),
                expected,
                "{text}"
            );
        }
    }

    /// Quoted output is the plain output as the contents of a JSON string, and the preview is
    /// the plain output's first bytes.
    #[test]
    fn quoted_output_and_preview() {
        let text = r#"[{"q":"say \"hi\"\\ \u0001 x","email":"jane.doe@example.com"},{"n":1}]"#;
        let masker = JsonMasker::new();
        let mut plain = Vec::new();
        let (count, report) = masker
            .mask_records(text, &mut JsonOut::new(&mut plain))
            .unwrap();
        assert_eq!(count, 2);
        assert_eq!(report.detected.get(PiiKind::Email), 1);
        let mut quoted = Vec::new();
        let mut out = JsonOut::quoted(&mut quoted);
        out.start_preview(10);
        masker.mask_records(text, &mut out).unwrap();
        let (preview, cut) = out.take_preview();
        assert!(cut);
        assert_eq!(preview, plain[..10]);
        let unquoted: String =
            serde_json::from_str(&format!("\"{}\"", String::from_utf8(quoted).unwrap())).unwrap();
        assert_eq!(unquoted.as_bytes(), plain);
    }

    /// A document from the shapes that decide notes and quoting: escaped names and keys, names
    /// before and after values, key ids spelled with escapes, keys holding PII, quotes and
    /// control characters in strings, numbers JSON cannot hold, nesting past a depth limit.
    fn hostile_document(rng: &mut fastrand::Rng, depth: usize, out: &mut String) {
        const KEYS: [&str; 15] = [
            r#""Name""#,
            r#""N\u0061me""#,
            r#""Value""#,
            r#""ParameterKey""#,
            r#""password""#,
            r#""pass\u0077ord""#,
            r#""jane@x.com""#,
            r#""j***e@x.com""#,
            r#""12345678901""#,
            r#""Cookie""#,
            r#""phone""#,
            r#""email""#,
            r#""k\"q""#,
            r#""a\\b""#,
            r#""id""#,
        ];
        const STRINGS: [&str; 13] = [
            r#""db_password""#,
            r#""/prod/api_token""#,
            r#""AKIAIOSFODNN7EXAMPLE""#,
            r#""\u0041KIAIOSFODNN7EXAMPLE""#,
            r#""wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY""#,
            r#""jane.doe@example.com""#,
            r#""4111 1111 1111 1111""#,
            r#""415-555-2671""#,
            r#""sid=abc123def456ghi""#,
            r#""say \"hi\" \\ \u0001 \n""#,
            r#""é😀""#,
            r#""x""#,
            r#""""#,
        ];
        const OTHERS: [&str; 6] = ["4111111111111111", "1.50", "-0", "1e400", "true", "null"];
        let pick = |rng: &mut fastrand::Rng, from: &[&'static str]| from[rng.usize(..from.len())];
        match rng.u8(if depth > 4 { 2 } else { 0 }..6) {
            0 => {
                out.push('{');
                for i in 0..rng.usize(0..5) {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(pick(rng, &KEYS));
                    out.push(':');
                    hostile_document(rng, depth + 1, out);
                }
                out.push('}');
            }
            1 => {
                out.push('[');
                for i in 0..rng.usize(0..4) {
                    if i > 0 {
                        out.push(',');
                    }
                    hostile_document(rng, depth + 1, out);
                }
                out.push(']');
            }
            2..=4 => out.push_str(pick(rng, &STRINGS)),
            _ => out.push_str(pick(rng, &OTHERS)),
        }
    }

    /// The one pass against scan-then-write, and the quoted output against the plain one, over
    /// generated hostile documents, some cut short.
    #[test]
    fn generated_hostile_documents_agree_each_way() {
        let maskers = each_kind_of_masker();
        let mut rng = fastrand::Rng::with_seed(99);
        for _ in 0..10_000 {
            let mut text = String::new();
            hostile_document(&mut rng, 0, &mut text);
            if rng.u8(..20) == 0 {
                let cut = rng.usize(..=text.len());
                if text.is_char_boundary(cut) {
                    text.truncate(cut);
                }
            }
            for masker in &maskers {
                assert_eq!(
                    each_way(masker, &text, true),
                    each_way(masker, &text, false),
                    "{text}"
                );
            }
            assert_quoted_is_plain(&maskers[0], &text);
        }
    }

    /// A quoted output is the plain output as the contents of a JSON string, for every text
    /// (what comes through unmasked, masks, keys, escapes), preview and counts alike.
    #[test]
    fn quoted_output_is_the_plain_output_as_a_string() {
        let masker = JsonMasker::new();
        for text in awkward_texts() {
            assert_quoted_is_plain(&masker, &text);
        }
    }

    /// Masks `text` plain and quoted (with a preview): same counts or error, the preview is the
    /// plain output's start, and the quoted output read as a JSON string is the plain output.
    fn assert_quoted_is_plain(masker: &JsonMasker, text: &str) {
        let mut plain = Vec::new();
        let plain_report = masker.mask_json(text, &mut JsonOut::new(&mut plain));
        let mut quoted = Vec::new();
        let mut out = JsonOut::quoted(&mut quoted);
        out.start_preview(64);
        let quoted_report = masker.mask_json(text, &mut out);
        let (preview, _) = out.take_preview();
        assert_eq!(plain_report, quoted_report, "{text}");
        if plain_report.is_err() {
            return;
        }
        assert_eq!(preview, plain[..plain.len().min(64)], "{text}");
        let unquoted: String =
            serde_json::from_str(&format!("\"{}\"", String::from_utf8(quoted).unwrap())).unwrap();
        assert_eq!(unquoted.as_bytes(), plain, "{text}");
    }

    /// Depth counts from each record; an error names the record.
    #[test]
    fn records_are_masked_one_by_one() {
        let masker = JsonMasker::new().max_depth(2);
        let mut buf = Vec::new();
        let ok = masker.mask_records(r#"[{"a":{"b":1}}, [[1]]]"#, &mut JsonOut::new(&mut buf));
        assert_eq!(ok.map(|(n, _)| n), Ok(2));
        let mut buf = Vec::new();
        let err = masker
            .mask_records(r#"[1, {"a":{"b":{"c":1}}}]"#, &mut JsonOut::new(&mut buf))
            .unwrap_err();
        assert_eq!(
            err,
            StreamError::Record {
                index: 1,
                error: JsonMaskError::TooDeep { max: 2 }
            }
        );
        let mut buf = Vec::new();
        assert_eq!(
            masker.mask_records(r#"{"a":1}"#, &mut JsonOut::new(&mut buf)),
            Err(StreamError::NotAnArray)
        );
        assert_eq!(
            decode_json_string(r#""a\n\u00e9\"""#, 0).as_deref(),
            Some("a\né\"")
        );
        assert_eq!(decode_json_string(r#""a" x"#, 0), None);
    }
}
