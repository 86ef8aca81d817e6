//! Worker messages: how a fanned-out worker knows its orders come from this function's own
//! coordinator, and not from anyone else allowed to invoke the function.
//!
//! Lambda tells a function nothing trustworthy about who invoked it, so the message carries its
//! own proof. The coordinator writes each worker's claims (this function's name, a random run id,
//! the worker's slice, the shared start, the worker's call and rate caps, and the run itself) as
//! JSON text and signs those exact bytes with HMAC-SHA256 under a key that only loadtest may read
//! (a generated Secrets Manager secret). The worker, before it signs anyone in or makes a call:
//! 1. checks the signature over the bytes it is about to parse (constant-time comparison), so
//!    there is no canonical form to get wrong;
//! 2. checks that the claims name this function;
//! 3. checks that the shared start lies between [`MAX_LATE`] ago and [`MAX_EARLY`] ahead;
//! 4. refuses a (run id, worker index) this sandbox has served already.
//!
//! What stays possible: someone who captures a valid message (it travels only inside the
//! `Invoke` payload, over TLS, and is never logged) can replay it to *another* sandbox within the
//! window (at most `MAX_EARLY + MAX_LATE`, 15 s): that slice then runs twice, each time under its
//! signed caps. Closing that too needs state shared by all sandboxes (e.g. a conditional write
//! per run id); the window bounds it instead.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use secure_lambda::ApiError;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::request::WorkerSlice;

/// How long after the fan-out the workers' shared schedule starts: time to start and sign in.
pub const START_DELAY: Duration = Duration::from_secs(2);
/// Latest a shared start may lie ahead: the start delay plus clock skew between sandboxes.
pub const MAX_EARLY: Duration = Duration::from_secs(5);
/// Longest a worker may arrive after the shared start: invoke latency plus a cold start.
pub const MAX_LATE: Duration = Duration::from_secs(10);

/// Longest claims text accepted (a run's fields are a few hundred bytes).
const MAX_CLAIMS_LEN: usize = 8 * 1024;
/// Domain separation: these MACs cannot be mistaken for any other use of the key.
const CONTEXT: &[u8] = b"loadtest-worker-v1.";

/// The signing key. At least 32 bytes; `Debug` is redacted.
#[derive(Clone)]
pub struct WorkerKey(SecretSlice<u8>);

impl std::fmt::Debug for WorkerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WorkerKey([REDACTED])")
    }
}

impl WorkerKey {
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then(|| Self(SecretSlice::from(bytes)))
    }

    fn mac(&self, claims: &[u8]) -> Option<hmac::Hmac<sha2::Sha256>> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.expose_secret()).ok()?;
        mac.update(CONTEXT);
        mac.update(claims);
        Some(mac)
    }
}

/// What a coordinator tells one worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Claims {
    /// The function that signed, which must be the one verifying.
    pub function: String,
    /// 32 hex digits, random per run.
    pub run_id: String,
    pub index: u32,
    pub of: u32,
    /// Unix milliseconds at which the shared schedule starts.
    pub start_at_ms: u64,
    /// This worker's share of the run's call cap and rate cap.
    pub max_calls: u64,
    pub max_rate: f64,
    /// The worker's run, as request fields (`NumberOfCallsPerUser`, `Concurrency`, ...).
    pub run: Map<String, Value>,
}

impl Claims {
    pub fn slice(&self) -> WorkerSlice {
        WorkerSlice {
            index: self.index,
            of: self.of,
            start_at_ms: self.start_at_ms,
        }
    }

    /// What a signed message must also hold beyond its shape.
    fn is_sound(&self) -> bool {
        self.run_id.len() == 32
            && self.run_id.bytes().all(|b| b.is_ascii_hexdigit())
            && self.index < self.of
            && self.max_rate.is_finite()
            && self.max_rate > 0.0
    }
}

/// A fresh run id: 128 random bits. It needs to be unique, not secret: the MAC protects it.
pub fn new_run_id() -> String {
    format!("{:032x}", fastrand::u128(..))
}

/// The `_worker` value for `claims`: `{"claims": "<JSON text>", "sig": "<base64url HMAC>"}`.
pub fn seal(key: &WorkerKey, claims: &Claims) -> Option<Value> {
    let text = serde_json::to_string(claims).ok()?;
    let tag = key.mac(text.as_bytes())?.finalize().into_bytes();
    Some(json!({"claims": text, "sig": URL_SAFE_NO_PAD.encode(tag)}))
}

