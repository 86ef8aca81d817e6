//! The cursor decoder on arbitrary text: never panics, and whatever it accepts seals back to a
//! cursor that opens to the same key for the same identity (a forged cursor is never accepted:
//! an input that opens would have to carry a valid HMAC under a key the fuzzer does not know).
#![no_main]

use libfuzzer_sys::fuzz_target;
use secure_lambda::tenant::cursor::CursorKey;
use secure_lambda::tenant::{Identity, TenantId, UserId};

fuzz_target!(|data: &[u8]| {
    let Ok(cursor) = std::str::from_utf8(data) else {
        return;
    };
    let (Some(key), Ok(tenant), Ok(user)) = (
        CursorKey::new(b"fuzz-cursor-key-0123456789abcdef".to_vec()),
        TenantId::parse("tenant-a"),
        UserId::parse("user-001"),
    ) else {
        return;
    };
    let identity = Identity::new(tenant, user);
    if let Ok(page) = key.open(&identity, cursor) {
        let again = key.seal(&identity, &page).expect("an opened key seals");
        assert_eq!(key.open(&identity, &again), Ok(page));
    }
});
