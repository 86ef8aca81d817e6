//! Envelope encryption under KMS in the AWS Encryption SDK message format, version 2: the format
//! Powertools for AWS Lambda's Data Masking `encrypt` writes and its `decrypt` reads.
//!
//! - Suites: `0x0578` (AES-256-GCM, HKDF-SHA512, key commitment, ECDSA P-384 signature; the
//!   default, as in Powertools) and `0x0478` (the same without the signature).
//! - One encrypted data key, provider `aws-kms`, provider info = the key ARN; framed body, 4096
//!   byte frames.
//! - Decrypt refuses: other versions (v1), suites without key commitment, more than
//!   [`DEFAULT_MAX_DATA_KEYS`] encrypted data keys, messages with no data key of the configured
//!   ARN (before any KMS call), a context that is not exactly the expected one (the public key
//!   aside; also before any KMS call), a wrong commitment, header, frame or signature.
//!   No plaintext is returned before the whole message is authenticated.
//! - [`Esdk::encrypt_json`] / [`Esdk::decrypt_json`] are Powertools' wire form: standard base64
//!   of the message of the value's UTF-8 JSON.
//!
//! Data keys come from a [`DataKeys`] (KMS in production), zeroized on drop. Errors name the
//! field or check that failed, never plaintext, keys or ciphertext.

mod cache;
mod context;
pub mod fields;
mod format;
mod keys;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::encoding::{AsBigEndian, EcPublicKeyCompressedBin};
use aws_lc_rs::hkdf::{KeyType, Salt, HKDF_SHA512};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P384_SHA384_ASN1,
    ECDSA_P384_SHA384_ASN1_SIGNING,
};
use base64::Engine as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use zeroize::{Zeroize, Zeroizing};

pub use cache::CachePolicy;
pub use context::{EncryptionContext, PUBLIC_KEY_FIELD, RESERVED_PREFIX};
#[cfg(any(test, feature = "testing"))]
pub use keys::fake;
pub use keys::{DataKey, DataKeys, GeneratedDataKey, KeyFailure, KmsDataKeys, DATA_KEY_LEN};

use crate::tenant::sessions::{Session, SessionCache};
use cache::{EncryptCache, EncryptMaterials};
#[cfg(test)]
use format::TAG_LEN;
use format::{EncryptedDataKey, Header, COMMITMENT_LEN, MESSAGE_ID_LEN};

/// The key provider id KMS keyrings write and read.
pub const KMS_PROVIDER_ID: &str = "aws-kms";
/// The frame length Powertools (and every ESDK) uses by default.
pub const FRAME_LENGTH: u32 = 4096;
/// Encrypted data keys accepted in one message. One is written; a few allow for multi-key
/// messages of other writers, while a message with thousands is refused before it costs work.
pub const DEFAULT_MAX_DATA_KEYS: usize = 4;

/// The committing suites of message format v2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// `0x0478` AES_256_GCM_HKDF_SHA512_COMMIT_KEY.
    CommitKey,
    /// `0x0578` AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384 (the default).
    CommitKeyEcdsaP384,
}

impl Suite {
    pub fn id(self) -> u16 {
        match self {
            Suite::CommitKey => 0x0478,
            Suite::CommitKeyEcdsaP384 => 0x0578,
        }
    }

    pub fn is_signed(self) -> bool {
        matches!(self, Suite::CommitKeyEcdsaP384)
    }

    fn from_id(id: u16) -> Result<Self, CryptoError> {
        match id {
            0x0478 => Ok(Suite::CommitKey),
            0x0578 => Ok(Suite::CommitKeyEcdsaP384),
            // The suites of format v1, none of which commits to its key.
            0x0014 | 0x0046 | 0x0078 | 0x0114 | 0x0146 | 0x0178 | 0x0214 | 0x0346 | 0x0378 => {
                Err(CryptoError::NonCommittingSuite { id })
            }
            _ => Err(CryptoError::UnknownSuite { id }),
        }
    }
}

