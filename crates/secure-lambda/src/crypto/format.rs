//! The bytes of an ESDK message, format version 2: header, framed body, footer. Parsing checks
//! structure only (lengths, counts, order); authentication is the caller's ([`super::Esdk`]).

use std::collections::BTreeMap;

use super::context::EncryptionContext;
use super::{CryptoError, Suite};

pub const VERSION_2: u8 = 0x02;
pub const MESSAGE_ID_LEN: usize = 32;
pub const COMMITMENT_LEN: usize = 32;
pub const IV_LEN: usize = 12;
pub const TAG_LEN: usize = 16;
/// Content type 0x02: framed.
pub const CONTENT_FRAMED: u8 = 0x02;
/// The sequence-number value that marks the final frame.
pub const FINAL_FRAME_MARK: u32 = 0xFFFF_FFFF;
pub const REGULAR_FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Frame";
pub const FINAL_FRAME_AAD: &[u8] = b"AWSKMSEncryptionClient Final Frame";

/// One encrypted data key entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedDataKey {
    pub provider_id: String,
    pub provider_info: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// The header body (everything the header authentication tag covers).
#[derive(Debug, Clone)]
pub struct Header {
    pub suite: Suite,
    pub message_id: [u8; MESSAGE_ID_LEN],
    /// The stored context, with `aws-crypto-public-key` for the signed suite.
    pub context: EncryptionContext,
    pub data_keys: Vec<EncryptedDataKey>,
    pub frame_length: u32,
    pub commitment: [u8; COMMITMENT_LEN],
}

impl Header {
    /// The serialized header body. Lengths were checked by the caller (context size, one EDK
    /// with lengths from KMS well under 65535).
    pub fn serialize(&self) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(512);
        out.push(VERSION_2);
        out.extend_from_slice(&self.suite.id().to_be_bytes());
        out.extend_from_slice(&self.message_id);
        let aad = self.context.serialize();
        out.extend_from_slice(&len16(aad.len())?);
        out.extend_from_slice(&aad);
        out.extend_from_slice(&len16(self.data_keys.len())?);
        for key in &self.data_keys {
            out.extend_from_slice(&len16(key.provider_id.len())?);
            out.extend_from_slice(key.provider_id.as_bytes());
            out.extend_from_slice(&len16(key.provider_info.len())?);
            out.extend_from_slice(&key.provider_info);
            out.extend_from_slice(&len16(key.ciphertext.len())?);
            out.extend_from_slice(&key.ciphertext);
        }
        out.push(CONTENT_FRAMED);
        out.extend_from_slice(&self.frame_length.to_be_bytes());
        out.extend_from_slice(&self.commitment);
        Ok(out)
    }
}

fn len16(len: usize) -> Result<[u8; 2], CryptoError> {
    u16::try_from(len)
        .map(u16::to_be_bytes)
        .map_err(|_| CryptoError::FieldTooLarge)
}

/// A frame as it sits in the message (the ciphertext borrowed from it).
#[derive(Debug, Clone, Copy)]
pub struct Frame<'a> {
    pub sequence: u32,
    pub iv: &'a [u8],
    pub ciphertext: &'a [u8],
    pub tag: &'a [u8],
    pub is_final: bool,
}

/// A parsed message: the header, where its body ends, its frames, and the footer's signature.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub header: Header,
    /// The serialized header body (the AAD of the header tag).
    pub header_body: &'a [u8],
    pub header_tag: &'a [u8],
    pub frames: Vec<Frame<'a>>,
    /// Header and body: what the signature covers.
    pub signed_part: &'a [u8],
    pub signature: Option<&'a [u8]>,
}

