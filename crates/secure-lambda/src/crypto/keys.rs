//! Data keys: the plaintext key (zeroized on drop, never printed) and the trait that makes and
//! unwraps them, with its implementation on KMS (`GenerateDataKey` / `Decrypt`).

use std::future::Future;

use zeroize::Zeroize;

use crate::aws::{classify, AwsFailure, FailureKind};

use super::context::EncryptionContext;

/// Length of the data key of both supported suites (AES-256).
pub const DATA_KEY_LEN: usize = 32;

/// A plaintext data key. Zeroized when dropped; its `Debug` shows no byte of it.
pub struct DataKey([u8; DATA_KEY_LEN]);

impl DataKey {
    /// Takes the key out of `bytes`, which is zeroized whatever its length. `None` unless it is
    /// exactly 32 bytes long.
    pub fn from_slice(bytes: &mut [u8]) -> Option<Self> {
        let key = <[u8; DATA_KEY_LEN]>::try_from(&*bytes).ok().map(Self);
        bytes.zeroize();
        key
    }

    pub(crate) fn as_bytes(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(..)")
    }
}

/// A new data key: the plaintext (to encrypt with) and the key ciphertext KMS returned (the
/// encrypted data key written into the message).
#[derive(Debug)]
pub struct GeneratedDataKey {
    pub key: DataKey,
    pub encrypted: Vec<u8>,
}

/// Why KMS did not make or unwrap a data key. Carries KMS's error code and message, never key
/// material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFailure {
    /// `InvalidCiphertextException`: another context, or not a ciphertext of this key.
    #[error("KMS refused the encrypted data key (InvalidCiphertextException): wrong encryption context or key")]
    InvalidCiphertext,
    #[error("KMS denied the call ({0}); the role needs kms:GenerateDataKey / kms:Decrypt on the key with this encryption context")]
    AccessDenied(String),
    #[error("the KMS key is disabled")]
    KeyDisabled,
    #[error("the KMS key cannot be used ({0})")]
    KeyUnusable(String),
    /// KMS answered without the expected field, or with a key that is not 32 bytes.
    #[error("KMS answered unexpectedly: {0}")]
    BadResponse(&'static str),
    #[error("KMS call failed ({})", .0.detail)]
    Other(AwsFailure),
}

/// Makes and unwraps data keys under one KMS key, binding them to the encryption context.
pub trait DataKeys: Send + Sync {
    /// KMS `GenerateDataKey` (32 bytes) under `key_arn` with `context`.
    fn generate(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<GeneratedDataKey, KeyFailure>> + Send;

    /// KMS `Decrypt` of `encrypted` under `key_arn` with `context`.
    fn decrypt(
        &self,
        key_arn: &str,
        encrypted: &[u8],
        context: &EncryptionContext,
    ) -> impl Future<Output = Result<DataKey, KeyFailure>> + Send;
}

/// [`DataKeys`] on the KMS client the functions already hold.
#[derive(Debug, Clone)]
pub struct KmsDataKeys(pub aws_sdk_kms::Client);

impl KmsDataKeys {
    pub fn from_sdk_config(config: &aws_config::SdkConfig) -> Self {
        Self(aws_sdk_kms::Client::new(config))
    }
}

fn key_failure(failure: AwsFailure) -> KeyFailure {
    match failure.code.as_deref() {
        Some("InvalidCiphertextException") => KeyFailure::InvalidCiphertext,
        Some("DisabledException") => KeyFailure::KeyDisabled,
        Some("KMSInvalidStateException") | Some("KeyUnavailableException") => {
            KeyFailure::KeyUnusable(failure.detail)
        }
        _ if failure.kind == FailureKind::AccessDenied => KeyFailure::AccessDenied(failure.detail),
        _ => KeyFailure::Other(failure),
    }
}

impl DataKeys for KmsDataKeys {
    async fn generate(
        &self,
        key_arn: &str,
        context: &EncryptionContext,
    ) -> Result<GeneratedDataKey, KeyFailure> {
        let output = self
            .0
            .generate_data_key()
            .key_id(key_arn)
            .number_of_bytes(DATA_KEY_LEN as i32)
            .set_encryption_context(Some(context.to_hash_map()))
            .send()
            .await
            .map_err(|error| key_failure(classify(&error)))?;
        let encrypted = output
            .ciphertext_blob()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or(KeyFailure::BadResponse(
                "GenerateDataKey returned no CiphertextBlob",
            ))?;
        // The SDK's Blob is not zeroized on drop; the copy taken here is.
        let mut plaintext = output
            .plaintext()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or(KeyFailure::BadResponse(
                "GenerateDataKey returned no Plaintext",
            ))?;
        let key = DataKey::from_slice(&mut plaintext).ok_or(KeyFailure::BadResponse(
            "GenerateDataKey returned a key that is not 32 bytes",
        ))?;
        Ok(GeneratedDataKey { key, encrypted })
    }