/// Why a worker message was refused. Each is a 403: only the coordinator makes worker messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("`_worker` is not a signed worker message (`claims` and `sig`)")]
    Malformed,
    #[error("the worker message's signature does not match")]
    BadSignature,
    #[error("the worker message was signed for another function")]
    OtherFunction,
    #[error("the worker message's start time is not within {early} s ahead of or {late} s behind this sandbox's clock")]
    OutOfWindow { early: u64, late: u64 },
    #[error("this worker message has been served already (replay)")]
    Replayed,
    #[error("a worker message holds `_worker` only; `{0}` was added")]
    ExtraField(String),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        ApiError::new(403, "WorkerMessageRejected", refusal.to_string()).with_field("_worker")
    }
}

/// A `_worker` value split into the claims text and the tag, not yet verified.
pub struct Sealed<'a> {
    claims: &'a str,
    tag: Vec<u8>,
}

/// Checks the shape of `payload` (a worker event: `_worker` and nothing else), without the key.
pub fn unseal(payload: &Map<String, Value>) -> Result<Sealed<'_>, Refusal> {
    if let Some(extra) = payload.keys().find(|k| k.as_str() != "_worker") {
        return Err(Refusal::ExtraField(extra.chars().take(64).collect()));
    }
    let worker = payload.get("_worker").ok_or(Refusal::Malformed)?;
    let claims = worker
        .get("claims")
        .and_then(Value::as_str)
        .filter(|c| c.len() <= MAX_CLAIMS_LEN)
        .ok_or(Refusal::Malformed)?;
    let tag = worker
        .get("sig")
        .and_then(Value::as_str)
        .and_then(|s| URL_SAFE_NO_PAD.decode(s).ok())
        .ok_or(Refusal::Malformed)?;
    Ok(Sealed { claims, tag })
}

impl Sealed<'_> {
    /// The claims, if `key` signed exactly these bytes.
    pub fn verify(&self, key: &WorkerKey) -> Result<Claims, Refusal> {
        let mac = key
            .mac(self.claims.as_bytes())
            .ok_or(Refusal::BadSignature)?;
        mac.verify_slice(&self.tag)
            .map_err(|_| Refusal::BadSignature)?;
        // Signed by the coordinator, so this parses unless the coordinator has a bug.
        serde_json::from_str::<Claims>(self.claims)
            .ok()
            .filter(Claims::is_sound)
            .ok_or(Refusal::Malformed)
    }
}

/// The worker messages this sandbox has accepted, kept until their window closes.
#[derive(Debug, Default)]
pub struct Admissions {
    /// (run id, worker index) → when the entry can be forgotten (Unix ms).
    served: Mutex<HashMap<(String, u32), u64>>,
}

