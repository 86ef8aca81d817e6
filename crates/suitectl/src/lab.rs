//! The resources and values of the published lab flows, which `suitectl seed` provisions.
//!
//! Names are the labs' names; secret values are not here but in [`crate::values`], so that a
//! real account gets the operator's values and the local stack gets the lab's.

/// One Parameter Store parameter to create.
#[derive(Debug, Clone, Copy)]
pub struct LabParameter {
    pub name: &'static str,
    pub secure: bool,
    /// `None` for SecureString parameters: their values come from [`crate::values::SeedValues`].
    pub value: Option<&'static str>,
}

pub const DB_SECRET_ID: &str = "prod/database/credentials";
pub const DB_USERNAME: &str = "admin";
pub const DB_HOST: &str = "mydb.cluster-abc123.us-east-1.rds.amazonaws.com";
pub const DB_PORT: u16 = 3306;
pub const DB_NAME: &str = "orders";

/// Secret holding the key of data-masking's keyed tokens (generated, never a lab value).
pub const MASKING_KEY_SECRET_ID: &str = "data-masking/token-key";

/// Secret holding the key that seals multi-tenant-query's pagination cursors (generated).
pub const CURSOR_KEY_SECRET_ID: &str = "multi-tenant-query/cursor-key";

/// Secret holding the key that signs loadtest's worker messages (generated; only loadtest
/// reads it).
pub const WORKER_KEY_SECRET_ID: &str = "loadtest/worker-key";

/// A tenant-scoped role ARN for the local stack, where any ARN works: the emulator does not
/// evaluate IAM. On AWS the function gets the stack's role.
pub const LOCAL_TENANT_ROLE_ARN: &str =
    "arn:aws:iam::123456789012:role/secure-lambda-suite-tenant-query";

pub const API_KEY_PARAMETER: &str = "/app/secrets/api-key";

pub const PARAMETERS: [LabParameter; 5] = [
    LabParameter {
        name: "/app/config/api-url",
        secure: false,
        value: Some("https://api.example.com/v2"),
    },
    LabParameter {
        name: API_KEY_PARAMETER,
        secure: true,
        value: None,
    },
    LabParameter {
        name: "/app/config/max-items",
        secure: false,
        value: Some("50"),
    },
    LabParameter {
        name: "/app/config/feature-flags/new-checkout",
        secure: false,
        value: Some("true"),
    },
    LabParameter {
        name: "/app/config/feature-flags/dark-mode",
        secure: false,
        value: Some("false"),
    },
];

/// Alias of the customer managed key that encrypts `USER_NAME` (without the `alias/` prefix).
pub const KMS_ALIAS: &str = "UserName";

pub const TABLE_NAME: &str = "MultiTenantApp";

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

pub const USER_POOL_NAME: &str = "secure-lambda-suite";
pub const APP_CLIENT_NAME: &str = "secure-lambda-suite-app";
/// The custom attribute that carries a user's tenant (claim `custom:tenantId`).
pub const TENANT_ATTRIBUTE: &str = "tenantId";

/// A Cognito user; each user's password also lives in a secret named after the user, key
/// [`USER_SECRET_PASSWORD_KEY`] (the loadtest lab's convention).
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
