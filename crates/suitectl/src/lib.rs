//! `suitectl`, the operator CLI of the secure Lambda suite, as a library: the CLI in `main.rs`
//! and the local-stack test harness share this code.
//!
//! - [`lab`]: the resources and values of the published lab flows;
//! - [`values`]: where the secret values to seed come from;
//! - [`seed`]: idempotent provisioning of a real account or the local stack;
//! - [`endpoint`]: SDK configuration for a real account or a local endpoint.

pub mod encrypt_env;
pub mod endpoint;
pub mod lab;
pub mod seed;
pub mod values;