/// A cursor that names what it was reading when the input ran out.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], CryptoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or(CryptoError::Truncated { field: what })?;
        let slice = &self.buf[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, CryptoError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, CryptoError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, CryptoError> {
        let b = self.take(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], CryptoError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn text(&mut self, n: usize, what: &'static str) -> Result<String, CryptoError> {
        String::from_utf8(self.take(n, what)?.to_vec()).map_err(|_| CryptoError::Malformed {
            field: what,
            reason: "is not UTF-8",
        })
    }
}

fn parse_context(aad: &[u8]) -> Result<EncryptionContext, CryptoError> {
    const FIELD: &str = "encryption context";
    let mut reader = Reader { buf: aad, pos: 0 };
    let mut map = BTreeMap::new();
    if aad.is_empty() {
        return Ok(EncryptionContext::from_parsed(map));
    }
    let count = reader.u16(FIELD)?;
    if count == 0 {
        return Err(CryptoError::Malformed {
            field: FIELD,
            reason: "has a pair count of 0 but a non-zero length",
        });
    }
    for _ in 0..count {
        let key_len = usize::from(reader.u16(FIELD)?);
        let key = reader.text(key_len, FIELD)?;
        let value_len = usize::from(reader.u16(FIELD)?);
        let value = reader.text(value_len, FIELD)?;
        if map.insert(key, value).is_some() {
            return Err(CryptoError::Malformed {
                field: FIELD,
                reason: "holds a key twice",
            });
        }
    }
    if reader.pos != aad.len() {
        return Err(CryptoError::Malformed {
            field: FIELD,
            reason: "is longer than its pairs",
        });
    }
    Ok(EncryptionContext::from_parsed(map))
}

/// Parses a whole message. Refuses other versions and suites, more than `max_data_keys`
/// encrypted data keys (before reading them), bad lengths, and trailing bytes.
pub fn parse(message: &[u8], max_data_keys: usize) -> Result<Parsed<'_>, CryptoError> {
    let mut r = Reader {
        buf: message,
        pos: 0,
    };
    let version = r.u8("version")?;
    if version != VERSION_2 {
        return Err(CryptoError::UnsupportedVersion { version });
    }
    let suite = Suite::from_id(r.u16("algorithm suite id")?)?;
    let message_id = r.array::<MESSAGE_ID_LEN>("message id")?;
    let aad_len = usize::from(r.u16("encryption context length")?);
    let context = parse_context(r.take(aad_len, "encryption context")?)?;
    let edk_count = usize::from(r.u16("encrypted data key count")?);
    if edk_count == 0 {
        return Err(CryptoError::Malformed {
            field: "encrypted data key count",
            reason: "is 0",
        });
    }
    if edk_count > max_data_keys {
        return Err(CryptoError::TooManyDataKeys {
            count: edk_count,
            max: max_data_keys,
        });
    }
    let mut data_keys = Vec::with_capacity(edk_count);
    for _ in 0..edk_count {
        let len = usize::from(r.u16("key provider id")?);
        let provider_id = r.text(len, "key provider id")?;
        let len = usize::from(r.u16("key provider info")?);
        let provider_info = r.take(len, "key provider info")?.to_vec();
        let len = usize::from(r.u16("encrypted data key")?);
        let ciphertext = r.take(len, "encrypted data key")?.to_vec();
        data_keys.push(EncryptedDataKey {
            provider_id,
            provider_info,
            ciphertext,
        });
    }
    let content_type = r.u8("content type")?;
    if content_type != CONTENT_FRAMED {
        return Err(CryptoError::Malformed {
            field: "content type",
            reason: "is not 0x02 (framed)",
        });
    }
    let frame_length = r.u32("frame length")?;
    if frame_length == 0 {
        return Err(CryptoError::Malformed {
            field: "frame length",
            reason: "is 0",
        });
    }
    let commitment = r.array::<COMMITMENT_LEN>("commitment key")?;
    let header_body = &message[..r.pos];
    let header_tag = r.take(TAG_LEN, "header authentication tag")?;

    let mut frames = Vec::new();
    let mut expected: u32 = 1;
    loop {
        let mark = r.u32("frame sequence number")?;
        if mark == FINAL_FRAME_MARK {
            let sequence = r.u32("final frame sequence number")?;
            if sequence != expected {
                return Err(CryptoError::Malformed {
                    field: "final frame sequence number",
                    reason: "is out of order",
                });
            }
            let iv = r.take(IV_LEN, "final frame IV")?;
            let len = r.u32("final frame content length")?;
            if len > frame_length {
                return Err(CryptoError::Malformed {
                    field: "final frame content length",
                    reason: "exceeds the frame length",
                });
            }
            let ciphertext = r.take(len as usize, "final frame content")?;
            let tag = r.take(TAG_LEN, "final frame authentication tag")?;
            frames.push(Frame {
                sequence,
                iv,
                ciphertext,
                tag,
                is_final: true,
            });
            break;
        }
        if mark != expected {
            return Err(CryptoError::Malformed {
                field: "frame sequence number",
                reason: "is out of order",
            });
        }
        let iv = r.take(IV_LEN, "frame IV")?;
        let ciphertext = r.take(frame_length as usize, "frame content")?;
        let tag = r.take(TAG_LEN, "frame authentication tag")?;
        frames.push(Frame {
            sequence: mark,
            iv,
            ciphertext,
            tag,
            is_final: false,
        });
        expected = expected.checked_add(1).ok_or(CryptoError::Malformed {
            field: "frame sequence number",
            reason: "overflows",
        })?;
    }
    let signed_part = &message[..r.pos];
    let signature = if suite.is_signed() {
        let len = usize::from(r.u16("signature length")?);
        Some(r.take(len, "signature")?)
    } else {
        None
    };
    if r.pos != message.len() {
        return Err(CryptoError::Malformed {
            field: "message",
            reason: "has bytes after its end",
        });
    }
    Ok(Parsed {
        header: Header {
            suite,
            message_id,
            context,
            data_keys,
            frame_length,
            commitment,
        },
        header_body,
        header_tag,
        frames,
        signed_part,
        signature,
    })
}

/// The AAD of a frame: message id, the frame kind's label, sequence number, content length.
pub fn frame_aad(message_id: &[u8], is_final: bool, sequence: u32, len: u64) -> Vec<u8> {
    let label = if is_final {
        FINAL_FRAME_AAD
    } else {
        REGULAR_FRAME_AAD
    };
    let mut aad = Vec::with_capacity(message_id.len() + label.len() + 12);
    aad.extend_from_slice(message_id);
    aad.extend_from_slice(label);
    aad.extend_from_slice(&sequence.to_be_bytes());
    aad.extend_from_slice(&len.to_be_bytes());
    aad
}

/// The IV of a frame: its sequence number, left-padded with zeros to 12 bytes.
pub fn frame_iv(sequence: u32) -> [u8; IV_LEN] {
    let mut iv = [0u8; IV_LEN];
    iv[IV_LEN - 4..].copy_from_slice(&sequence.to_be_bytes());
    iv
}
