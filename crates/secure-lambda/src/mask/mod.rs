//! PII and secret detection, masking, and log redaction.
//!
//! - [`detect`]: validated detectors (email, phone, SSN, card, secret pairs, AWS keys, JWTs,
//!   bearer tokens) in one pass;
//! - [`format`]: masking strategies, the lab's formats among them, and keyed tokens;
//! - [`text`]: redaction of free text such as log lines;
//! - [`path`] and [`json`]: masking JSON documents by path rules and detection;
//! - [`writer`]: the fail-closed redacting writer every function's logs go through;
//! - `corpus` (feature `testing`): the generated leak corpus the tests and the bench run.

#[cfg(any(test, feature = "testing"))]
pub mod corpus;
pub mod detect;
pub mod format;
mod json;
mod key_facts;
mod path;
mod stream;
mod text;
mod unescape;
mod writer;

pub use detect::{find_all, find_labelled, Finding, Label, PiiKind};
pub use format::{MaskError, Strategy, TokenKey, ValueSealer};
pub use json::{JsonMaskError, JsonMasker, MaskReport};
pub use path::{JsonPath, PathState, Step};
pub(crate) use stream::next_string_byte;
pub use stream::{decode_json_string, JsonOut, StreamError};
pub use text::{redact_labelled, redact_text, redact_with, RedactionCounts};
pub(crate) use unescape::decode_json_string_at;
#[cfg(test)]
pub(crate) use writer::tests::Sink as LogSink;
pub use writer::{RedactingMakeWriter, RedactionReporter};
