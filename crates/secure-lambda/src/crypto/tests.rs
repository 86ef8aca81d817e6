// Compiled only under #[cfg(test)]: the `tests` module of crypto/mod.rs.
use super::fake::FakeKms;
use super::*;

const ARN: &str = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const OTHER_ARN: &str =
    "arn:aws:kms:us-east-1:123456789012:key/ffffffff-12ab-34cd-56ef-1234567890ab";

fn esdk(suite: Suite) -> Esdk<FakeKms> {
    Esdk::new(FakeKms::default(), ARN)
        .unwrap()
        .with_suite(suite)
}

fn tenant(value: &str) -> EncryptionContext {
    EncryptionContext::from_pairs([("tenant", value)]).unwrap()
}

const SUITES: [Suite; 2] = [Suite::CommitKey, Suite::CommitKeyEcdsaP384];

#[tokio::test]
async fn round_trips_both_suites_at_frame_boundaries() {
    for suite in SUITES {
        let esdk = esdk(suite);
        for len in [0usize, 1, 13, 4095, 4096, 4097, 8192, 10_000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let message = esdk.encrypt(&plaintext, &tenant("a")).await.unwrap();
            assert_eq!(message[0], 2);
            assert_eq!(u16::from_be_bytes([message[1], message[2]]), suite.id());
            let opened = esdk.decrypt(&message, &tenant("a")).await.unwrap();
            assert_eq!(&opened[..], &plaintext[..], "{suite:?} len {len}");
            let parsed = format::parse(&message, 4).unwrap();
            assert_eq!(parsed.frames.len(), len.div_ceil(4096).max(1));
            assert!(parsed.frames.last().unwrap().is_final);
            assert_eq!(parsed.header.frame_length, 4096);
            assert_eq!(parsed.header.data_keys.len(), 1);
            assert_eq!(parsed.header.data_keys[0].provider_id, "aws-kms");
            assert_eq!(parsed.header.data_keys[0].provider_info, ARN.as_bytes());
            assert_eq!(parsed.signature.is_some(), suite.is_signed());
        }
        assert_eq!(esdk.data_keys().generated(), 8);
        assert_eq!(esdk.data_keys().decrypted(), 8);
    }
}

#[tokio::test]
async fn signed_suite_stores_a_compressed_p384_key_and_powertools_prefix() {
    let esdk = esdk(Suite::CommitKeyEcdsaP384);
    let encoded = esdk
        .encrypt_json(&serde_json::json!("123-45-6789"), &tenant("a"))
        .await
        .unwrap();
    assert!(encoded.starts_with("AgV4"), "{}", &encoded[..8]);
    let message = base64::engine::general_purpose::STANDARD
        .decode(&encoded)
        .unwrap();
    let parsed = format::parse(&message, 4).unwrap();
    let key = parsed.header.context.get(PUBLIC_KEY_FIELD).unwrap();
    assert_eq!(key.len(), 68);
    let unsigned = self::esdk(Suite::CommitKey)
        .encrypt_json(&serde_json::json!(1), &tenant("a"))
        .await
        .unwrap();
    assert!(unsigned.starts_with("AgR4"));
}

#[tokio::test]
async fn json_round_trip_keeps_unicode_and_numbers() {
    for suite in SUITES {
        let esdk = esdk(suite);
        let value = serde_json::json!({"name": "Zoë 山田 🚀", "n": 12345, "f": -1.5, "list": [1, "x", null]});
        let encoded = esdk.encrypt_json(&value, &tenant("a")).await.unwrap();
        assert_eq!(
            esdk.decrypt_json(&encoded, &tenant("a")).await.unwrap(),
            value
        );
    }
}

#[tokio::test]
async fn context_must_match_exactly_before_any_kms_call() {
    for suite in SUITES {
        let esdk = esdk(suite);
        let message = esdk.encrypt(b"secret", &tenant("a")).await.unwrap();
        let superset = EncryptionContext::from_pairs([("tenant", "a"), ("x", "y")]).unwrap();
        for wrong in [tenant("b"), EncryptionContext::new(), superset] {
            assert_eq!(
                esdk.decrypt(&message, &wrong).await.unwrap_err(),
                CryptoError::ContextMismatch
            );
        }
        assert_eq!(esdk.data_keys().decrypted(), 0);
        // The public key is not part of what the caller states.
        assert!(esdk.decrypt(&message, &tenant("a")).await.is_ok());
    }
}