    async fn decrypt(
        &self,
        key_arn: &str,
        encrypted: &[u8],
        context: &EncryptionContext,
    ) -> Result<DataKey, KeyFailure> {
        let output = self
            .0
            .decrypt()
            .key_id(key_arn)
            .ciphertext_blob(aws_smithy_types::Blob::new(encrypted))
            .set_encryption_context(Some(context.to_hash_map()))
            .send()
            .await
            .map_err(|error| key_failure(classify(&error)))?;
        let mut plaintext = output
            .plaintext()
            .map(|blob| blob.as_ref().to_vec())
            .ok_or(KeyFailure::BadResponse("Decrypt returned no Plaintext"))?;
        DataKey::from_slice(&mut plaintext).ok_or(KeyFailure::BadResponse(
            "Decrypt returned a key that is not 32 bytes",
        ))
    }
}

/// In-memory [`DataKeys`] for tests: wraps keys with AES-GCM under a fixed key per ARN, binds
/// them to the ARN and the context like KMS does, and counts its calls.
#[cfg(any(test, feature = "testing"))]
pub mod fake {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
    use aws_lc_rs::rand::{SecureRandom, SystemRandom};

    use super::*;

    /// The fake KMS. Every ARN is a key of it.
    #[derive(Debug, Default)]
    pub struct FakeKms {
        pub generate_calls: AtomicUsize,
        pub decrypt_calls: AtomicUsize,
        /// How long each `Decrypt` takes (lets concurrent callers overlap).
        pub decrypt_delay: std::time::Duration,
    }

    impl FakeKms {
        pub fn generated(&self) -> usize {
            self.generate_calls.load(Ordering::SeqCst)
        }

        pub fn decrypted(&self) -> usize {
            self.decrypt_calls.load(Ordering::SeqCst)
        }

        fn wrapping_key(key_arn: &str) -> Result<LessSafeKey, KeyFailure> {
            let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key_arn.as_bytes());
            UnboundKey::new(&AES_256_GCM, digest.as_ref())
                .map(LessSafeKey::new)
                .map_err(|_| KeyFailure::BadResponse("fake key"))
        }

        fn aad(key_arn: &str, context: &EncryptionContext) -> Vec<u8> {
            let mut aad = key_arn.as_bytes().to_vec();
            aad.push(0);
            aad.extend_from_slice(&context.serialize());
            aad
        }
    }

    impl DataKeys for FakeKms {
        async fn generate(
            &self,
            key_arn: &str,
            context: &EncryptionContext,
        ) -> Result<GeneratedDataKey, KeyFailure> {
            self.generate_calls.fetch_add(1, Ordering::SeqCst);
            let rng = SystemRandom::new();
            let mut plaintext = [0u8; DATA_KEY_LEN];
            let mut nonce = [0u8; NONCE_LEN];
            rng.fill(&mut plaintext)
                .and_then(|()| rng.fill(&mut nonce))
                .map_err(|_| KeyFailure::BadResponse("fake rng"))?;
            let mut sealed = plaintext.to_vec();
            Self::wrapping_key(key_arn)?
                .seal_in_place_append_tag(
                    Nonce::assume_unique_for_key(nonce),
                    Aad::from(Self::aad(key_arn, context)),
                    &mut sealed,
                )
                .map_err(|_| KeyFailure::BadResponse("fake seal"))?;
            let mut encrypted = nonce.to_vec();
            encrypted.extend_from_slice(&sealed);
            let key = DataKey::from_slice(&mut plaintext)
                .ok_or(KeyFailure::BadResponse("fake key length"))?;
            Ok(GeneratedDataKey { key, encrypted })
        }

        async fn decrypt(
            &self,
            key_arn: &str,
            encrypted: &[u8],
            context: &EncryptionContext,
        ) -> Result<DataKey, KeyFailure> {
            self.decrypt_calls.fetch_add(1, Ordering::SeqCst);
            if !self.decrypt_delay.is_zero() {
                tokio::time::sleep(self.decrypt_delay).await;
            }
            if encrypted.len() < NONCE_LEN {
                return Err(KeyFailure::InvalidCiphertext);
            }
            let (nonce, sealed) = encrypted.split_at(NONCE_LEN);
            let nonce = Nonce::try_assume_unique_for_key(nonce)
                .map_err(|_| KeyFailure::InvalidCiphertext)?;
            let mut buffer = sealed.to_vec();
            let plaintext = Self::wrapping_key(key_arn)?
                .open_in_place(nonce, Aad::from(Self::aad(key_arn, context)), &mut buffer)
                .map_err(|_| KeyFailure::InvalidCiphertext)?;
            DataKey::from_slice(plaintext).ok_or(KeyFailure::InvalidCiphertext)
        }
    }
}