/// Why a message could not be made or opened. Never holds plaintext, keys or ciphertext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "key ARN {0:?} is not a full KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<id>)"
    )]
    InvalidKeyArn(String),
    #[error("encryption context key {key:?} {reason}")]
    InvalidContextKey { key: String, reason: &'static str },
    #[error("the encryption context is larger than the 65535 bytes a header holds")]
    ContextTooLarge,
    #[error(
        "path binding needs paths that select one value per record (names and indices, no `*` \
         or `..`): `{0}` selects several, whose ciphertexts could be swapped unnoticed"
    )]
    UnbindablePath(String),
    #[error("a header field is longer than 65535 bytes")]
    FieldTooLarge,
    #[error("the plaintext is too large for one message")]
    PlaintextTooLarge,
    #[error("not an encrypted message: {0}")]
    NotAMessage(&'static str),
    #[error(
        "message format version {version} is not supported (only version 2, with key commitment)"
    )]
    UnsupportedVersion { version: u8 },
    #[error("algorithm suite 0x{id:04X} does not commit to its key and is refused")]
    NonCommittingSuite { id: u16 },
    #[error("algorithm suite 0x{id:04X} is not supported (0x0478 and 0x0578 are)")]
    UnknownSuite { id: u16 },
    #[error("the message is truncated: it ends inside the {field}")]
    Truncated { field: &'static str },
    #[error("the message's {field} {reason}")]
    Malformed {
        field: &'static str,
        reason: &'static str,
    },
    #[error("the message holds {count} encrypted data keys; at most {max} are accepted")]
    TooManyDataKeys { count: usize, max: usize },
    #[error("no encrypted data key of the message is for the configured KMS key")]
    NoConfiguredKey,
    #[error(
        "the encryption context does not match: the exact context used at encryption is required"
    )]
    ContextMismatch,
    #[error("KMS could not {operation} the data key: {failure}")]
    Kms {
        operation: &'static str,
        failure: KeyFailure,
    },
    #[error("the key commitment does not match the data key")]
    CommitmentMismatch,
    #[error("the header authentication tag is wrong")]
    HeaderAuthentication,
    #[error("frame {sequence} failed authentication")]
    FrameAuthentication { sequence: u32 },
    #[error("the message signature does not verify")]
    BadSignature,
    #[error("the decrypted value is not JSON")]
    NotJson,
    #[error("the cryptographic library failed ({0})")]
    Primitive(&'static str),
}

/// A decrypted plaintext, zeroized when dropped.
pub type Plaintext = Zeroizing<Vec<u8>>;

/// The keys of one message, derived from its data key and message id.
struct MessageKeys {
    cipher: LessSafeKey,
    commitment: Zeroizing<[u8; COMMITMENT_LEN]>,
}

struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

fn derive(suite: Suite, data_key: &DataKey, message_id: &[u8]) -> Result<MessageKeys, CryptoError> {
    let prk = Salt::new(HKDF_SHA512, message_id).extract(data_key.as_bytes());
    let mut info = suite.id().to_be_bytes().to_vec();
    info.extend_from_slice(b"DERIVEKEY");
    let mut key = Zeroizing::new([0u8; 32]);
    prk.expand(&[&info], Len(32))
        .and_then(|okm| okm.fill(&mut key[..]))
        .map_err(|_| CryptoError::Primitive("HKDF"))?;
    let mut commitment = Zeroizing::new([0u8; COMMITMENT_LEN]);
    prk.expand(&[b"COMMITKEY"], Len(COMMITMENT_LEN))
        .and_then(|okm| okm.fill(&mut commitment[..]))
        .map_err(|_| CryptoError::Primitive("HKDF"))?;
    let cipher = UnboundKey::new(&AES_256_GCM, &key[..])
        .map(LessSafeKey::new)
        .map_err(|_| CryptoError::Primitive("AES-GCM key"))?;
    Ok(MessageKeys { cipher, commitment })
}

