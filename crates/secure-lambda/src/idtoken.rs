//! Verifying Cognito ID tokens where no authorizer did it (function URLs, direct HTTP).
//!
//! Only RS256 is accepted (`alg: none`, HS256 with the public key as secret, and every other
//! algorithm are refused before any key is looked up). The signing key comes from the user pool's
//! JWKS, fetched once and cached; an unknown `kid` triggers one refresh, at most once per
//! [`MIN_REFRESH_INTERVAL`] after a fetch that worked and once per [`RETRY_AFTER_FAILURE`] after
//! one that failed, so that garbage tokens cannot make the function hammer the JWKS endpoint,
//! whether it answers or not. One fetch runs at a time, and none holds the key cache's lock:
//! tokens signed with a known key are verified while a refresh is under way. Then `iss`, `aud`,
//! `exp` and `nbf` (with leeway) and `token_use = id` are checked, and the tenant and user claims
//! must be present strings.

use std::collections::HashMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;

use crate::aws::Transient;

/// How often an unknown `kid` may cause a JWKS fetch after a fetch that worked.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// How long after a failed fetch the next one may start: short enough that a cold function
/// recovers soon after the endpoint does, long enough that a failing endpoint sees at most one
/// request per interval from each execution environment, however many tokens arrive.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// Why a token was refused (all 401 to the caller). Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token")]
    Missing,
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm is not RS256")]
    WrongAlgorithm,
    #[error("the token's signing key is not in the user pool's key set")]
    UnknownKey,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by another issuer")]
    WrongIssuer,
    #[error("the token was issued for another app client")]
    WrongAudience,
    #[error("the token is not an ID token")]
    NotAnIdToken,
    #[error("the token has no `{0}` claim")]
    MissingClaim(String),
    /// The key set could not be fetched (now, or at the last attempt, which is too recent to
    /// repeat): a dependency failure, not the caller's.
    #[error("the user pool's key set could not be fetched ({}): {}", .0.kind, .0.detail)]
    KeysUnavailable(JwksError),
}

/// Why a JWKS fetch failed. `detail` is this module's own text (status, timeout, parse error),
/// never a token or a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksError {
    pub kind: Transient,
    pub detail: String,
}

impl JwksError {
    pub fn new(kind: Transient, detail: impl Into<String>) -> Self {
        Self {
            kind,
            detail: detail.into(),
        }
    }
}

/// Fetches the JWKS.
pub trait JwksSource: Send + Sync {
    fn fetch(&self) -> impl Future<Output = Result<JwkSet, JwksError>> + Send;
}

/// What a verified token says about the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub tenant: String,
    pub user: String,
}

/// What tokens must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// `https://cognito-idp.<region>.amazonaws.com/<pool id>`.
    pub issuer: String,
    /// The app client id.
    pub audience: String,
    pub leeway: Duration,
    /// Claim holding the tenant, e.g. `custom:tenantId`.
    pub tenant_claim: String,
    /// Claim holding the user, e.g. `cognito:username`.
    pub user_claim: String,
}

impl TokenPolicy {
    /// The issuer of a Cognito user pool's tokens.
    pub fn cognito_issuer(region: &str, user_pool_id: &str) -> String {
        format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
    }
}

/// The last fetch: when it started and, if it failed, why.
struct Attempt {
    at: Instant,
    failure: Option<JwksError>,
}

/// Verifies ID tokens against a JWKS source, caching the keys.
pub struct IdTokenVerifier<J> {
    policy: TokenPolicy,
    source: J,
    /// The keys; locked only to read or to swap in a fetched set, never across a fetch.
    keys: RwLock<HashMap<String, DecodingKey>>,
    /// Held across a fetch (one at a time), with the last attempt for the throttle.
    refresh: Mutex<Option<Attempt>>,
}

