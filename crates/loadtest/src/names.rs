//! User names as they leave the function: masked (`student` → `s*****t`) unless
//! `LOG_USER_NAMES=true` opts in to plain names for a lab.
//!
//! `USER_NAME` is encrypted so that only this function reads it; writing it in full to logs,
//! responses or errors would undo that. Two layers keep it in:
//! - everything this crate writes about a user (log fields, the per-call line, `users`,
//!   `signInErrors`) uses [`UserNames::display`];
//! - [`ScrubbingMakeWriter`] replaces any remaining occurrence in a log line, because lines
//!   written by others carry the name too: the secrets cache's audit line names the password
//!   secret, which the lab names after the user, and AWS error messages may quote its ARN.

use std::borrow::Cow;
use std::io::Write;
use std::sync::{Arc, RwLock};

use secrecy::{ExposeSecret, SecretString};
use tracing_subscriber::fmt::MakeWriter;

/// Names shorter than this are masked where this crate writes them but not searched for in log
/// lines: replacing every "ab" in every line would garble the logs and hide little.
const MIN_SCRUBBED_CHARS: usize = 3;

/// First and last character, every other one `*`: `student` → `s*****t`. Names of up to four
/// characters become all `*` (their two ends are most of the name).
pub fn mask(name: &str) -> String {
    let count = name.chars().count();
    if count <= 4 {
        return "*".repeat(count);
    }
    name.chars()
        .enumerate()
        .map(|(i, c)| if i == 0 || i == count - 1 { c } else { '*' })
        .collect()
}

/// A plain name to look for in log lines and its mask.
struct Known {
    plain: SecretString,
    masked: String,
}

/// How user names are shown, and the names the log writer masks. Clones share the names.
#[derive(Clone, Default)]
pub struct UserNames {
    known: Arc<RwLock<Vec<Known>>>,
    reveal: bool,
}

impl std::fmt::Debug for UserNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserNames")
            .field("known", &"[REDACTED]")
            .field("reveal", &self.reveal)
            .finish()
    }
}

impl UserNames {
    /// The same names, shown in full when `reveal` (`LOG_USER_NAMES=true`).
    pub fn revealing(&self, reveal: bool) -> Self {
        Self {
            known: Arc::clone(&self.known),
            reveal,
        }
    }

    /// The name as logs, responses and errors show it.
    pub fn display(&self, name: &str) -> String {
        if self.reveal {
            name.to_owned()
        } else {
            mask(name)
        }
    }

    /// Adds `names` to those the log writer masks (nothing to do when names are revealed).
    /// `secret_prefix` is `PASSWORD_SECRET_PREFIX`: the password secrets' ids are the prefix and
    /// the name, and the secrets cache's audit line writes them whole.
    pub fn remember(&self, names: &[String], secret_prefix: &str) {
        if self.reveal {
            return;
        }
        let Ok(mut known) = self.known.write() else {
            return;
        };
        let mut add = |plain: String, masked: String| {
            if !known.iter().any(|k| k.plain.expose_secret() == plain) {
                known.push(Known {
                    masked,
                    plain: SecretString::from(plain),
                });
            }
        };
        for name in names {
            // A name with a quote or backslash appears JSON-escaped in a log line.
            let escaped = serde_json::to_string(name)
                .ok()
                .and_then(|s| Some(s.get(1..s.len().checked_sub(1)?)?.to_owned()))
                .unwrap_or_else(|| name.clone());
            let masked = mask(name);
            if escaped.chars().count() >= MIN_SCRUBBED_CHARS {
                add(escaped.clone(), mask(&escaped));
                if escaped != *name {
                    add(name.clone(), masked.clone());
                }
            } else {
                // Too short to replace everywhere: only where it stands for the whole name, a
                // JSON string of its own or a secret's name inside an ARN.
                add(format!("\"{escaped}\""), format!("\"{masked}\""));
                add(format!(":secret:{escaped}-"), format!(":secret:{masked}-"));
            }
            if !secret_prefix.is_empty() {
                add(
                    format!("{secret_prefix}{escaped}"),
                    format!("{secret_prefix}{masked}"),
                );
            }
        }
        // Longest first, so that a name inside another ("ann" in "joanna") cannot leave part of
        // the longer one readable.
        known.sort_by_key(|k| std::cmp::Reverse(k.plain.expose_secret().len()));
    }

    /// `text` with every remembered name masked.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let Ok(known) = self.known.read() else {
            // A poisoned lock means a writer panicked mid-update: show nothing rather than names.
            return Cow::Owned(
                "{\"message\":\"log line withheld: user names could not be masked\"}\n".to_owned(),
            );
        };
        let mut text = Cow::Borrowed(text);
        for name in known.iter() {
            let plain = name.plain.expose_secret();
            if text.contains(plain) {
                text = Cow::Owned(text.replace(plain, &name.masked));
            }
        }
        text
    }
}

