//! Request admission: the session-token header and the forwarded-request refusal.
//!
//! AWS's layer admits a request when `X-Aws-Parameters-Secrets-Token` carries the function's
//! `AWS_SESSION_TOKEN`; SnapStart environments have no session token and use
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` instead. The comparison is constant-time so the answer
//! time says nothing about how much of a guess was right.

use subtle::ConstantTimeEq;

/// The header AWS documents; HTTP header names compare case-insensitively.
pub const TOKEN_HEADER: &str = "x-aws-parameters-secrets-token";

/// The body AWS's layer answers a missing or wrong token with (HTTP 401, text/plain).
pub const BAD_TOKEN_BODY: &str = "bad session token or header key";

/// Why a request was refused before any lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token header, an empty one, or one that does not match.
    BadToken,
    /// The request carries `X-Forwarded-For`: it was relayed, so it did not start inside this
    /// execution environment (a proxied SSRF would look like this).
    Forwarded,
}

/// The token requests must present. The value is never printed: this type has no `Debug`.
pub struct ExpectedToken(Option<Vec<u8>>);

impl ExpectedToken {
    /// Reads the token from the first non-empty of `AWS_SESSION_TOKEN` and
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`, through `lookup` (the process environment in
    /// production).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let token = ["AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"]
            .iter()
            .filter_map(|name| lookup(name))
            .find(|value| !value.is_empty());
        Self(token.map(String::into_bytes))
    }

    /// Whether a token is configured at all; without one every request is refused.
    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    /// Admits or refuses a request from its headers, given as (name, value) pairs.
    pub fn check<'a>(
        &self,
        headers: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<(), Refusal> {
        let mut presented: Option<&[u8]> = None;
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("x-forwarded-for") {
                return Err(Refusal::Forwarded);
            }
            if name.eq_ignore_ascii_case(TOKEN_HEADER) {
                if presented.is_some() {
                    // Two token headers: ambiguous, so neither is trusted.
                    return Err(Refusal::BadToken);
                }
                presented = Some(value);
            }
        }
        match (&self.0, presented) {
            (Some(expected), Some(given)) if bool::from(expected.as_slice().ct_eq(given)) => Ok(()),
            _ => Err(Refusal::BadToken),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(session: Option<&str>, container: Option<&str>) -> ExpectedToken {
        ExpectedToken::from_lookup(|name| match name {
            "AWS_SESSION_TOKEN" => session.map(str::to_owned),
            "AWS_CONTAINER_AUTHORIZATION_TOKEN" => container.map(str::to_owned),
            _ => None,
        })
    }

    #[test]
    fn header_name_matches_in_any_case() {
        let expected = token(Some("tok"), None);
        for name in [
            "X-Aws-Parameters-Secrets-Token",
            "x-aws-parameters-secrets-token",
            "X-AWS-PARAMETERS-SECRETS-TOKEN",
        ] {
            assert_eq!(
                expected.check([(name, b"tok".as_slice())]),
                Ok(()),
                "{name}"
            );
        }
    }

    #[test]
    fn missing_wrong_or_prefix_token_is_refused() {
        let expected = token(Some("tok"), None);
        assert_eq!(expected.check([]), Err(Refusal::BadToken));
        assert_eq!(
            expected.check([(TOKEN_HEADER, b"tok2".as_slice())]),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            expected.check([(TOKEN_HEADER, b"to".as_slice())]),
            Err(Refusal::BadToken)
        );
        assert_eq!(
            expected.check([(TOKEN_HEADER, b"".as_slice())]),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn duplicate_token_headers_are_refused() {
        let expected = token(Some("tok"), None);
        let headers = [
            (TOKEN_HEADER, b"tok".as_slice()),
            (TOKEN_HEADER, b"tok".as_slice()),
        ];
        assert_eq!(expected.check(headers), Err(Refusal::BadToken));
    }

    #[test]
    fn forwarded_requests_are_refused_even_with_the_token() {
        let expected = token(Some("tok"), None);
        let headers = [
            (TOKEN_HEADER, b"tok".as_slice()),
            ("X-Forwarded-For", b"10.0.0.1".as_slice()),
        ];
        assert_eq!(expected.check(headers), Err(Refusal::Forwarded));
    }

    #[test]
    fn container_token_is_the_fallback_and_empty_session_token_is_skipped() {
        let expected = token(Some(""), Some("snap"));
        assert!(expected.is_configured());
        assert_eq!(expected.check([(TOKEN_HEADER, b"snap".as_slice())]), Ok(()));
        assert_eq!(
            expected.check([(TOKEN_HEADER, b"".as_slice())]),
            Err(Refusal::BadToken)
        );
    }

    #[test]
    fn without_any_token_everything_is_refused() {
        let expected = token(None, None);
        assert!(!expected.is_configured());
        assert_eq!(
            expected.check([(TOKEN_HEADER, b"".as_slice())]),
            Err(Refusal::BadToken)
        );
    }
}