impl<J: JwksSource> IdTokenVerifier<J> {
    pub fn new(policy: TokenPolicy, source: J) -> Self {
        Self {
            policy,
            source,
            keys: RwLock::new(HashMap::new()),
            refresh: Mutex::new(None),
        }
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    /// The caller named by `token`, if every check passes.
    pub async fn verify(&self, token: &str) -> Result<VerifiedToken, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::WrongAlgorithm);
        }
        let kid = header.kid.ok_or(TokenError::UnknownKey)?;
        let key = self.key(&kid).await?;

        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.policy.issuer]);
        validation.set_audience(&[&self.policy.audience]);
        validation.leeway = self.policy.leeway.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::InvalidSignature => TokenError::BadSignature,
                ErrorKind::ExpiredSignature => TokenError::Expired,
                ErrorKind::ImmatureSignature => TokenError::NotYetValid,
                ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
                ErrorKind::InvalidAudience => TokenError::WrongAudience,
                ErrorKind::InvalidAlgorithm => TokenError::WrongAlgorithm,
                ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim.clone()),
                _ => TokenError::Malformed,
            }
        })?;
        let claims = data.claims;
        if claims.get("token_use").and_then(Value::as_str) != Some("id") {
            return Err(TokenError::NotAnIdToken);
        }
        let claim = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| TokenError::MissingClaim(name.to_owned()))
        };
        Ok(VerifiedToken {
            tenant: claim(&self.policy.tenant_claim)?,
            user: claim(&self.policy.user_claim)?,
        })
    }

    async fn key(&self, kid: &str) -> Result<DecodingKey, TokenError> {
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        // One refresh at a time; readers of known keys do not wait for it.
        let mut last = self.refresh.lock().await;
        // Another task may have refreshed while this one waited.
        if let Some(key) = self.keys.read().await.get(kid) {
            return Ok(key.clone());
        }
        if let Some(attempt) = last.as_ref() {
            let wait = match attempt.failure {
                None => MIN_REFRESH_INTERVAL,
                Some(_) => RETRY_AFTER_FAILURE,
            };
            if attempt.at.elapsed() < wait {
                return Err(match &attempt.failure {
                    None => TokenError::UnknownKey,
                    Some(failure) => TokenError::KeysUnavailable(failure.clone()),
                });
            }
        }
        let at = Instant::now();
        let fetched = self.source.fetch().await;
        let set = match fetched {
            Ok(set) => set,
            Err(failure) => {
                tracing::warn!(kind = %failure.kind, detail = %failure.detail, "user pool keys not fetched");
                *last = Some(Attempt {
                    at,
                    failure: Some(failure.clone()),
                });
                return Err(TokenError::KeysUnavailable(failure));
            }
        };
        *last = Some(Attempt { at, failure: None });
        let fresh: HashMap<String, DecodingKey> = set
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                let key = DecodingKey::from_jwk(jwk).ok()?;
                Some((kid, key))
            })
            .collect();
        tracing::info!(keys = fresh.len(), "user pool keys fetched");
        let found = fresh.get(kid).cloned();
        *self.keys.write().await = fresh;
        found.ok_or(TokenError::UnknownKey)
    }
}

type JwksClient = hyper_util::client::legacy::Client<
    crate::http::HttpsOverTcp,
    http_body_util::Empty<bytes::Bytes>,
>;

/// Fetches the JWKS over HTTPS (or HTTP, for the local stack) with a bounded time.
///
/// The client is built at the first fetch, on the process's one TLS configuration
/// ([`crate::http::tls_config`], which the SDK's calls share): an environment whose requests all
/// come through an authorizer (or with a token whose key is cached) never builds it.
pub struct HttpJwks {
    url: hyper::Uri,
    client: OnceLock<Result<JwksClient, String>>,
}

impl HttpJwks {
    /// Largest key set accepted.
    const MAX_BYTES: usize = 64 * 1024;
    const TIMEOUT: Duration = Duration::from_secs(3);

    /// Refuses a URL that is not one, at start-up rather than at the first token.
    pub fn new(url: String) -> Result<Self, String> {
        let url = url
            .parse()
            .map_err(|e| format!("the JWKS URL {url:?} is not a valid URL: {e}"))?;
        Ok(Self {
            url,
            client: OnceLock::new(),
        })
    }