/// Wraps a `MakeWriter` (stdout): each event is buffered and written with user names masked.
pub struct ScrubbingMakeWriter<M> {
    names: UserNames,
    inner: M,
}

impl<M> ScrubbingMakeWriter<M> {
    pub fn new(names: UserNames, inner: M) -> Self {
        Self { names, inner }
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for ScrubbingMakeWriter<M> {
    type Writer = ScrubbingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        ScrubbingWriter {
            names: self.names.clone(),
            inner: self.inner.make_writer(),
            buffer: Vec::with_capacity(512),
        }
    }
}

/// One event's writer: collects the event and writes it, masked, when dropped (a name split
/// across two writes would otherwise slip through).
pub struct ScrubbingWriter<W: Write> {
    names: UserNames,
    inner: W,
    buffer: Vec<u8>,
}

impl<W: Write> Write for ScrubbingWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for ScrubbingWriter<W> {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.buffer);
        // A log line that cannot be written is lost; failing the invocation over it is worse.
        let _ = self.inner.write_all(self.names.scrub(&text).as_bytes());
        let _ = self.inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn masks_keep_the_first_and_last_character() {
        assert_eq!(mask("student"), "s*****t");
        assert_eq!(mask("bob"), "***");
        assert_eq!(mask("anna"), "****");
        assert_eq!(mask("maria"), "m***a");
        assert_eq!(mask("al"), "**");
        assert_eq!(mask("x"), "*");
        assert_eq!(mask(""), "");
        assert_eq!(mask("zoë-müller"), "z********r");
    }

    #[test]
    fn display_masks_unless_revealed() {
        let names = UserNames::default();
        assert_eq!(names.display("student"), "s*****t");
        assert_eq!(names.revealing(true).display("student"), "student");
    }

    #[test]
    fn scrub_masks_remembered_names_anywhere_longest_first() {
        let names = UserNames::default();
        names.remember(
            &["ann".into(), "joanna".into(), "al".into(), "q\"uo".into()],
            "",
        );
        assert_eq!(
            names.scrub(r#"{"name":"joanna","secret":"arn:aws:secretsmanager:us-east-1:1:secret:ann-AbCdEf","u":"al"}"#),
            r#"{"name":"j****a","secret":"arn:aws:secretsmanager:us-east-1:1:secret:***-AbCdEf","u":"**"}"#
        );
        // A short name is masked where it is the whole value, not inside other words.
        assert_eq!(
            names.scrub(
                r#"{"message":"all calls","secret":"arn:aws:secretsmanager:r:1:secret:al-AbCdEf"}"#
            ),
            r#"{"message":"all calls","secret":"arn:aws:secretsmanager:r:1:secret:**-AbCdEf"}"#
        );
        // The JSON-escaped form of a name with a quote is masked too.
        assert!(!names.scrub(r#"{"user":"q\"uo"}"#).contains(r#"q\"uo"#));
        assert!(matches!(names.scrub("nothing here"), Cow::Borrowed(_)));
    }

    /// The audit line names the password secret `<PASSWORD_SECRET_PREFIX><user>`, however short
    /// the user's name.
    #[test]
    fn password_secret_ids_are_masked_for_names_of_any_length() {
        let names = UserNames::default();
        names.remember(&["al".into(), "bob".into()], "stack/loadtest-users/");
        let line = r#"{"name":"stack/loadtest-users/al","other":"stack/loadtest-users/bob"}"#;
        assert_eq!(
            names.scrub(line),
            r#"{"name":"stack/loadtest-users/**","other":"stack/loadtest-users/***"}"#
        );
    }

    #[test]
    fn revealed_names_are_not_scrubbed() {
        let names = UserNames::default().revealing(true);
        names.remember(&["student".into()], "");
        assert_eq!(names.scrub("signed in student"), "signed in student");
    }

    #[test]
    fn debug_shows_no_name() {
        let names = UserNames::default();
        names.remember(&["student".into()], "");
        assert!(!format!("{names:?}").contains("student"));
    }

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Sink {
        type Writer = Sink;
        fn make_writer(&'a self) -> Sink {
            self.clone()
        }
    }

    #[test]
    fn the_writer_masks_names_split_across_writes() {
        let names = UserNames::default();
        names.remember(&["student".into()], "");
        let sink = Sink::default();
        let make = ScrubbingMakeWriter::new(names, sink.clone());
        {
            let mut writer = make.make_writer();
            writer.write_all(b"{\"name\":\"stu").unwrap();
            writer.write_all(b"dent\"}\n").unwrap();
        }
        let written = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(written, "{\"name\":\"s*****t\"}\n");
    }
}
