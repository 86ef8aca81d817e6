//! SDK configuration for `suitectl`: a real account by default, or a local endpoint.

use aws_config::{Region, SdkConfig};
use aws_sdk_secretsmanager::config::Credentials;

/// The region the local stack runs in.
pub const LOCAL_REGION: &str = "us-east-1";

/// True when `url` points at this machine (the local stack).
pub fn is_loopback(url: &str) -> bool {
    let authority = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .split(['/', '?'])
        .next()
        .unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn env_set(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.is_empty())
}

/// SDK configuration. `endpoint_url` overrides the endpoint; for a local endpoint the region
/// defaults to [`LOCAL_REGION`] and, when no credentials are configured, dummy ones are used
/// (the emulator accepts any).
pub async fn sdk_config(endpoint_url: Option<&str>, region: Option<&str>) -> SdkConfig {
    let mut loader = secure_lambda::aws::sdk_config_loader();
    let local = endpoint_url.is_some_and(is_loopback);
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
    }
    match region {
        Some(region) => loader = loader.region(Region::new(region.to_owned())),
        None if local && !env_set("AWS_REGION") && !env_set("AWS_DEFAULT_REGION") => {
            loader = loader.region(Region::new(LOCAL_REGION));
        }
        None => {}
    }
    if local && !env_set("AWS_ACCESS_KEY_ID") && !env_set("AWS_PROFILE") {
        loader = loader.credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "suitectl-local-stack",
        ));
    }
    loader.load().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        for url in [
            "http://127.0.0.1:5000",
            "http://localhost:4566/",
            "http://[::1]:9000",
            "127.0.0.2",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        for url in [
            "https://secretsmanager.us-east-1.amazonaws.com",
            "http://10.0.0.1:5000",
            "http://127.evil.com",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}
