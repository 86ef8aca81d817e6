//! `data-masking`: masks PII and secrets in JSON records (field rules, detection, keyed tokens);
//! `{}` shows the lab's masked sample users. The binary only wires; a library so that the memory
//! test and the bench can run the handler in process.

pub mod config;
pub mod handler;
pub mod request;
mod sample;