    fn client(&self) -> Result<&JwksClient, JwksError> {
        self.client
            .get_or_init(|| {
                let connector = crate::http::https_connector()?;
                Ok(
                    hyper_util::client::legacy::Client::builder(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .build(connector),
                )
            })
            .as_ref()
            .map_err(|e| JwksError::new(Transient::Network, e.clone()))
    }

    /// The JWKS URL of a user pool: on AWS, or under a custom endpoint (the local stack).
    pub fn cognito_url(region: &str, user_pool_id: &str, endpoint: Option<&str>) -> String {
        match endpoint {
            Some(endpoint) => format!(
                "{}/{user_pool_id}/.well-known/jwks.json",
                endpoint.trim_end_matches('/')
            ),
            None => format!(
                "{}/.well-known/jwks.json",
                TokenPolicy::cognito_issuer(region, user_pool_id)
            ),
        }
    }
}

impl JwksSource for HttpJwks {
    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        use http_body_util::BodyExt;
        let client = self.client()?;
        let request = async {
            let response = client
                .get(self.url.clone())
                .await
                .map_err(|e| JwksError::new(Transient::Network, format!("GET failed: {e}")))?;
            let status = response.status();
            if !status.is_success() {
                let kind = match status.as_u16() {
                    429 => Transient::Throttled,
                    _ => Transient::ServerError,
                };
                return Err(JwksError::new(kind, format!("GET answered {status}")));
            }
            let limited = http_body_util::Limited::new(response.into_body(), Self::MAX_BYTES);
            let body = limited
                .collect()
                .await
                .map_err(|e| JwksError::new(Transient::Network, format!("reading the body: {e}")))?
                .to_bytes();
            serde_json::from_slice::<JwkSet>(&body)
                .map_err(|e| JwksError::new(Transient::ServerError, format!("not a JWKS: {e}")))
        };
        tokio::time::timeout(Self::TIMEOUT, request)
            .await
            .map_err(|_| {
                JwksError::new(
                    Transient::Timeout,
                    format!("no answer in {} s", Self::TIMEOUT.as_secs()),
                )
            })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use jsonwebtoken::jwk::Jwk;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A signing key made for the test run (nothing to leak, nothing committed).
    fn signing_key() -> EncodingKey {
        let pair = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8 = pair.as_der().unwrap();
        // PKCS#8 = SEQUENCE { version, algorithm, OCTET STRING { PKCS#1 RSAPrivateKey } }; the
        // encoder wants the PKCS#1 key, which is the last element.
        let der = pkcs8.as_ref();
        let octets = der.windows(2).position(|w| w == [0x04, 0x82]).unwrap();
        let pkcs1 = &der[octets + 4..];
        assert_eq!(
            pkcs1.len(),
            usize::from(der[octets + 2]) << 8 | usize::from(der[octets + 3])
        );
        EncodingKey::from_rsa_der(pkcs1)
    }

    struct StaticJwks {
        set: JwkSet,
        fetches: AtomicU32,
    }

    impl JwksSource for StaticJwks {
        async fn fetch(&self) -> Result<JwkSet, JwksError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(self.set.clone())
        }
    }

