//! The HTTP client stack for calls that are not AWS API calls (a user pool's JWKS, load targets):
//! hyper 1 over rustls with the system's root certificates, the stack the AWS SDK already brings.

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;

/// An HTTPS (and, for the local stack, plain HTTP) HTTP/1.1 connector.
pub fn https_connector() -> Result<HttpsConnector<HttpConnector>, String> {
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| format!("loading the system's root certificates: {e}"))?
        .https_or_http()
        .enable_http1()
        .build())
}