#[tokio::test]
async fn caller_cannot_set_reserved_context_keys() {
    let err = EncryptionContext::from_pairs([("aws-crypto-public-key", "x")]).unwrap_err();
    assert!(matches!(err, CryptoError::InvalidContextKey { .. }));
    assert!(EncryptionContext::from_pairs([("", "x")]).is_err());
}

#[tokio::test]
async fn key_arns_must_be_full_key_arns() {
    for arn in [
        "alias/masking",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn:aws:kms:us-east-1:123456789012:alias/masking",
        "arn:aws:kms:us-east-1:12345:key/abc",
        "arn:aws:s3:us-east-1:123456789012:key/abc",
    ] {
        assert!(matches!(
            Esdk::new(FakeKms::default(), arn),
            Err(CryptoError::InvalidKeyArn(_))
        ));
    }
}

#[tokio::test]
async fn foreign_key_arn_is_refused_without_kms() {
    let message = esdk(Suite::CommitKeyEcdsaP384)
        .encrypt(b"secret", &tenant("a"))
        .await
        .unwrap();
    let other = Esdk::new(FakeKms::default(), OTHER_ARN).unwrap();
    assert_eq!(
        other.decrypt(&message, &tenant("a")).await.unwrap_err(),
        CryptoError::NoConfiguredKey
    );
    assert_eq!(other.data_keys().decrypted(), 0);
}

/// Offsets into a message of one data key, made with `tenant=a`.
fn header_len(message: &[u8]) -> usize {
    let parsed = format::parse(message, 4).unwrap();
    parsed.header_body.len()
}

#[tokio::test]
async fn refuses_version_1_and_non_committing_or_unknown_suites() {
    let esdk = esdk(Suite::CommitKey);
    let message = esdk.encrypt(b"secret", &tenant("a")).await.unwrap();
    let mut v1 = message.clone();
    v1[0] = 1;
    assert_eq!(
        esdk.decrypt(&v1, &tenant("a")).await.unwrap_err(),
        CryptoError::UnsupportedVersion { version: 1 }
    );
    for (id, expected) in [
        (0x0178u16, CryptoError::NonCommittingSuite { id: 0x0178 }),
        (0x0014, CryptoError::NonCommittingSuite { id: 0x0014 }),
        (0x0999, CryptoError::UnknownSuite { id: 0x0999 }),
    ] {
        let mut other = message.clone();
        other[1..3].copy_from_slice(&id.to_be_bytes());
        assert_eq!(
            esdk.decrypt(&other, &tenant("a")).await.unwrap_err(),
            expected
        );
    }
    assert_eq!(esdk.data_keys().decrypted(), 0);
}

#[tokio::test]
async fn suite_swapped_in_the_header_fails() {
    // A 0x0478 message relabelled 0x0578 lacks the public key; the other way round the
    // commitment (derived with the suite id) and the header tag no longer match.
    let unsigned = esdk(Suite::CommitKey);
    let mut message = unsigned.encrypt(b"secret", &tenant("a")).await.unwrap();
    message[1..3].copy_from_slice(&0x0578u16.to_be_bytes());
    assert!(unsigned.decrypt(&message, &tenant("a")).await.is_err());
}

#[tokio::test]
async fn caps_encrypted_data_keys_before_kms() {
    let esdk = esdk(Suite::CommitKey).with_max_data_keys(1);
    let message = esdk.encrypt(b"secret", &tenant("a")).await.unwrap();
    // Rebuild the header with the same key entry twice.
    let mut parsed = format::parse(&message, 4).unwrap().header;
    parsed.data_keys.push(parsed.data_keys[0].clone());
    let mut forged = parsed.serialize().unwrap();
    forged.extend_from_slice(&message[header_len(&message)..]);
    assert_eq!(
        esdk.decrypt(&forged, &tenant("a")).await.unwrap_err(),
        CryptoError::TooManyDataKeys { count: 2, max: 1 }
    );
    assert_eq!(esdk.data_keys().decrypted(), 0);
}

