//! Tenant and user identifiers, and the one place where they become table keys.
//!
//! Ids are checked against an allow-list pattern (`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`) and
//! rejected otherwise, never escaped: `#` (the key separator), `*`, `/`, whitespace, the empty
//! string and long ids cannot reach a key, so `tenant-a#USER#user-001` cannot address another
//! partition.
//!
//! - [`cursor`]: pagination cursors sealed with an HMAC and bound to the identity.
//! - [`sessions`]: per-user or per-tenant sessions in a bounded LRU with single flight.

pub mod cursor;
pub mod sessions;

use std::fmt;

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 64;

/// The sort-key prefix of order items.
pub const ORDER_SORT_PREFIX: &str = "ORDER#";

/// The table's key attributes: the partition key (`TENANT#<tenant>#USER#<user>`, see
/// [`Identity::partition_key`]) and the sort key (`ORDER#<order id>`, see [`order_sort_key`]).
/// Everything that writes or reads order items (the function's store, `suitectl seed`) builds
/// keys here, and nowhere else.
pub const PARTITION_KEY: &str = "PK";
pub const SORT_KEY: &str = "SK";

/// `ORDER#<order id>`: the sort key of an order item.
pub fn order_sort_key(order_id: &str) -> String {
    format!("{ORDER_SORT_PREFIX}{order_id}")
}

/// Why an id was refused. Holds which field, never the value (it may be an attack string or PII).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be 1-{MAX_ID_LEN} characters of letters, digits, `-` and `_`, starting with a letter or digit")]
pub struct InvalidId {
    pub field: &'static str,
}

fn validate(field: &'static str, value: &str) -> Result<(), InvalidId> {
    let bytes = value.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= MAX_ID_LEN
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_');
    if valid {
        Ok(())
    } else {
        Err(InvalidId { field })
    }
}

macro_rules! id_type {
    ($name:ident, $field:literal, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// The id, if it matches the allow-list pattern.
            pub fn parse(value: &str) -> Result<Self, InvalidId> {
                validate($field, value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(TenantId, "tenantId", "A validated tenant id.");
id_type!(UserId, "userId", "A validated user id.");

/// Who is asking: a tenant and a user in it, both validated.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub tenant: TenantId,
    pub user: UserId,
}

impl Identity {
    pub fn new(tenant: TenantId, user: UserId) -> Self {
        Self { tenant, user }
    }

    /// `TENANT#<tenant>#USER#<user>`: the partition key of this user's items, built nowhere else.
    pub fn partition_key(&self) -> String {
        format!("TENANT#{}#USER#{}", self.tenant, self.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_allow_list_or_are_refused() {
        for good in ["tenant-a", "user-001", "A", "a_b-C9", &"x".repeat(64)] {
            assert!(TenantId::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "tenant-a#USER#user-001",
            "*",
            "tenant/a",
            "tenant a",
            " tenant-a",
            "tenant-a\n",
            "-tenant",
            "_tenant",
            "ténant",
            "tenant%23",
            &"x".repeat(65),
        ] {
            let error = TenantId::parse(bad).unwrap_err();
            assert_eq!(error.field, "tenantId");
            assert!(
                !error.to_string().contains(bad) || bad.is_empty(),
                "{error}"
            );
        }
        assert_eq!(UserId::parse("a#b").unwrap_err().field, "userId");
    }

    #[test]
    fn the_partition_key_is_built_in_one_place() {
        let identity = Identity::new(
            TenantId::parse("tenant-a").unwrap(),
            UserId::parse("user-001").unwrap(),
        );
        assert_eq!(identity.partition_key(), "TENANT#tenant-a#USER#user-001");
    }
}
