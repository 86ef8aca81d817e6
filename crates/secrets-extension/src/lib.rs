//! The pieces of the secrets extension that decide what a request means and what is answered,
//! kept free of I/O so each is tested on its own: the variables AWS's layer reads
//! ([`config`]), the query strings its documentation shows ([`query`]), the token check every
//! request goes through ([`auth`]), the bodies in AWS's shape ([`body`]) and the error
//! responses ([`error`]).

pub mod auth;
pub mod body;
pub mod config;
pub mod error;
pub mod query;
