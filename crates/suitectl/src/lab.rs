//! The values of the published lab flows, which `suitectl seed` provisions.
//!
//! No resource names: those come from the stack ([`crate::stack`]). Secret values are not here
//! but in [`crate::values`], so that a real account gets the operator's values and the local
//! stack gets the lab's.

/// One Parameter Store parameter to create.
#[derive(Debug, Clone, Copy)]
pub struct LabParameter {
    /// Below the stack's parameter path, e.g. `config/api-url`.
    pub name: &'static str,
    pub secure: bool,
    /// `None` for SecureString parameters: their values come from [`crate::values::SeedValues`].
    pub value: Option<&'static str>,
}

pub const DB_USERNAME: &str = "admin";
pub const DB_HOST: &str = "mydb.cluster-abc123.us-east-1.rds.amazonaws.com";
pub const DB_PORT: u16 = 3306;
pub const DB_NAME: &str = "orders";

pub const API_URL_PARAMETER: &str = "config/api-url";
pub const API_KEY_PARAMETER: &str = "secrets/api-key";
pub const MAX_ITEMS_PARAMETER: &str = "config/max-items";
/// The folder secure-config lists its feature flags from.
pub const FEATURE_FLAGS_PATH: &str = "config/feature-flags";

pub const PARAMETERS: [LabParameter; 5] = [
    LabParameter {
        name: API_URL_PARAMETER,
        secure: false,
        value: Some("https://api.example.com/v2"),
    },
    LabParameter {
        name: API_KEY_PARAMETER,
        secure: true,
        value: None,
    },
    LabParameter {
        name: MAX_ITEMS_PARAMETER,
        secure: false,
        value: Some("50"),
    },
    LabParameter {
        name: "config/feature-flags/new-checkout",
        secure: false,
        value: Some("true"),
    },
    LabParameter {
        name: "config/feature-flags/dark-mode",
        secure: false,
        value: Some("false"),
    },
];

/// One order of the lab table.
#[derive(Debug, Clone, Copy)]
pub struct LabOrder {
    pub tenant: &'static str,
    pub user: &'static str,
    pub order_id: &'static str,
    pub total: &'static str,
    pub status: &'static str,
}

/// The lab's orders, plus five for `student` (tenant-a), the loadtest lab's user, whose calls
/// report how many orders it has.
pub const ORDERS: [LabOrder; 8] = [
    LabOrder {
        tenant: "tenant-a",
        user: "user-001",
        order_id: "2024-001",
        total: "149.99",
        status: "shipped",
    },
    LabOrder {
        tenant: "tenant-a",
        user: "user-001",
        order_id: "2024-002",
        total: "89.50",
        status: "processing",
    },
    LabOrder {
        tenant: "tenant-b",
        user: "user-002",
        order_id: "2024-003",
        total: "299.00",
        status: "delivered",
    },
    LabOrder {
        tenant: "tenant-a",
        user: "student",
        order_id: "S-001",
        total: "12.00",
        status: "shipped",
    },
    LabOrder {
        tenant: "tenant-a",
        user: "student",
        order_id: "S-002",
        total: "45.50",
        status: "delivered",
    },
    LabOrder {
        tenant: "tenant-a",
        user: "student",
        order_id: "S-003",
        total: "7.25",
        status: "processing",
    },
    LabOrder {
        tenant: "tenant-a",
        user: "student",
        order_id: "S-004",
        total: "99.99",
        status: "shipped",
    },
    LabOrder {
        tenant: "tenant-a",
        user: "student",
        order_id: "S-005",
        total: "18.40",
        status: "delivered",
    },
];

/// The custom attribute that carries a user's tenant (claim `custom:tenantId`).
pub const TENANT_ATTRIBUTE: &str = "tenantId";

/// A Cognito user; each user's password also lives in a secret named after the user (after the
/// stack's prefix), key [`USER_SECRET_PASSWORD_KEY`] (the loadtest lab's convention).
#[derive(Debug, Clone, Copy)]
pub struct LabUser {
    pub username: &'static str,
    pub tenant: &'static str,
}

pub const USER_SECRET_PASSWORD_KEY: &str = "Password";

pub const USERS: [LabUser; 3] = [
    LabUser {
        username: "student",
        tenant: "tenant-a",
    },
    LabUser {
        username: "user-001",
        tenant: "tenant-a",
    },
    LabUser {
        username: "user-002",
        tenant: "tenant-b",
    },
];