/// Checks a full key ARN: `arn:<partition>:kms:<region>:<account>:key/<id>`.
fn validate_key_arn(arn: &str) -> Result<(), CryptoError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = matches!(
        parts.as_slice(),
        ["arn", partition, "kms", region, account, resource]
            if !partition.is_empty() && !region.is_empty()
                && account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("key/").is_some_and(|id| !id.is_empty()
                    && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    );
    if ok {
        Ok(())
    } else {
        Err(CryptoError::InvalidKeyArn(arn.chars().take(200).collect()))
    }
}

/// Sequence numbers are u32 and the last value marks the final frame.
fn check_frame_count(len: usize) -> Result<(), CryptoError> {
    let frame_count = len.div_ceil(FRAME_LENGTH as usize).max(1);
    if matches!(u32::try_from(frame_count), Ok(n) if n < format::FINAL_FRAME_MARK) {
        Ok(())
    } else {
        Err(CryptoError::PlaintextTooLarge)
    }
}

/// Encrypts values under one data key, synchronously: made by [`Esdk::sealer`] for one context.
/// Each message has its own message id, hence its own derived key and commitment.
pub struct Sealer {
    suite: Suite,
    key_arn: String,
    materials: Arc<EncryptMaterials>,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("suite", &self.suite)
            .field("key_arn", &self.key_arn)
            .finish_non_exhaustive()
    }
}

impl Sealer {
    /// One message holding `plaintext`.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        check_frame_count(plaintext.len())?;
        self.materials.count_message();
        seal(self.suite, &self.key_arn, &self.materials, plaintext)
    }

    /// Powertools' wire form of `json` (a value's UTF-8 JSON): standard base64 of its message.
    pub fn seal_json(&self, json: &[u8]) -> Result<String, CryptoError> {
        let message = self.seal(json)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(message))
    }

    /// The context stored in the messages (the signed suite's public key included).
    pub fn context(&self) -> &EncryptionContext {
        &self.materials.context
    }
}

/// The message of `plaintext` under `materials` (the body of [`Esdk::encrypt`]).
fn seal(
    suite: Suite,
    key_arn: &str,
    materials: &EncryptMaterials,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let rng = SystemRandom::new();
    let mut message_id = [0u8; MESSAGE_ID_LEN];
    rng.fill(&mut message_id)
        .map_err(|_| CryptoError::Primitive("random"))?;
    let keys = derive(suite, &materials.key, &message_id)?;
    let header = Header {
        suite,
        message_id,
        context: materials.context.clone(),
        data_keys: vec![EncryptedDataKey {
            provider_id: KMS_PROVIDER_ID.into(),
            provider_info: key_arn.as_bytes().to_vec(),
            ciphertext: materials.encrypted.clone(),
        }],
        frame_length: FRAME_LENGTH,
        commitment: *keys.commitment,
    };
    let mut message = header.serialize()?;
    let header_tag = keys
        .cipher
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key([0u8; format::IV_LEN]),
            Aad::from(&message[..]),
            &mut [],
        )
        .map_err(|_| CryptoError::Primitive("AES-GCM"))?;
    message.extend_from_slice(header_tag.as_ref());

    let frame_len = FRAME_LENGTH as usize;
    // All frames but the last are regular and full; the final frame holds the rest (a full
    // frame when the length is a multiple, nothing for an empty plaintext).
    let mut chunks: Vec<&[u8]> = plaintext.chunks(frame_len).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    let last = chunks.len() - 1;
    let mut buffer = Zeroizing::new(Vec::with_capacity(frame_len));
    for (index, chunk) in chunks.iter().enumerate() {
        let sequence = u32::try_from(index + 1).map_err(|_| CryptoError::PlaintextTooLarge)?;
        let is_final = index == last;
        let iv = format::frame_iv(sequence);
        let aad = format::frame_aad(&message_id, is_final, sequence, chunk.len() as u64);
        buffer.clear();
        buffer.extend_from_slice(chunk);
        let tag = keys
            .cipher
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(aad),
                &mut buffer[..],
            )
            .map_err(|_| CryptoError::Primitive("AES-GCM"))?;
        if is_final {
            message.extend_from_slice(&format::FINAL_FRAME_MARK.to_be_bytes());
            message.extend_from_slice(&sequence.to_be_bytes());
            message.extend_from_slice(&iv);
            message.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
        } else {
            message.extend_from_slice(&sequence.to_be_bytes());
            message.extend_from_slice(&iv);
        }
        message.extend_from_slice(&buffer);
        message.extend_from_slice(tag.as_ref());
    }

    if let Some(pair) = &materials.signer {
        let signature = pair
            .sign(&rng, &message)
            .map_err(|_| CryptoError::Primitive("ECDSA sign"))?;
        let signature = signature.as_ref();
        let len = u16::try_from(signature.len()).map_err(|_| CryptoError::FieldTooLarge)?;
        message.extend_from_slice(&len.to_be_bytes());
        message.extend_from_slice(signature);
    }
    Ok(message)
}

