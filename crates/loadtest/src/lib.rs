//! `loadtest`: signs users in to Cognito and drives load at the suite's API from inside Lambda.
//!
//! - [`request`]: the event (closed and open models, fan-out), validated with caps;
//! - [`engine`]: the HTTP load generator;
//! - [`stats`]: HDR histograms, error classes, exact merging across workers;
//! - [`signin`]: Cognito sign-in with cached tokens, passwords from Secrets Manager;
//! - [`fanout`]: invoking itself to spread a run over several workers, each exactly once;
//! - [`worker`]: signing and admitting worker messages (only the coordinator makes them);
//! - [`names`]: user names masked wherever they leave the function;
//! - [`handler`] and [`config`]: the function.

pub mod config;
pub mod engine;
pub mod fanout;
pub mod handler;
pub mod names;
pub mod request;
pub mod signin;
pub mod stats;
pub mod worker;
