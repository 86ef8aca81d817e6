//! Materials caches, so that the fields of one request (or a batch of records) cost one KMS call
//! each way instead of one per value:
//!
//! - **encrypt**: a data key (with its encrypted copy and, for the signed suite, its signing key)
//!   is reused for messages of the same suite and context while it is younger than `max_age` and
//!   under `max_messages` / `max_bytes`, as Powertools' caching materials manager does. Each
//!   message still has its own message id, so its derived key and commitment are its own.
//! - **decrypt**: the plaintext data key of an encrypted data key, keyed by (suite, encrypted
//!   data key, full stored context), with single flight: concurrent messages sealed under one
//!   data key make one KMS `Decrypt`. The commitment, header tag, frames and signature of every
//!   message are still checked.
//!
//! Both are bounded LRUs; keys are zeroized when their last holder drops them.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::EcdsaKeyPair;
use lru::LruCache;

use super::context::EncryptionContext;
use super::keys::DataKey;
use super::Suite;

/// Limits of both caches; the defaults are Powertools' (`local_cache_capacity=100`,
/// `max_cache_age_seconds=300`, `max_messages_encrypted=2^32`, `max_bytes_encrypted=2^63-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    pub capacity: NonZeroUsize,
    pub max_age: Duration,
    pub max_messages: u64,
    pub max_bytes: u64,
}

impl Default for CachePolicy {
    fn default() -> Self {
        Self {
            capacity: NonZeroUsize::new(100).unwrap_or(NonZeroUsize::MIN),
            max_age: Duration::from_secs(300),
            max_messages: 1 << 32,
            max_bytes: (1 << 63) - 1,
        }
    }
}

/// What encrypting under one data key needs.
pub(crate) struct EncryptMaterials {
    pub key: DataKey,
    pub encrypted: Vec<u8>,
    /// The context as stored and sent to KMS (with the public key for the signed suite).
    pub context: EncryptionContext,
    pub signer: Option<EcdsaKeyPair>,
    created: Instant,
    messages: AtomicU64,
    bytes: AtomicU64,
}

impl EncryptMaterials {
    pub fn new(
        key: DataKey,
        encrypted: Vec<u8>,
        context: EncryptionContext,
        signer: Option<EcdsaKeyPair>,
    ) -> Self {
        Self {
            key,
            encrypted,
            context,
            signer,
            created: Instant::now(),
            messages: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }
}

impl EncryptMaterials {
    /// Counts one more message sealed by a [`super::Sealer`] (its bytes were reserved when the
    /// sealer took the materials).
    pub fn count_message(&self) {
        self.messages.fetch_add(1, Ordering::SeqCst);
    }
}

/// The cache key of a suite and a caller's context.
pub(crate) fn encrypt_id(suite: Suite, context: &EncryptionContext) -> Vec<u8> {
    let mut id = suite.id().to_be_bytes().to_vec();
    id.extend_from_slice(&context.serialize());
    id
}

/// The cache key of an encrypted data key: suite, its length-prefixed bytes, the full context.
pub(crate) fn decrypt_id(suite: Suite, encrypted: &[u8], context: &EncryptionContext) -> Vec<u8> {
    let mut id = suite.id().to_be_bytes().to_vec();
    id.extend_from_slice(&(encrypted.len() as u64).to_be_bytes());
    id.extend_from_slice(encrypted);
    id.extend_from_slice(&context.serialize());
    id
}

pub(crate) struct EncryptCache {
    // A std mutex: held only to look up or insert, never across an await.
    entries: Mutex<LruCache<Vec<u8>, Arc<EncryptMaterials>>>,
    policy: CachePolicy,
}

impl EncryptCache {
    pub fn new(policy: CachePolicy) -> Self {
        Self {
            entries: Mutex::new(LruCache::new(policy.capacity)),
            policy,
        }
    }

    /// Cached materials for one more message of `len` bytes, counted against the limits; `None`
    /// (and the entry dropped) when there are none or they are used up.
    pub fn take(&self, id: &[u8], len: u64) -> Option<Arc<EncryptMaterials>> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let materials = Arc::clone(entries.get(id)?);
        let fresh = materials.created.elapsed() < self.policy.max_age;
        let messages = materials.messages.load(Ordering::SeqCst);
        let bytes = materials.bytes.load(Ordering::SeqCst);
        let within = messages < self.policy.max_messages
            && bytes
                .checked_add(len)
                .is_some_and(|total| total <= self.policy.max_bytes);
        if fresh && within {
            // Under the lock, so concurrent takers cannot both use the last allowance.
            materials.messages.fetch_add(1, Ordering::SeqCst);
            materials.bytes.fetch_add(len, Ordering::SeqCst);
            Some(materials)
        } else {
            entries.pop(id);
            None
        }
    }

    /// Keeps `materials`, already used for one message of `len` bytes.
    pub fn insert(&self, id: Vec<u8>, materials: &Arc<EncryptMaterials>, len: u64) {
        materials.messages.fetch_add(1, Ordering::SeqCst);
        materials.bytes.fetch_add(len, Ordering::SeqCst);
        let usable = materials.messages.load(Ordering::SeqCst) < self.policy.max_messages
            && len < self.policy.max_bytes;
        if usable {
            self.entries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(id, Arc::clone(materials));
        }
    }
}