/// Decrypted data keys by (suite, encrypted data key, context), single flight.
type DecryptCache = SessionCache<Vec<u8>, Arc<DataKey>, KeyFailure>;

/// Encrypts and decrypts ESDK messages under one KMS key.
pub struct Esdk<K> {
    keys: K,
    key_arn: String,
    suite: Suite,
    max_data_keys: usize,
    encrypt_cache: Option<EncryptCache>,
    decrypt_cache: Option<(DecryptCache, CachePolicy)>,
}

impl<K> std::fmt::Debug for Esdk<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Esdk")
            .field("key_arn", &self.key_arn)
            .field("suite", &self.suite)
            .field("max_data_keys", &self.max_data_keys)
            .field("cached", &self.encrypt_cache.is_some())
            .finish_non_exhaustive()
    }
}

impl<K: DataKeys> Esdk<K> {
    /// `key_arn` must be a full key ARN (what decrypt matches encrypted data keys against).
    /// The suite defaults to `0x0578`.
    pub fn new(keys: K, key_arn: &str) -> Result<Self, CryptoError> {
        validate_key_arn(key_arn)?;
        Ok(Self {
            keys,
            key_arn: key_arn.to_owned(),
            suite: Suite::CommitKeyEcdsaP384,
            max_data_keys: DEFAULT_MAX_DATA_KEYS,
            encrypt_cache: None,
            decrypt_cache: None,
        })
    }

    /// Caches data keys (see [`CachePolicy`]): on encrypt, N messages of one context and suite
    /// share one `GenerateDataKey`; on decrypt, N messages sealed under one data key share one
    /// `Decrypt`. Without it every message makes its own KMS call.
    pub fn with_cache(mut self, policy: CachePolicy) -> Self {
        self.encrypt_cache = Some(EncryptCache::new(policy));
        self.decrypt_cache = Some((SessionCache::new(policy.capacity, Duration::ZERO), policy));
        self
    }

    /// The suite new messages are written with (decrypt accepts both).
    pub fn with_suite(mut self, suite: Suite) -> Self {
        self.suite = suite;
        self
    }

    pub fn with_max_data_keys(mut self, max: usize) -> Self {
        self.max_data_keys = max.max(1);
        self
    }

    pub fn data_keys(&self) -> &K {
        &self.keys
    }

    /// One message holding `plaintext`, bound to `context`.
    pub async fn encrypt(
        &self,
        plaintext: &[u8],
        context: &EncryptionContext,
    ) -> Result<Vec<u8>, CryptoError> {
        check_frame_count(plaintext.len())?;
        let materials = self.materials(context, plaintext.len() as u64).await?;
        seal(self.suite, &self.key_arn, &materials, plaintext)
    }

    /// A [`Sealer`] for `context`: the data key is fetched now (one `GenerateDataKey`, or none
    /// while the cache holds one), so that sealing the values of a request is synchronous and
    /// costs no further KMS call. `expected_bytes` is what the sealer will seal, at most, counted
    /// against the cache's byte limit now.
    pub async fn sealer(
        &self,
        context: &EncryptionContext,
        expected_bytes: u64,
    ) -> Result<Sealer, CryptoError> {
        let materials = self.materials(context, expected_bytes).await?;
        Ok(Sealer {
            suite: self.suite,
            key_arn: self.key_arn.clone(),
            materials,
        })
    }

