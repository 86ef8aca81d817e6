//! A drop-in for the AWS Parameters and Secrets Lambda Extension, on the suite's secret cache.
//!
//! - [`config`]: the nine variables AWS's layer reads, with its defaults and clamping;
//! - [`query`]: the two request forms AWS documents;
//! - [`auth`]: the session-token check every request goes through;
//! - [`body`] and [`error`]: answers in AWS's shapes;
//! - [`upstream`]: Secrets Manager and Parameter Store on the SDK;
//! - [`service`]: one request's answer, through the cache, within the connection limits;
//! - [`server`]: the listeners and HTTP/1.1;
//! - [`lifecycle`]: the Extensions API (register, shutdown).

pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod lifecycle;
pub mod query;
pub mod server;
pub mod service;
pub mod upstream;