impl Admissions {
    /// Admits verified `claims` once, for `function`, at `now_ms`; records them.
    pub fn admit(&self, claims: &Claims, function: &str, now_ms: u64) -> Result<(), Refusal> {
        if claims.function != function {
            return Err(Refusal::OtherFunction);
        }
        let early = u64::try_from(MAX_EARLY.as_millis()).unwrap_or(u64::MAX);
        let late = u64::try_from(MAX_LATE.as_millis()).unwrap_or(u64::MAX);
        if claims.start_at_ms > now_ms.saturating_add(early)
            || claims.start_at_ms.saturating_add(late) < now_ms
        {
            return Err(Refusal::OutOfWindow {
                early: MAX_EARLY.as_secs(),
                late: MAX_LATE.as_secs(),
            });
        }
        // A poisoned lock only means another invocation panicked while holding it; the map is
        // still a valid map.
        let mut served = self
            .served
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // After its window an entry is refused by the time check anyway: the map holds at most
        // the messages accepted in the last 15 s, and only validly signed ones get in.
        served.retain(|_, forget_at| *forget_at >= now_ms);
        let key = (claims.run_id.clone(), claims.index);
        if served.contains_key(&key) {
            return Err(Refusal::Replayed);
        }
        served.insert(key, claims.start_at_ms.saturating_add(late));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000_000;

    fn key(byte: u8) -> WorkerKey {
        WorkerKey::new(vec![byte; 32]).unwrap()
    }

    fn claims() -> Claims {
        Claims {
            function: "loadtest".into(),
            run_id: "0123456789abcdef0123456789abcdef".into(),
            index: 1,
            of: 4,
            start_at_ms: NOW + 2_000,
            max_calls: 250,
            max_rate: 12.5,
            run: json!({"RequestsPerSecond": 4.0, "DurationSeconds": 6, "Concurrency": 1})
                .as_object()
                .unwrap()
                .clone(),
        }
    }

    fn event(worker: Value) -> Map<String, Value> {
        json!({ "_worker": worker }).as_object().unwrap().clone()
    }

    #[test]
    fn a_sealed_message_verifies_and_round_trips() {
        let sealed = seal(&key(7), &claims()).unwrap();
        let payload = event(sealed);
        assert_eq!(unseal(&payload).unwrap().verify(&key(7)).unwrap(), claims());
    }

    #[test]
    fn another_key_or_any_changed_byte_fails() {
        let sealed = seal(&key(7), &claims()).unwrap();
        let payload = event(sealed.clone());
        assert_eq!(
            unseal(&payload).unwrap().verify(&key(8)).unwrap_err(),
            Refusal::BadSignature
        );
        // Raising the caps in the claims text breaks the signature.
        let text = sealed["claims"].as_str().unwrap().replace("250", "999999");
        let forged = event(json!({"claims": text, "sig": sealed["sig"]}));
        assert_eq!(
            unseal(&forged).unwrap().verify(&key(7)).unwrap_err(),
            Refusal::BadSignature
        );
        let truncated = event(json!({"claims": sealed["claims"], "sig": "AAAA"}));
        assert_eq!(
            unseal(&truncated).unwrap().verify(&key(7)).unwrap_err(),
            Refusal::BadSignature
        );
    }

    #[test]
    fn unsigned_or_padded_messages_are_malformed() {
        for worker in [
            json!({"index": 0, "of": 2, "startAtMs": NOW}),
            json!({"claims": "{}", "sig": "not base64!"}),
            json!({"claims": "x".repeat(MAX_CLAIMS_LEN + 1), "sig": "AAAA"}),
            json!("a string"),
        ] {
            assert_eq!(unseal(&event(worker)).err(), Some(Refusal::Malformed));
        }
        let mut payload = event(seal(&key(7), &claims()).unwrap());
        payload.insert("Concurrency".into(), json!(256));
        assert!(matches!(unseal(&payload), Err(Refusal::ExtraField(f)) if f == "Concurrency"));
    }

    #[test]
    fn the_start_must_be_near_now() {
        let admissions = Admissions::default();
        let early = u64::try_from(MAX_EARLY.as_millis()).unwrap();
        let late = u64::try_from(MAX_LATE.as_millis()).unwrap();
        for (start, ok) in [
            (NOW + early, true),
            (NOW + early + 1, false),
            (NOW + 3_600_000, false),
            (NOW - late, true),
            (NOW - late - 1, false),
            (0, false),
        ] {
            let mut c = claims();
            c.start_at_ms = start;
            c.run_id = format!("{:032x}", start);
            let result = admissions.admit(&c, "loadtest", NOW);
            assert_eq!(result.is_ok(), ok, "start {start}: {result:?}");
        }
    }

    #[test]
    fn a_message_is_served_once_per_sandbox_and_forgotten_after_its_window() {
        let admissions = Admissions::default();
        let c = claims();
        assert_eq!(admissions.admit(&c, "loadtest", NOW), Ok(()));
        assert_eq!(
            admissions.admit(&c, "loadtest", NOW + 1),
            Err(Refusal::Replayed)
        );
        // Another worker of the same run is not a replay.
        let mut other = c.clone();
        other.index = 2;
        assert_eq!(admissions.admit(&other, "loadtest", NOW + 1), Ok(()));
        // Once the window has closed the entry goes, and the time check refuses the message.
        let after = c.start_at_ms + u64::try_from(MAX_LATE.as_millis()).unwrap() + 1;
        assert!(matches!(
            admissions.admit(&c, "loadtest", after),
            Err(Refusal::OutOfWindow { .. })
        ));
        let mut fresh = c.clone();
        fresh.run_id = "f".repeat(32);
        fresh.start_at_ms = after;
        assert_eq!(admissions.admit(&fresh, "loadtest", after), Ok(()));
        assert_eq!(admissions.served.lock().unwrap().len(), 1);
    }

    #[test]
    fn claims_for_another_function_are_refused() {
        assert_eq!(
            Admissions::default().admit(&claims(), "other-stack-loadtest", NOW),
            Err(Refusal::OtherFunction)
        );
    }

    #[test]
    fn refusals_are_403_naming_the_field() {
        let error = ApiError::from(Refusal::Replayed);
        assert_eq!(
            (error.status, error.code.as_str(), error.field.as_deref()),
            (403, "WorkerMessageRejected", Some("_worker"))
        );
    }

    #[test]
    fn keys_are_long_and_never_shown() {
        assert!(WorkerKey::new(vec![1; 31]).is_none());
        assert_eq!(format!("{:?}", key(7)), "WorkerKey([REDACTED])");
        assert_eq!(new_run_id().len(), 32);
        assert_ne!(new_run_id(), new_run_id());
    }
}
