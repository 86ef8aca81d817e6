//! `suitectl`, the operator CLI of the secure Lambda suite, as a library: the CLI in `main.rs`
//! and the local-stack test harness share this code.
//!
//! - [`stack`]: a stack's outputs, the only place resource names come from;
//! - [`lab`]: the values of the published lab flows;
//! - [`values`]: where the secret values to seed come from;
//! - [`seed`]: idempotent provisioning of a deployed stack or the local stack;
//! - [`encrypt_env`]: KMS-encrypted environment variables for one function;
//! - [`samconfig`]: recording a template parameter where `sam deploy` reads it;
//! - [`endpoint`]: SDK configuration for a real account or a local endpoint.

pub mod encrypt_env;
pub mod endpoint;
pub mod lab;
pub mod samconfig;
pub mod seed;
pub mod stack;
pub mod values;
