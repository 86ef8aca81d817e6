//! Properties of tenant isolation over generated input: the key builder never yields a key
//! outside the caller's partition (ids are allow-listed or refused, and distinct identities never
//! share a key), and a cursor round-trips for its identity while any single-bit change to it, or
//! any other identity, is refused.
// Test code: a panic here is a failed run, not a crashed function.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use secure_lambda::tenant::cursor::{CursorKey, PageKey};
use secure_lambda::tenant::{Identity, TenantId, UserId, MAX_ID_LEN};

/// Ids as an attacker would send them: mostly allow-listed characters, with key delimiters,
/// wildcards, separators, whitespace and non-ASCII mixed in.
fn hostile_id() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9][A-Za-z0-9_-]{0,70}",
        "[A-Za-z0-9#*/%_ .:-]{0,70}",
        ".{0,70}",
        "(tenant-a|user-001)(#USER#|#|\\*|/|%23|\\x00|\n)(tenant-b|user-002)?",
    ]
}

fn valid_id() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
}

fn allow_listed(id: &str) -> bool {
    let bytes = id.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_')
}

fn identity(tenant: &str, user: &str) -> Identity {
    Identity::new(
        TenantId::parse(tenant).unwrap(),
        UserId::parse(user).unwrap(),
    )
}

/// The tenant and user a partition key names, read back as a reader of the table would.
fn read_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("TENANT#")?;
    let (tenant, user) = rest.split_once("#USER#")?;
    (!tenant.contains('#') && !user.contains('#')).then_some((tenant, user))
}

fn page_key() -> impl Strategy<Value = PageKey> {
    prop::collection::btree_map("[A-Za-z]{1,8}", ".{0,40}", 1..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Whatever a caller sends, an id is either exactly allow-listed or refused naming the field.
    #[test]
    fn ids_are_allow_listed_or_refused(tenant in hostile_id(), user in hostile_id()) {
        match TenantId::parse(&tenant) {
            Ok(id) => {
                prop_assert!(allow_listed(&tenant));
                prop_assert_eq!(id.as_str(), tenant.as_str());
            }
            Err(error) => {
                prop_assert!(!allow_listed(&tenant));
                prop_assert_eq!(error.field, "tenantId");
            }
        }
        prop_assert_eq!(UserId::parse(&user).is_ok(), allow_listed(&user));
    }

    /// A key reads back as exactly the caller's tenant and user: nothing an id holds can move it
    /// into another partition.
    #[test]
    fn a_key_names_exactly_its_identity(tenant in hostile_id(), user in hostile_id()) {
        if let (Ok(t), Ok(u)) = (TenantId::parse(&tenant), UserId::parse(&user)) {
            let key = Identity::new(t, u).partition_key();
            prop_assert_eq!(read_key(&key), Some((tenant.as_str(), user.as_str())));
        }
    }

    /// Two identities share a key only if they are the same identity.
    #[test]
    fn distinct_identities_never_share_a_key(
        a in (valid_id(), valid_id()),
        b in (valid_id(), valid_id()),
    ) {
        let (ka, kb) = (
            identity(&a.0, &a.1).partition_key(),
            identity(&b.0, &b.1).partition_key(),
        );
        prop_assert_eq!(ka == kb, a == b);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A cursor opens to the key it sealed, for its identity and nobody else's; flipping any one
    /// bit of it (payload, separator or tag) is refused.
    #[test]
    fn a_cursor_round_trips_and_no_single_bit_change_passes(
        tenant in valid_id(),
        user in valid_id(),
        other_user in valid_id(),
        key in page_key(),
        secret in prop::collection::vec(any::<u8>(), 32..64),
    ) {
        let sealing = CursorKey::new(secret).unwrap();
        let owner = identity(&tenant, &user);
        let cursor = sealing.seal(&owner, &key).unwrap();
        prop_assert_eq!(sealing.open(&owner, &cursor), Ok(key.clone()));
        if other_user != user {
            prop_assert!(sealing.open(&identity(&tenant, &other_user), &cursor).is_err());
        }
        let bytes = cursor.as_bytes();
        for at in 0..bytes.len() {
            for bit in 0..8 {
                let mut flipped = bytes.to_vec();
                flipped[at] ^= 1 << bit;
                // Not UTF-8: no function can even receive it as a string.
                if let Ok(text) = String::from_utf8(flipped) {
                    prop_assert!(
                        sealing.open(&owner, &text).is_err(),
                        "bit {} of byte {} flipped and still accepted", bit, at
                    );
                }
            }
        }
    }
}