    fn policy() -> TokenPolicy {
        TokenPolicy {
            issuer: TokenPolicy::cognito_issuer("us-east-1", "us-east-1_pool"),
            audience: "client-1".into(),
            leeway: Duration::from_secs(30),
            tenant_claim: "custom:tenantId".into(),
            user_claim: "cognito:username".into(),
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn claims() -> Value {
        json!({
            "iss": policy().issuer, "aud": "client-1", "token_use": "id",
            "exp": now() + 600, "iat": now(),
            "custom:tenantId": "tenant-a", "cognito:username": "user-001"
        })
    }

    fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn verifier(key: &EncodingKey) -> IdTokenVerifier<StaticJwks> {
        let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
        jwk.common.key_id = Some("kid-1".into());
        IdTokenVerifier::new(
            policy(),
            StaticJwks {
                set: JwkSet { keys: vec![jwk] },
                fetches: AtomicU32::new(0),
            },
        )
    }

    #[tokio::test]
    async fn a_valid_id_token_names_the_tenant_and_user() {
        let key = signing_key();
        let verifier = verifier(&key);
        let verified = verifier.verify(&sign(&key, "kid-1", &claims())).await;
        assert_eq!(
            verified,
            Ok(VerifiedToken {
                tenant: "tenant-a".into(),
                user: "user-001".into()
            })
        );
        verifier
            .verify(&sign(&key, "kid-1", &claims()))
            .await
            .unwrap();
        assert_eq!(
            verifier.source.fetches.load(Ordering::SeqCst),
            1,
            "keys cached"
        );
    }

    #[tokio::test]
    async fn every_bad_token_is_refused_with_its_reason() {
        let key = signing_key();
        let verifier = verifier(&key);
        let with = |patch: Value| {
            let mut c = claims();
            for (k, v) in patch.as_object().unwrap() {
                if v.is_null() {
                    c.as_object_mut().unwrap().remove(k);
                } else {
                    c[k] = v.clone();
                }
            }
            sign(&key, "kid-1", &c)
        };
        let b64 = |v: &Value| {
            use base64::Engine;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let unsigned = format!(
            "{}.{}.",
            b64(&json!({"alg": "none", "kid": "kid-1"})),
            b64(&claims())
        );
        let hs256 = {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some("kid-1".into());
            jsonwebtoken::encode(
                &header,
                &claims(),
                &EncodingKey::from_secret(b"public key as secret"),
            )
            .unwrap()
        };
        let resigned = sign(&signing_key(), "kid-1", &claims());
        let genuine = sign(&key, "kid-1", &claims());
        let (head, rest) = genuine.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let swapped_payload = format!(
            "{head}.{}.{signature}",
            b64(&json!({"custom:tenantId": "tenant-b"})
                .as_object()
                .map(|_| {
                    let mut c = claims();
                    c["custom:tenantId"] = json!("tenant-b");
                    c
                })
                .unwrap())
        );
        let cases = [
            ("not a jwt".to_owned(), TokenError::Malformed),
            (unsigned, TokenError::Malformed),
            (hs256, TokenError::WrongAlgorithm),
            (resigned, TokenError::BadSignature),
            (swapped_payload, TokenError::BadSignature),
            (sign(&key, "other-kid", &claims()), TokenError::UnknownKey),
            (with(json!({"exp": now() - 120})), TokenError::Expired),
            (with(json!({"nbf": now() + 600})), TokenError::NotYetValid),
            (with(json!({"aud": "client-2"})), TokenError::WrongAudience),
            (
                with(json!({"iss": "https://evil.example.com"})),
                TokenError::WrongIssuer,
            ),
            (
                with(json!({"token_use": "access"})),
                TokenError::NotAnIdToken,
            ),
            (
                with(json!({"custom:tenantId": null})),
                TokenError::MissingClaim("custom:tenantId".into()),
            ),
            (
                with(json!({"exp": null})),
                TokenError::MissingClaim("exp".into()),
            ),
        ];
        for (token, expected) in cases {
            assert_eq!(
                verifier.verify(&token).await,
                Err(expected.clone()),
                "{expected}"
            );
        }
        // Within the leeway, an expired token still passes.
        assert!(verifier
            .verify(&with(json!({"exp": now() - 10})))
            .await
            .is_ok());
        assert_eq!(
            verifier.source.fetches.load(Ordering::SeqCst),
            1,
            "unknown kids do not refetch within the interval"
        );
    }

    fn jwk_set(key: &EncodingKey, kids: &[&str]) -> JwkSet {
        let keys = kids
            .iter()
            .map(|kid| {
                let mut jwk = Jwk::from_encoding_key(key, Algorithm::RS256).unwrap();
                jwk.common.key_id = Some((*kid).into());
                jwk
            })
            .collect();
        JwkSet { keys }
    }

    /// A JWKS endpoint that answers from a script, each answer after a permit of `gate`.
    struct ScriptedJwks {
        answers: std::sync::Mutex<std::collections::VecDeque<Result<JwkSet, JwksError>>>,
        gate: tokio::sync::Semaphore,
        fetches: AtomicU32,
    }

    impl ScriptedJwks {
        fn new(answers: Vec<Result<JwkSet, JwksError>>, permits: usize) -> Self {
            Self {
                answers: std::sync::Mutex::new(answers.into()),
                gate: tokio::sync::Semaphore::new(permits),
                fetches: AtomicU32::new(0),
            }
        }
    }

    impl JwksSource for ScriptedJwks {
        async fn fetch(&self) -> Result<JwkSet, JwksError> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            if let Ok(permit) = self.gate.acquire().await {
                permit.forget();
            }
            self.answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| Err(JwksError::new(Transient::ServerError, "script ended")))
        }
    }

    fn down() -> Result<JwkSet, JwksError> {
        Err(JwksError::new(Transient::ServerError, "GET answered 503"))
    }

    /// While the JWKS endpoint fails, a flood of tokens causes one fetch per
    /// [`RETRY_AFTER_FAILURE`], not one per token; each is refused as a dependency failure (not
    /// as a bad token), and the keys are fetched as soon as the endpoint is back.
    #[tokio::test(start_paused = true)]
    async fn failed_fetches_are_throttled_too() {
        let key = signing_key();
        let source = ScriptedJwks::new(vec![down(), down(), Ok(jwk_set(&key, &["kid-1"]))], 100);
        let verifier = IdTokenVerifier::new(policy(), source);
        let token = sign(&key, "kid-1", &claims());
        for _ in 0..50 {
            assert!(matches!(
                verifier.verify(&token).await,
                Err(TokenError::KeysUnavailable(JwksError {
                    kind: Transient::ServerError,
                    ..
                }))
            ));
        }
        assert_eq!(verifier.source.fetches.load(Ordering::SeqCst), 1);
        tokio::time::advance(RETRY_AFTER_FAILURE).await;
        for _ in 0..50 {
            assert!(verifier.verify(&token).await.is_err());
        }
        assert_eq!(verifier.source.fetches.load(Ordering::SeqCst), 2);
        tokio::time::advance(RETRY_AFTER_FAILURE).await;
        assert!(verifier.verify(&token).await.is_ok());
        assert_eq!(verifier.source.fetches.load(Ordering::SeqCst), 3);
        // After a success the long interval applies to unknown kids again.
        tokio::time::advance(RETRY_AFTER_FAILURE).await;
        let unknown = sign(&key, "kid-2", &claims());
        assert_eq!(verifier.verify(&unknown).await, Err(TokenError::UnknownKey));
        assert_eq!(verifier.source.fetches.load(Ordering::SeqCst), 3);
    }

    /// A refresh in flight (a slow JWKS endpoint) holds no lock that verifying a token with a
    /// known key needs, and tokens waiting for the refresh share its one fetch.
    #[tokio::test(start_paused = true)]
    async fn a_refresh_in_flight_blocks_neither_known_keys_nor_causes_more_fetches() {
        let key = signing_key();
        let source = ScriptedJwks::new(
            vec![
                Ok(jwk_set(&key, &["kid-1"])),
                Ok(jwk_set(&key, &["kid-1", "kid-2"])),
            ],
            1,
        );
        let verifier = std::sync::Arc::new(IdTokenVerifier::new(policy(), source));
        let known = sign(&key, "kid-1", &claims());
        assert!(verifier.verify(&known).await.is_ok());
        tokio::time::advance(MIN_REFRESH_INTERVAL).await;

        // Ten tokens with the new kid: one fetch starts and waits at the gate.
        let rotated = sign(&key, "kid-2", &claims());
        let waiting: Vec<_> = (0..10)
            .map(|_| {
                let (verifier, token) = (verifier.clone(), rotated.clone());
                tokio::spawn(async move { verifier.verify(&token).await })
            })
            .collect();
        while verifier.source.fetches.load(Ordering::SeqCst) < 2 {
            tokio::task::yield_now().await;
        }
        // The known key verifies at once while the fetch hangs (a paused clock jumps straight
        // to the timeout if the verification waits for anything).
        let known_now = tokio::time::timeout(Duration::from_millis(100), verifier.verify(&known));
        assert!(matches!(known_now.await, Ok(Ok(_))));

        verifier.source.gate.add_permits(1);
        for task in waiting {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(verifier.source.fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn cognito_urls() {
        assert_eq!(
            HttpJwks::cognito_url("eu-west-1", "eu-west-1_abc", None),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json"
        );
        assert_eq!(
            HttpJwks::cognito_url("us-east-1", "p", Some("http://127.0.0.1:5000/")),
            "http://127.0.0.1:5000/p/.well-known/jwks.json"
        );
    }

    #[test]
    fn a_jwks_url_that_is_not_one_is_refused_at_start_up() {
        for url in ["", "http://exa mple.com/jwks.json", "http://[::1/jwks.json"] {
            let error = HttpJwks::new(url.to_owned()).err();
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains("not a valid URL")),
                "{url:?}: {error:?}"
            );
        }
        let jwks = HttpJwks::new("http://127.0.0.1:1/p/.well-known/jwks.json".to_owned());
        assert!(jwks.is_ok_and(|jwks| jwks.client.get().is_none()));
    }

    /// A fetch builds the client once, and a connection refused is a transient network failure.
    #[tokio::test]
    async fn the_client_is_built_at_the_first_fetch() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let jwks = HttpJwks::new(format!("http://127.0.0.1:{port}/jwks.json")).unwrap();
        for _ in 0..2 {
            let error = jwks.fetch().await.unwrap_err();
            assert_eq!(error.kind, Transient::Network, "{error:?}");
        }
        assert!(jwks.client.get().is_some_and(Result::is_ok));
    }
}
