//! The pieces of the secrets extension that decide what a request means, kept free of I/O so
//! each is tested on its own: the variables AWS's layer reads ([`config`]), the query strings
//! its documentation shows ([`query`]) and the token check every request goes through
//! ([`auth`]).

pub mod auth;
pub mod config;
pub mod query;
