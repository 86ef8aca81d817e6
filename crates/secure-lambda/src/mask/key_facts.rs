//! What a JSON key says about the values below it, worked out once per distinct key.
//!
//! The streaming masker asks five questions of every key it meets (does it name a secret, a
//! sibling's value, a sibling's name, a cookie header, a kind of PII?), and a payload of records
//! meets the same dozen keys hundreds of thousands of times. Each answer is a function of the
//! key's decoded text alone, so a small direct-mapped cache keyed by that text gives the same
//! answers for a fraction of the work; a key longer than a slot, or one that collides, is simply
//! worked out again.

use super::detect::{cookie_key, is_name_key, is_secret_key, is_value_key, label_of_key, Label};

/// The answers for one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyFacts {
    /// Names a secret (`password`, `api_key`): everything below it is masked.
    pub(super) secret: bool,
    /// The value member of a name/value pair (`Value`).
    pub(super) value: bool,
    /// The name member of a name/value pair (`Name`, `ParameterKey`).
    pub(super) name: bool,
    /// Holds cookies; `Some(true)` for `Set-Cookie`.
    pub(super) cookie: Option<bool>,
    /// The kind of PII it names (`phone`, `customerSsn`).
    pub(super) label: Option<Label>,
    /// May hold PII itself (`{"jane.doe@example.com": 12}`).
    pub(super) worth_reading: bool,
}

impl KeyFacts {
    pub(super) fn of(key: &str) -> Self {
        Self {
            secret: is_secret_key(key),
            value: is_value_key(key),
            name: is_name_key(key),
            cookie: cookie_key(key),
            label: label_of_key(key),
            worth_reading: worth_reading(key),
        }
    }
}

/// True when a key may hold PII itself (`{"jane.doe@example.com": 12}`).
pub(super) fn worth_reading(key: &str) -> bool {
    key.contains('@') || key.bytes().filter(u8::is_ascii_digit).count() >= 8
}

const SLOT_BITS: u32 = 7;
const SLOTS: usize = 1 << SLOT_BITS;
const PROBES: usize = 4;
const SLOT_BYTES: usize = 32;

#[derive(Clone, Copy)]
struct Slot {
    len: u8,
    key: [u8; SLOT_BYTES],
    facts: KeyFacts,
}

/// Facts of recently met keys, by their decoded text.
pub(super) struct KeyCache {
    slots: Box<[Option<Slot>; SLOTS]>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            slots: Box::new([None; SLOTS]),
        }
    }
}

impl KeyCache {
    pub(super) fn facts(&mut self, key: &str) -> KeyFacts {
        let bytes = key.as_bytes();
        if bytes.is_empty() || bytes.len() > SLOT_BYTES {
            return KeyFacts::of(key);
        }
        // Up to PROBES slots from the key's own: a few keys that share a slot (a record's dozen
        // keys often do) still each keep one. When all are taken, the first is replaced.
        let home = slot_of(bytes);
        let mut free = None;
        for probe in 0..PROBES {
            let index = (home + probe) % SLOTS;
            match &self.slots[index] {
                Some(hit) if hit.holds(bytes) => return hit.facts,
                Some(_) => {}
                // Slots are never emptied, so no key was stored past an empty one.
                None => {
                    free = Some(index);
                    break;
                }
            }
        }
        let facts = KeyFacts::of(key);
        let mut stored = [0; SLOT_BYTES];
        stored[..bytes.len()].copy_from_slice(bytes);
        self.slots[free.unwrap_or(home)] = Some(Slot {
            // At most SLOT_BYTES, checked above.
            len: bytes.len() as u8,
            key: stored,
            facts,
        });
        facts
    }
}

impl Slot {
    fn holds(&self, key: &[u8]) -> bool {
        // Compared in line: keys are a few bytes, shorter than a call to memcmp costs.
        usize::from(self.len) == key.len() && self.key.iter().zip(key).all(|(a, b)| a == b)
    }
}

/// A slot index from the key's length and its first, middle and last bytes (`key` is not
/// empty): the keys of one payload differ there, and it costs the same for any key. Not a
/// defence: a collision only costs a recomputation.
fn slot_of(key: &[u8]) -> usize {
    let n = key.len();
    let sample = u32::from(key[0])
        | u32::from(key[n / 2]) << 8
        | u32::from(key[n - 1]) << 16
        | (n as u32) << 24;
    // Fibonacci hashing: the top bits of the product mix every input bit.
    (sample.wrapping_mul(0x9e37_79b9) >> (32 - SLOT_BITS)) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_facts_are_the_computed_ones() {
        let keys = [
            "password",
            "Password",
            "Value",
            "Name",
            "ParameterKey",
            "Cookie",
            "Set-Cookie",
            "cookies",
            "phone",
            "customerSsn",
            "card_number",
            "jane.doe@example.com",
            "12345678",
            "id",
            "a-key-that-is-longer-than-one-slot-holds",
            "",
        ];
        let mut cache = KeyCache::default();
        // Twice round, so that the second reads what the first stored, and enough distinct keys
        // that some share a slot.
        for _ in 0..2 {
            for key in keys {
                assert_eq!(cache.facts(key), KeyFacts::of(key), "{key}");
            }
            for i in 0..200 {
                let key = format!("field{i}");
                assert_eq!(cache.facts(&key), KeyFacts::of(&key), "{key}");
            }
        }
    }

    #[test]
    fn a_key_differing_in_one_byte_gets_its_own_facts() {
        let mut cache = KeyCache::default();
        assert!(cache.facts("password").secret);
        assert!(!cache.facts("passwore").secret);
        assert!(cache.facts("password").secret);
        assert_eq!(cache.facts("phone").label, Some(Label::Phone));
        assert_eq!(cache.facts("phono").label, None);
    }
}
