//! The lab's two sample users and the rules that mask them.

use secure_lambda::mask::{JsonPath, PiiKind, Strategy};
use serde_json::{json, Value};

/// `USR-001` Jane Doe and `USR-002` John Smith, as the lab lists them.
pub fn users() -> Vec<Value> {
    vec![
        json!({
            "id": "USR-001",
            "name": "Jane Doe",
            "email": "jane.doe@example.com",
            "phone": "+1-555-123-4567",
            "ssn": "123-45-6789",
            "memberSince": "2023-01-15"
        }),
        json!({
            "id": "USR-002",
            "name": "John Smith",
            "email": "john.smith@example.com",
            "phone": "+1-555-987-6543",
            "ssn": "987-65-4321",
            "memberSince": "2023-06-20"
        }),
    ]
}

/// Field rules for the sample: the lab format of each PII field. `id`, `name` and `memberSince`
/// have no rule and pass through.
pub fn rules() -> Vec<(JsonPath, Strategy)> {
    [
        ("$.email", PiiKind::Email),
        ("$.phone", PiiKind::Phone),
        ("$.ssn", PiiKind::Ssn),
        ("$.creditCard", PiiKind::Card),
    ]
    .into_iter()
    .filter_map(|(path, kind)| Some((JsonPath::parse(path).ok()?, Strategy::Lab(kind))))
    .collect()
}