#[tokio::test]
async fn wrong_commitment_is_refused() {
    let esdk = esdk(Suite::CommitKey);
    let mut message = esdk.encrypt(b"secret", &tenant("a")).await.unwrap();
    let at = header_len(&message) - 1;
    message[at] ^= 1;
    assert_eq!(
        esdk.decrypt(&message, &tenant("a")).await.unwrap_err(),
        CryptoError::CommitmentMismatch
    );
}

#[tokio::test]
async fn every_flipped_byte_is_refused() {
    for suite in SUITES {
        let esdk = esdk(suite);
        let plaintext = vec![7u8; 5000];
        let message = esdk.encrypt(&plaintext, &tenant("a")).await.unwrap();
        for at in 0..message.len() {
            let mut flipped = message.clone();
            flipped[at] ^= 0x01;
            let result = esdk.decrypt(&flipped, &tenant("a")).await;
            assert!(result.is_err(), "{suite:?}: flipped byte {at} was accepted");
        }
    }
}

#[tokio::test]
async fn flips_in_header_body_and_footer_fail_their_own_check() {
    let esdk = esdk(Suite::CommitKeyEcdsaP384);
    let message = esdk.encrypt(b"a value", &tenant("a")).await.unwrap();
    let parsed = format::parse(&message, 4).unwrap();
    let header_end = parsed.header_body.len();
    let body_start = header_end + TAG_LEN;
    let footer_start = parsed.signed_part.len();
    drop(parsed);
    let flip = |at: usize| {
        let mut m = message.clone();
        m[at] ^= 0x80;
        m
    };
    // The header tag: the signature covers it, and is checked before any KMS call.
    assert_eq!(
        esdk.decrypt(&flip(header_end + 3), &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::BadSignature
    );
    assert_eq!(esdk.data_keys().decrypted(), 0);
    // The final frame's ciphertext: the signature catches it first.
    assert_eq!(
        esdk.decrypt(&flip(footer_start - TAG_LEN - 1), &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::BadSignature
    );
    assert!(footer_start > body_start);
    // The signature itself.
    assert_eq!(
        esdk.decrypt(&flip(message.len() - 5), &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::BadSignature
    );
    // Unsigned: a header tag flip fails the header's tag, a body flip the frame's.
    let unsigned = self::esdk(Suite::CommitKey);
    let mut message = unsigned.encrypt(b"a value", &tenant("a")).await.unwrap();
    let header_end = format::parse(&message, 4).unwrap().header_body.len();
    let mut flipped = message.clone();
    flipped[header_end + 3] ^= 0x80;
    assert_eq!(
        unsigned.decrypt(&flipped, &tenant("a")).await.unwrap_err(),
        CryptoError::HeaderAuthentication
    );
    let last = message.len() - TAG_LEN - 1;
    message[last] ^= 0x80;
    assert_eq!(
        unsigned.decrypt(&message, &tenant("a")).await.unwrap_err(),
        CryptoError::FrameAuthentication { sequence: 1 }
    );
}

#[tokio::test]
async fn truncation_and_trailing_bytes_are_refused() {
    for suite in SUITES {
        let esdk = esdk(suite);
        let message = esdk.encrypt(&[1u8; 4200], &tenant("a")).await.unwrap();
        for len in 0..message.len() {
            let result = esdk.decrypt(&message[..len], &tenant("a")).await;
            assert!(
                result.is_err(),
                "{suite:?}: truncated to {len} was accepted"
            );
        }
        let mut longer = message.clone();
        longer.push(0);
        assert!(matches!(
            esdk.decrypt(&longer, &tenant("a")).await.unwrap_err(),
            CryptoError::Malformed { .. }
        ));
    }
}

#[tokio::test]
async fn dropping_the_final_frame_of_a_multi_frame_message_is_refused() {
    let esdk = esdk(Suite::CommitKey);
    let message = esdk.encrypt(&[9u8; 8192], &tenant("a")).await.unwrap();
    let parsed = format::parse(&message, 4).unwrap();
    // Keep the header and the first (regular) frame only.
    let first_end = parsed.header_body.len() + TAG_LEN + 4 + 12 + 4096 + TAG_LEN;
    assert!(matches!(
        esdk.decrypt(&message[..first_end], &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::Truncated { .. }
    ));
}

#[tokio::test]
async fn errors_and_debug_never_show_secrets() {
    let esdk = esdk(Suite::CommitKeyEcdsaP384);
    let message = esdk
        .encrypt(b"hunter2-plaintext", &tenant("a"))
        .await
        .unwrap();
    let err = esdk.decrypt(&message, &tenant("b")).await.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"));
    let mut bytes = [0x42u8; 32];
    let key = DataKey::from_slice(&mut bytes).unwrap();
    assert_eq!(format!("{key:?}"), "DataKey(..)");
    assert_eq!(bytes, [0u8; 32], "the source of a data key is zeroized");
}

#[tokio::test]
async fn not_base64_or_not_json_is_a_clear_error() {
    let esdk = esdk(Suite::CommitKey);
    assert!(matches!(
        esdk.decrypt_json("not base64!", &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::NotAMessage(_)
    ));
    let message = esdk.encrypt(b"{not json", &tenant("a")).await.unwrap();
    let encoded = base64::engine::general_purpose::STANDARD.encode(message);
    assert_eq!(
        esdk.decrypt_json(&encoded, &tenant("a")).await.unwrap_err(),
        CryptoError::NotJson
    );
}

fn cached(suite: Suite, policy: CachePolicy) -> Esdk<FakeKms> {
    esdk(suite).with_cache(policy)
}

#[tokio::test]
async fn encrypt_cache_shares_one_data_key_per_context_and_suite() {
    for suite in SUITES {
        let esdk = cached(suite, CachePolicy::default());
        let mut messages = Vec::new();
        for i in 0..10 {
            messages.push(
                esdk.encrypt(format!("v{i}").as_bytes(), &tenant("a"))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(esdk.data_keys().generated(), 1, "{suite:?}");
        esdk.encrypt(b"x", &tenant("b")).await.unwrap();
        assert_eq!(
            esdk.data_keys().generated(),
            2,
            "another context, another key"
        );
        // Same data key, distinct messages: own message id, own commitment.
        let first = format::parse(&messages[0], 4).unwrap().header;
        let second = format::parse(&messages[1], 4).unwrap().header;
        assert_eq!(first.data_keys, second.data_keys);
        assert_eq!(first.context, second.context);
        assert_ne!(first.message_id, second.message_id);
        assert_ne!(first.commitment, second.commitment);
        for (i, message) in messages.iter().enumerate() {
            let opened = esdk.decrypt(message, &tenant("a")).await.unwrap();
            assert_eq!(&opened[..], format!("v{i}").as_bytes());
        }
    }
}

#[tokio::test]
async fn encrypt_cache_respects_message_byte_and_age_limits() {
    let by_messages = cached(
        Suite::CommitKey,
        CachePolicy {
            max_messages: 3,
            ..CachePolicy::default()
        },
    );
    for _ in 0..10 {
        by_messages.encrypt(b"x", &tenant("a")).await.unwrap();
    }
    assert_eq!(by_messages.data_keys().generated(), 4, "3 + 3 + 3 + 1");

    let by_bytes = cached(
        Suite::CommitKey,
        CachePolicy {
            max_bytes: 10,
            ..CachePolicy::default()
        },
    );
    for _ in 0..4 {
        by_bytes.encrypt(b"12345", &tenant("a")).await.unwrap();
    }
    assert_eq!(by_bytes.data_keys().generated(), 2, "10 bytes per key");

    let by_age = cached(
        Suite::CommitKey,
        CachePolicy {
            max_age: std::time::Duration::ZERO,
            ..CachePolicy::default()
        },
    );
    for _ in 0..3 {
        by_age.encrypt(b"x", &tenant("a")).await.unwrap();
    }
    assert_eq!(by_age.data_keys().generated(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decrypt_cache_makes_one_kms_call_for_concurrent_messages_of_one_data_key() {
    for suite in SUITES {
        let kms = FakeKms {
            decrypt_delay: std::time::Duration::from_millis(50),
            ..FakeKms::default()
        };
        let esdk = std::sync::Arc::new(
            Esdk::new(kms, ARN)
                .unwrap()
                .with_suite(suite)
                .with_cache(CachePolicy::default()),
        );
        let mut messages = Vec::new();
        for i in 0..8 {
            messages.push(
                esdk.encrypt(format!("field {i}").as_bytes(), &tenant("a"))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(esdk.data_keys().generated(), 1);
        let mut tasks = tokio::task::JoinSet::new();
        for (i, message) in messages.into_iter().enumerate() {
            let esdk = std::sync::Arc::clone(&esdk);
            tasks.spawn(async move {
                let opened = esdk.decrypt(&message, &tenant("a")).await.unwrap();
                assert_eq!(&opened[..], format!("field {i}").as_bytes());
            });
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        assert_eq!(esdk.data_keys().decrypted(), 1, "{suite:?}: single flight");
    }
}

#[tokio::test]
async fn a_cached_data_key_does_not_skip_the_checks_of_each_message() {
    let esdk = cached(Suite::CommitKeyEcdsaP384, CachePolicy::default());
    let good = esdk.encrypt(b"one", &tenant("a")).await.unwrap();
    let other = esdk.encrypt(b"two", &tenant("a")).await.unwrap();
    esdk.decrypt(&good, &tenant("a")).await.unwrap();
    // The commitment, where no signature checks it first.
    let unsigned = cached(Suite::CommitKey, CachePolicy::default());
    let good_unsigned = unsigned.encrypt(b"one", &tenant("a")).await.unwrap();
    let other_unsigned = unsigned.encrypt(b"two", &tenant("a")).await.unwrap();
    unsigned
        .decrypt(&good_unsigned, &tenant("a"))
        .await
        .unwrap();
    let mut bad_commitment = other_unsigned.clone();
    let at = header_len(&other_unsigned) - 1;
    bad_commitment[at] ^= 1;
    assert_eq!(
        unsigned
            .decrypt(&bad_commitment, &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::CommitmentMismatch
    );
    let mut bad_signature = other.clone();
    let last = bad_signature.len() - 3;
    bad_signature[last] ^= 1;
    assert_eq!(
        esdk.decrypt(&bad_signature, &tenant("a"))
            .await
            .unwrap_err(),
        CryptoError::BadSignature
    );
    assert_eq!(
        esdk.decrypt(&other, &tenant("b")).await.unwrap_err(),
        CryptoError::ContextMismatch
    );
    assert_eq!(esdk.data_keys().decrypted(), 1);
}

mod mutations {
    use proptest::prelude::*;

    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Any change to a message (bytes xored anywhere, a cut, bytes appended) is refused,
        /// for both suites; an unchanged one opens.
        #[test]
        fn no_changed_message_opens(
            signed in any::<bool>(),
            len in 0usize..9000,
            edits in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 0..4),
            cut in proptest::option::of(any::<prop::sample::Index>()),
            tail in proptest::collection::vec(any::<u8>(), 0..3),
        ) {
            let rt = runtime();
            let suite = if signed { Suite::CommitKeyEcdsaP384 } else { Suite::CommitKey };
            let esdk = esdk(suite);
            let plaintext = vec![0x5au8; len];
            let message = rt.block_on(esdk.encrypt(&plaintext, &tenant("a"))).unwrap();
            let mut changed = message.clone();
            for (at, mask) in &edits {
                changed[at.index(message.len())] ^= mask;
            }
            if let Some(at) = cut {
                changed.truncate(at.index(message.len()));
            }
            changed.extend_from_slice(&tail);
            let result = rt.block_on(esdk.decrypt(&changed, &tenant("a")));
            if changed == message {
                prop_assert_eq!(&result.unwrap()[..], &plaintext[..]);
            } else {
                prop_assert!(result.is_err());
            }
        }
    }
}
