//! The ID-token verifier on arbitrary text, with a user pool key set of one RSA key (public;
//! made for this target): never panics, and nothing the fuzzer writes is accepted (it cannot sign
//! with a key it does not have).
#![no_main]

use jsonwebtoken::jwk::JwkSet;
use libfuzzer_sys::fuzz_target;
use secure_lambda::idtoken::{IdTokenVerifier, JwksError, JwksSource, TokenPolicy};

struct OneKey(JwkSet);

impl JwksSource for OneKey {
    async fn fetch(&self) -> Result<JwkSet, JwksError> {
        Ok(self.0.clone())
    }
}

const JWKS: &str = r#"{"keys":[{"kty":"RSA","alg":"RS256","use":"sig","kid":"dummy","n":"ukBy5-waXKEYzB8GgY_tNxhR4GHRrKVN7ANDZyHjA8S1QbIQc3f8zlXjjVoHmypoR2zucPvDTtceOB3V-q3nq6Fiel8pDCpog9NgNWW_4BqAdUyz7p2UosZkyKGFAsyVX61S4rVBqGygvtegMSaj8pIiDR3v53cyhvn2xqsGGAh6y9N6dSwg2vdXCIq9Yb-w9qj3PrlqVHqpn3zX0yO0OmESbbzXqHmm3szy_bMxKDKmNP_S_EcS3wVaX5rvhZCKcitKU3-zUcH_ASJvhVQUVV8y7bW0Q13nhTa8i3kXACQnz8q1VD9uGvdbIdtUidsynepBZCPDT6k8Ox47UN4AQQ","e":"AQAB"}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let set: JwkSet = serde_json::from_str(JWKS).expect("the key set parses");
    let verifier = IdTokenVerifier::new(
        TokenPolicy {
            issuer: TokenPolicy::cognito_issuer("us-east-1", "us-east-1_fuzz"),
            audience: "fuzz-client".into(),
            leeway: std::time::Duration::from_secs(60),
            tenant_claim: "custom:tenantId".into(),
            user_claim: "sub".into(),
        },
        OneKey(set),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a runtime");
    let verdict = runtime.block_on(verifier.verify(token));
    assert!(verdict.is_err(), "an unsigned token was accepted");
});
