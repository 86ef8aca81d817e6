//! The encryption context: string pairs bound to the message (in its header) and to the data
//! key (KMS sees them, so key policies can condition on `kms:EncryptionContext:<key>`).

use std::collections::{BTreeMap, HashMap};

use super::CryptoError;

/// The context key the signed suite stores its verification key under.
pub const PUBLIC_KEY_FIELD: &str = "aws-crypto-public-key";

/// Keys with this prefix belong to the message format; callers cannot set them.
pub const RESERVED_PREFIX: &str = "aws-crypto-";

/// String pairs, sorted by their UTF-8 bytes (the order the header serializes them in).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EncryptionContext(BTreeMap<String, String>);

impl EncryptionContext {
    pub fn new() -> Self {
        Self::default()
    }

    /// A caller's context: refuses keys of the message format (`aws-crypto-` prefix) and empty
    /// keys, naming the key.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<Self, CryptoError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut map = BTreeMap::new();
        for (key, value) in pairs {
            let key = key.into();
            if key.is_empty() {
                return Err(CryptoError::InvalidContextKey {
                    key,
                    reason: "is empty",
                });
            }
            if key.starts_with(RESERVED_PREFIX) {
                return Err(CryptoError::InvalidContextKey {
                    key,
                    reason: "uses the reserved prefix aws-crypto-",
                });
            }
            map.insert(key, value.into());
        }
        Ok(Self(map))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub(crate) fn insert_reserved(&mut self, key: &str, value: String) {
        self.0.insert(key.to_owned(), value);
    }

    /// This context without the signed suite's public key: what the caller set.
    pub fn without_public_key(&self) -> Self {
        let mut map = self.0.clone();
        map.remove(PUBLIC_KEY_FIELD);
        Self(map)
    }

    pub(crate) fn to_hash_map(&self) -> HashMap<String, String> {
        self.0.clone().into_iter().collect()
    }

    /// The header's AAD: empty for no pairs, else the pair count then each key and value with
    /// a 2-byte length. Lengths over 65535 are refused earlier, by [`Self::serialized_len`].
    pub(crate) fn serialize(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if self.0.is_empty() {
            return out;
        }
        out.extend_from_slice(&(self.0.len() as u16).to_be_bytes());
        for (key, value) in &self.0 {
            out.extend_from_slice(&(key.len() as u16).to_be_bytes());
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&(value.len() as u16).to_be_bytes());
            out.extend_from_slice(value.as_bytes());
        }
        out
    }

    /// Checks that the serialized context fits the header's 2-byte length fields.
    pub(crate) fn check_size(&self) -> Result<(), CryptoError> {
        let too_long = |s: &str| s.len() > usize::from(u16::MAX);
        if self.0.len() > usize::from(u16::MAX) {
            return Err(CryptoError::ContextTooLarge);
        }
        if let Some(key) = self.0.keys().find(|k| too_long(k)) {
            return Err(CryptoError::InvalidContextKey {
                key: key.chars().take(40).collect(),
                reason: "is longer than 65535 bytes",
            });
        }
        if let Some((key, _)) = self.0.iter().find(|(_, v)| too_long(v)) {
            return Err(CryptoError::InvalidContextKey {
                key: key.clone(),
                reason: "has a value longer than 65535 bytes",
            });
        }
        let total: usize = 2 + self
            .0
            .iter()
            .map(|(k, v)| 4 + k.len() + v.len())
            .sum::<usize>();
        if total > usize::from(u16::MAX) {
            return Err(CryptoError::ContextTooLarge);
        }
        Ok(())
    }

    pub(crate) fn from_parsed(map: BTreeMap<String, String>) -> Self {
        Self(map)
    }
}
