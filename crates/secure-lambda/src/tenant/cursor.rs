//! Pagination cursors: DynamoDB's `LastEvaluatedKey`, sealed.
//!
//! A cursor is `base64url(payload) "." base64url(HMAC-SHA256(key, "v1." payload))` where the
//! payload holds the tenant, the user and the key. Opening checks the MAC (in constant time)
//! before reading anything, then that the cursor was issued to the same tenant and user: a
//! tampered, truncated, forged or foreign cursor is refused before any query is made.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};

use super::Identity;

/// Longest cursor accepted: a DynamoDB key is at most a few hundred bytes.
pub const MAX_CURSOR_LEN: usize = 2048;

const VERSION: &[u8] = b"v1.";

/// The last key of a page: attribute name → string value (the table's keys are strings).
pub type PageKey = BTreeMap<String, String>;

/// Why a cursor was refused. Deliberately vague to the caller: which check failed is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("the cursor is malformed")]
    Malformed,
    #[error("the cursor's signature does not match")]
    BadSignature,
    #[error("the cursor was issued to another tenant or user")]
    WrongIdentity,
}

#[derive(Serialize, Deserialize)]
struct Payload {
    t: String,
    u: String,
    k: PageKey,
}

/// The sealing key. At least 32 bytes; `Debug` is redacted.
#[derive(Clone)]
pub struct CursorKey(SecretSlice<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([REDACTED])")
    }
}

impl CursorKey {
    pub const MIN_LEN: usize = 32;

    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= Self::MIN_LEN).then(|| Self(SecretSlice::from(bytes)))
    }

    fn mac(&self) -> Option<hmac::Hmac<sha2::Sha256>> {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.expose_secret()).ok()?;
        mac.update(VERSION);
        Some(mac)
    }

    /// A cursor for `key`, usable only by `identity`.
    pub fn seal(&self, identity: &Identity, key: &PageKey) -> Option<String> {
        let payload = serde_json::to_vec(&Payload {
            t: identity.tenant.to_string(),
            u: identity.user.to_string(),
            k: key.clone(),
        })
        .ok()?;
        let mut mac = self.mac()?;
        mac.update(&payload);
        let tag = mac.finalize().into_bytes();
        Some(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The key sealed in `cursor`, if it is authentic and was issued to `identity`.
    pub fn open(&self, identity: &Identity, cursor: &str) -> Result<PageKey, CursorError> {
        if cursor.len() > MAX_CURSOR_LEN {
            return Err(CursorError::Malformed);
        }
        let (payload, tag) = cursor.split_once('.').ok_or(CursorError::Malformed)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| CursorError::Malformed)?;
        let mut mac = self.mac().ok_or(CursorError::BadSignature)?;
        mac.update(&payload);
        mac.verify_slice(&tag)
            .map_err(|_| CursorError::BadSignature)?;
        let payload: Payload =
            serde_json::from_slice(&payload).map_err(|_| CursorError::Malformed)?;
        if payload.t != identity.tenant.as_str() || payload.u != identity.user.as_str() {
            return Err(CursorError::WrongIdentity);
        }
        Ok(payload.k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tenant::{TenantId, UserId};

    fn identity(t: &str, u: &str) -> Identity {
        Identity::new(TenantId::parse(t).unwrap(), UserId::parse(u).unwrap())
    }

    fn key() -> CursorKey {
        CursorKey::new(b"0123456789abcdef0123456789abcdef".to_vec()).unwrap()
    }

    fn page_key() -> PageKey {
        [
            ("PK".to_owned(), "TENANT#tenant-a#USER#user-001".to_owned()),
            ("SK".to_owned(), "ORDER#2024-001".to_owned()),
        ]
        .into()
    }

    #[test]
    fn a_cursor_opens_for_its_identity_only() {
        let a = identity("tenant-a", "user-001");
        let cursor = key().seal(&a, &page_key()).unwrap();
        assert_eq!(key().open(&a, &cursor), Ok(page_key()));
        assert_eq!(
            key().open(&identity("tenant-b", "user-001"), &cursor),
            Err(CursorError::WrongIdentity)
        );
        assert_eq!(
            key().open(&identity("tenant-a", "user-002"), &cursor),
            Err(CursorError::WrongIdentity)
        );
    }

    #[test]
    fn tampered_truncated_and_forged_cursors_are_refused() {
        let a = identity("tenant-a", "user-001");
        let cursor = key().seal(&a, &page_key()).unwrap();
        let (payload, tag) = cursor.split_once('.').unwrap();

        // Payload edited to point into tenant-b, MAC kept.
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&serde_json::json!({
                "t": "tenant-a", "u": "user-001",
                "k": {"PK": "TENANT#tenant-b#USER#user-002", "SK": "ORDER#"}
            }))
            .unwrap(),
        );
        let other_key = CursorKey::new(vec![7; 32]).unwrap();
        let cases = [
            (format!("{forged_payload}.{tag}"), CursorError::BadSignature),
            (
                cursor[..cursor.len() - 3].to_owned(),
                CursorError::BadSignature,
            ),
            (payload.to_owned(), CursorError::Malformed),
            ("not a cursor".to_owned(), CursorError::Malformed),
            (String::new(), CursorError::Malformed),
            ("x".repeat(MAX_CURSOR_LEN + 1), CursorError::Malformed),
            (
                other_key.seal(&a, &page_key()).unwrap(),
                CursorError::BadSignature,
            ),
        ];
        for (cursor, expected) in cases {
            assert_eq!(key().open(&a, &cursor), Err(expected), "{cursor}");
        }
        assert!(CursorKey::new(vec![1; 31]).is_none());
        assert_eq!(format!("{:?}", key()), "CursorKey([REDACTED])");
    }
}
