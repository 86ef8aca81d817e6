//! `crypto` against messages the AWS Encryption SDK for Python wrote (`tests/vectors/`, made by
//! `tests/python/esdk_vectors.py` with aws-encryption-sdk 4.0.7, the SDK Powertools runs on): both
//! suites, frame lengths of 128, 512 and 4096 bytes, plaintexts of 0 to 10,000 bytes (at and
//! around frame boundaries), empty and unicode contexts, a message with a foreign data key before
//! ours; and the messages the module must refuse: only a foreign key, non-framed, format v1 with
//! non-committing suites. Every accepted message is then changed byte by byte and cut short, and
//! must be refused. Offline: the data keys are wrapped as the in-memory KMS wraps them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::Engine as _;
use secure_lambda::crypto::fake::FakeKms;
use secure_lambda::crypto::{EncryptionContext, Esdk};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vectors {
    writer: String,
    key_arn: String,
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    name: String,
    suite: String,
    frame_length: u32,
    context: BTreeMap<String, String>,
    plaintext: String,
    ciphertext: String,
    expect: String,
}

fn load() -> Vectors {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/esdk-python.json"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn decode(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

#[tokio::test]
async fn messages_of_the_python_esdk_open_or_are_refused_as_expected() {
    let vectors = load();
    assert!(
        vectors.writer.starts_with("aws-encryption-sdk 4."),
        "{}",
        vectors.writer
    );
    assert_eq!(vectors.vectors.len(), 32);
    let mut opened = 0;
    for vector in &vectors.vectors {
        let esdk = Esdk::new(FakeKms::default(), &vectors.key_arn).unwrap();
        let context = EncryptionContext::from_pairs(vector.context.clone()).unwrap();
        let message = decode(&vector.ciphertext);
        let result = esdk.decrypt(&message, &context).await;
        let label = format!(
            "{} (suite {}, frames of {})",
            vector.name, vector.suite, vector.frame_length
        );
        if vector.expect == "ok" {
            let plaintext = result.unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(&plaintext[..], &decode(&vector.plaintext)[..], "{label}");
            opened += 1;
        } else {
            let error = result.map(|_| ()).unwrap_err();
            assert!(
                format!("{error:?}").starts_with(&vector.expect),
                "{label}: expected {}, got {error:?}",
                vector.expect
            );
            if vector.expect == "NoConfiguredKey" {
                assert_eq!(esdk.data_keys().decrypted(), 0, "{label}: no KMS call");
            }
        }
    }
    assert_eq!(opened, 26);
}

#[tokio::test]
async fn any_change_to_a_python_message_is_refused() {
    let vectors = load();
    for vector in vectors
        .vectors
        .iter()
        .filter(|v| v.expect == "ok" && v.frame_length == 4096)
    {
        let esdk = Esdk::new(FakeKms::default(), &vectors.key_arn).unwrap();
        let context = EncryptionContext::from_pairs(vector.context.clone()).unwrap();
        let message = decode(&vector.ciphertext);
        // Every byte of short messages; a spread of positions in long ones.
        let step = (message.len() / 600).max(1);
        for at in (0..message.len()).step_by(step) {
            let mut changed = message.clone();
            changed[at] ^= 0x01;
            assert!(
                esdk.decrypt(&changed, &context).await.is_err(),
                "{}: byte {at} of {} flipped was accepted",
                vector.name,
                message.len()
            );
        }
        for cut in [1, 2, 17, message.len() / 2] {
            assert!(
                esdk.decrypt(&message[..message.len() - cut], &context)
                    .await
                    .is_err(),
                "{}: cut by {cut} was accepted",
                vector.name
            );
        }
        let mut longer = message.clone();
        longer.push(0);
        assert!(
            esdk.decrypt(&longer, &context).await.is_err(),
            "{}: a byte appended",
            vector.name
        );
    }
}