    /// Materials for one message of `len` bytes: from the cache while it allows, else new ones
    /// (one `GenerateDataKey`).
    async fn materials(
        &self,
        context: &EncryptionContext,
        len: u64,
    ) -> Result<Arc<EncryptMaterials>, CryptoError> {
        if let Some((key, _)) = context.iter().find(|(k, _)| k.starts_with(RESERVED_PREFIX)) {
            return Err(CryptoError::InvalidContextKey {
                key: key.to_owned(),
                reason: "uses the reserved prefix aws-crypto-",
            });
        }
        let id = cache::encrypt_id(self.suite, context);
        if let Some(cached) = self.encrypt_cache.as_ref().and_then(|c| c.take(&id, len)) {
            return Ok(cached);
        }
        let mut stored = context.clone();
        let signer = if self.suite.is_signed() {
            let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_ASN1_SIGNING)
                .map_err(|_| CryptoError::Primitive("ECDSA key generation"))?;
            let public: EcPublicKeyCompressedBin<'_> = pair
                .public_key()
                .as_be_bytes()
                .map_err(|_| CryptoError::Primitive("ECDSA public key"))?;
            stored.insert_reserved(
                PUBLIC_KEY_FIELD,
                base64::engine::general_purpose::STANDARD.encode(public.as_ref()),
            );
            Some(pair)
        } else {
            None
        };
        stored.check_size()?;
        let generated = self
            .keys
            .generate(&self.key_arn, &stored)
            .await
            .map_err(|failure| CryptoError::Kms {
                operation: "generate",
                failure,
            })?;
        let materials = Arc::new(EncryptMaterials::new(
            generated.key,
            generated.encrypted,
            stored,
            signer,
        ));
        if let Some(cache) = &self.encrypt_cache {
            cache.insert(id, &materials, len);
        }
        Ok(materials)
    }

    /// The data key of one encrypted data key: from the cache (single flight) or KMS `Decrypt`.
    async fn data_key(
        &self,
        suite: Suite,
        encrypted: &[u8],
        context: &EncryptionContext,
    ) -> Result<Arc<DataKey>, KeyFailure> {
        let Some((cache, policy)) = &self.decrypt_cache else {
            return self
                .keys
                .decrypt(&self.key_arn, encrypted, context)
                .await
                .map(Arc::new);
        };
        let id = cache::decrypt_id(suite, encrypted, context);
        cache
            .get_or_fetch(&id, SystemTime::now(), || async {
                let key = self.keys.decrypt(&self.key_arn, encrypted, context).await?;
                Ok(Session {
                    value: Arc::new(key),
                    expires: SystemTime::now() + policy.max_age,
                })
            })
            .await
    }

    /// The plaintext of `message`, if it was made under the configured key with exactly
    /// `expected` as its context (the signed suite's public key aside).
    pub async fn decrypt(
        &self,
        message: &[u8],
        expected: &EncryptionContext,
    ) -> Result<Plaintext, CryptoError> {
        let parsed = format::parse(message, self.max_data_keys)?;
        let header = &parsed.header;
        // Before any KMS call: the context the caller expects, and a key we are configured for.
        if header.context.without_public_key() != *expected {
            return Err(CryptoError::ContextMismatch);
        }
        let public_key = header.context.get(PUBLIC_KEY_FIELD);
        if header.suite.is_signed() != public_key.is_some() {
            return Err(CryptoError::Malformed {
                field: "encryption context",
                reason:
                    "does not hold the public key its suite requires (or holds one it does not)",
            });
        }
        // The signature needs only the header's public key: a tampered signed message costs no
        // KMS call.
        if let (Some(encoded), Some(signature)) = (public_key, parsed.signature) {
            let point = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|_| CryptoError::Malformed {
                    field: "public key",
                    reason: "is not base64",
                })?;
            UnparsedPublicKey::new(&ECDSA_P384_SHA384_ASN1, point)
                .verify(parsed.signed_part, signature)
                .map_err(|_| CryptoError::BadSignature)?;
        }
        let candidates: Vec<&EncryptedDataKey> = header
            .data_keys
            .iter()
            .filter(|edk| {
                edk.provider_id == KMS_PROVIDER_ID && edk.provider_info == self.key_arn.as_bytes()
            })
            .collect();
        if candidates.is_empty() {
            return Err(CryptoError::NoConfiguredKey);
        }
        let mut data_key = None;
        let mut last_failure = None;
        for edk in candidates {
            match self
                .data_key(header.suite, &edk.ciphertext, &header.context)
                .await
            {
                Ok(key) => {
                    data_key = Some(key);
                    break;
                }
                Err(failure) => last_failure = Some(failure),
            }
        }
        let data_key = match (data_key, last_failure) {
            (Some(key), _) => key,
            (None, Some(failure)) => {
                return Err(CryptoError::Kms {
                    operation: "decrypt",
                    failure,
                })
            }
            (None, None) => return Err(CryptoError::NoConfiguredKey),
        };
        let keys = derive(header.suite, &data_key, &header.message_id)?;
        drop(data_key);
        verify_slices_are_equal(&keys.commitment[..], &header.commitment)
            .map_err(|_| CryptoError::CommitmentMismatch)?;
        let mut tag_check: [u8; 0] = [];
        keys.cipher
            .open_in_place_separate_tag(
                Nonce::assume_unique_for_key([0u8; format::IV_LEN]),
                Aad::from(parsed.header_body),
                parsed.header_tag,
                &mut tag_check,
            )
            .map_err(|_| CryptoError::HeaderAuthentication)?;
        let total: usize = parsed.frames.iter().map(|f| f.ciphertext.len()).sum();
        let mut plaintext = Zeroizing::new(Vec::with_capacity(total));
        for frame in &parsed.frames {
            // The spec decrypts with the sequence number as IV; a message that serialized another
            // IV was not written by an ESDK.
            let iv = format::frame_iv(frame.sequence);
            if frame.iv != iv {
                plaintext.zeroize();
                return Err(CryptoError::Malformed {
                    field: "frame IV",
                    reason: "is not the frame's sequence number",
                });
            }
            let nonce = Nonce::assume_unique_for_key(iv);
            let aad = format::frame_aad(
                &header.message_id,
                frame.is_final,
                frame.sequence,
                frame.ciphertext.len() as u64,
            );
            let start = plaintext.len();
            plaintext.extend_from_slice(frame.ciphertext);
            let opened = keys.cipher.open_in_place_separate_tag(
                nonce,
                Aad::from(aad),
                frame.tag,
                &mut plaintext[start..],
            );
            if opened.is_err() {
                plaintext.zeroize();
                return Err(CryptoError::FrameAuthentication {
                    sequence: frame.sequence,
                });
            }
        }
        Ok(plaintext)
    }

    /// Powertools' wire form: standard base64 of the message of `value` as UTF-8 JSON.
    pub async fn encrypt_json(
        &self,
        value: &serde_json::Value,
        context: &EncryptionContext,
    ) -> Result<String, CryptoError> {
        let json = Zeroizing::new(serde_json::to_vec(value).map_err(|_| CryptoError::NotJson)?);
        let message = self.encrypt(&json, context).await?;
        Ok(base64::engine::general_purpose::STANDARD.encode(message))
    }

    /// The value [`Self::encrypt_json`] (or Powertools' `encrypt`) sealed in `encoded`.
    pub async fn decrypt_json(
        &self,
        encoded: &str,
        expected: &EncryptionContext,
    ) -> Result<serde_json::Value, CryptoError> {
        let message = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|_| CryptoError::NotAMessage("not standard base64"))?;
        let plaintext = self.decrypt(&message, expected).await?;
        serde_json::from_slice(&plaintext).map_err(|_| CryptoError::NotJson)
    }
}

#[cfg(test)]
mod tests;
