//! An AWS SDK call over TLS through the library's HTTP client: Secrets Manager's
//! `GetSecretValue` against a loopback HTTPS endpoint whose certificate a test CA signed. The
//! process trusts that CA alone (`SSL_CERT_FILE`, read by the root loader), so the same call to
//! an endpoint with a self-signed certificate must fail, after one handshake and no retry.
//!
//! One test in its own binary: the root certificates are read once per process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_sdk_secretsmanager::config::{Credentials, Region};
use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

const SECRET: &str = "tls-test-s3cr3t";

/// An HTTPS endpoint on loopback answering every request as `GetSecretValue` would; counts
/// the TCP connections it accepts.
async fn endpoint(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> (u16, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let answer = service_fn(|_request| async {
                    let body = serde_json::json!({
                        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:tls-AbCdEf",
                        "Name": "tls",
                        "SecretString": SECRET,
                        "VersionId": "v1",
                        "VersionStages": ["AWSCURRENT"],
                    });
                    hyper::Response::builder()
                        .header("content-type", "application/x-amz-json-1.1")
                        .body(Full::new(Bytes::from(body.to_string())))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), answer)
                    .await;
            });
        }
    });
    (port, accepted)
}

fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(key.serialize_der().into())
}

/// `GetSecretValue` against the endpoint on `port`, through the library's SDK configuration.
async fn get_secret(
    port: u16,
) -> Result<
    aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput,
    aws_sdk_secretsmanager::error::SdkError<
        aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
> {
    let config = secure_lambda::aws::sdk_config_loader()
        .endpoint_url(format!("https://localhost:{port}"))
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tls-test"))
        .load()
        .await;
    aws_sdk_secretsmanager::Client::new(&config)
        .get_secret_value()
        .secret_id("tls")
        .send()
        .await
}

#[tokio::test]
async fn the_sdk_calls_over_tls_and_trusts_only_the_configured_roots() {
    // A test CA, trusted by this process alone, and a server certificate it signs.
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "secure-lambda test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let roots = std::env::temp_dir().join(format!("secure-lambda-tls-{}.pem", std::process::id()));
    std::fs::write(&roots, ca.pem()).unwrap();
    // Before anything in this process reads the roots.
    std::env::set_var("SSL_CERT_FILE", &roots);

    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&server_key, &Issuer::from_params(&ca_params, &ca_key))
        .unwrap();
    let (port, _) = endpoint(
        vec![server.der().clone(), ca.der().clone()],
        private_key(&server_key),
    )
    .await;
    let answer = get_secret(port).await.unwrap();
    assert_eq!(answer.secret_string(), Some(SECRET));

    // The same call to an endpoint whose certificate no trusted root signed.
    let stranger_key = KeyPair::generate().unwrap();
    let stranger = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .self_signed(&stranger_key)
        .unwrap();
    let (port, accepted) = endpoint(vec![stranger.der().clone()], private_key(&stranger_key)).await;
    let error = get_secret(port).await.unwrap_err();
    let failure = secure_lambda::aws::classify(&error);
    assert!(!failure.detail.contains(SECRET));
    // A certificate that does not verify fails the same way on every attempt: not retried.
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "{error:?}");
    let _ = std::fs::remove_file(&roots);
}
