//! Who is asking, from the one place each invocation form can prove it.
//!
//! - Direct invocation (a trusted IAM caller): `tenantId` and `userId` in the event.
//! - API Gateway with a JWT authorizer: the authorizer's verified claims (`custom:tenantId`,
//!   `cognito:username` by default).
//! - No authorizer (function URL): the `Authorization: Bearer` ID token, verified here.
//!
//! Under the HTTP forms, a tenant or user named anywhere else in the request (query string,
//! `/tenants/<id>` or `/users/<id>` in the path, the body) must agree with the proven one, or
//! the request is refused with 403: it is an attempt to act as someone else.

use secure_lambda::aws::{AwsFailure, Dependency, FailureKind};
use secure_lambda::envelope::HttpRequest;
use secure_lambda::idtoken::{IdTokenVerifier, JwksSource, TokenError};
use secure_lambda::tenant::{Identity, InvalidId, TenantId, UserId};
use secure_lambda::ApiError;
use serde_json::{Map, Value};

/// How the identity was established, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    DirectInvocation,
    Authorizer,
    BearerToken,
}

impl Proof {
    pub fn as_str(self) -> &'static str {
        match self {
            Proof::DirectInvocation => "direct-invocation",
            Proof::Authorizer => "jwt-authorizer",
            Proof::BearerToken => "bearer-token",
        }
    }
}

fn bad_id(error: InvalidId) -> ApiError {
    ApiError::bad_request("InvalidIdentifier", error.to_string()).with_field(error.field)
}

/// The identity a direct invocation names.
pub fn from_direct(tenant_id: &str, user_id: &str) -> Result<Identity, ApiError> {
    let tenant = TenantId::parse(tenant_id).map_err(bad_id)?;
    let user = UserId::parse(user_id).map_err(bad_id)?;
    Ok(Identity::new(tenant, user))
}

/// The identity an HTTP request proves, checked against every other place it names one.
pub async fn from_http<J: JwksSource>(
    request: &HttpRequest,
    body: &Map<String, Value>,
    verifier: Option<&IdTokenVerifier<J>>,
    tenant_claim: &str,
    user_claim: &str,
) -> Result<(Identity, Proof), ApiError> {
    let (tenant, user, proof) = match &request.jwt_claims {
        Some(claims) => {
            let claim = |name: &str| {
                claims.get(name).and_then(Value::as_str).ok_or_else(|| {
                    ApiError::new(
                        403,
                        "MissingIdentityClaim",
                        format!("the token has no `{name}` claim"),
                    )
                })
            };
            (
                claim(tenant_claim)?.to_owned(),
                claim(user_claim)?.to_owned(),
                Proof::Authorizer,
            )
        }
        None => {
            let verifier = verifier.ok_or_else(|| {
                ApiError::new(
                    401,
                    "Unauthorized",
                    "no authorizer ran and bearer tokens are not configured (USER_POOL_ID, APP_CLIENT_ID)",
                )
            })?;
            let token = bearer_token(request).ok_or_else(|| unauthorized(&TokenError::Missing))?;
            let verified = verifier.verify(token).await.map_err(|e| {
                tracing::warn!(reason = %e, "bearer token refused");
                unauthorized(&e)
            })?;
            (verified.tenant, verified.user, Proof::BearerToken)
        }
    };
    // A claim that is not a valid id cannot be a key: refuse rather than escape.
    let invalid =
        |e: InvalidId| ApiError::new(403, "InvalidIdentity", e.to_string()).with_field(e.field);
    let identity = Identity::new(
        TenantId::parse(&tenant).map_err(invalid)?,
        UserId::parse(&user).map_err(invalid)?,
    );
    check_requested(request, body, &identity)?;
    Ok((identity, proof))
}

/// A refused token is 401; a key set that could not be fetched is Cognito failing, not the
/// caller, and answers as every dependency failure does (503, or 504 when it timed out).
fn unauthorized(error: &TokenError) -> ApiError {
    match error {
        TokenError::KeysUnavailable(failure) => {
            let mut api = ApiError::dependency(
                Dependency::Cognito,
                &AwsFailure {
                    kind: FailureKind::Transient(failure.kind),
                    code: None,
                    detail: failure.detail.clone(),
                },
            );
            api.message = format!("the token could not be verified now: {}", api.message);
            api
        }
        other => ApiError::new(401, "Unauthorized", other.to_string()),
    }
}

fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = request.headers.get("authorization")?;
    let (scheme, token) = value.trim().split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

/// Every tenant or user the request names besides its proof, with where it was found.
fn requested<'a>(
    request: &'a HttpRequest,
    body: &'a Map<String, Value>,
) -> Vec<(&'static str, &'static str, &'a str)> {
    let mut found = Vec::new();
    for (name, field) in [("tenantId", "tenant"), ("userId", "user")] {
        if let Some(value) = request.query.get(name) {
            found.push((field, "query", value.as_str()));
        }
        if let Some(value) = body.get(name) {
            found.push((field, "body", value.as_str().unwrap_or("<not a string>")));
        }
    }
    let segments: Vec<&str> = request.path.split('/').filter(|s| !s.is_empty()).collect();
    for pair in segments.windows(2) {
        match pair[0] {
            "tenants" | "tenant" => found.push(("tenant", "path", pair[1])),
            "users" | "user" => found.push(("user", "path", pair[1])),
            _ => {}
        }
    }
    found
}

fn check_requested(
    request: &HttpRequest,
    body: &Map<String, Value>,
    identity: &Identity,
) -> Result<(), ApiError> {
    for (field, place, value) in requested(request, body) {
        let proven = match field {
            "tenant" => identity.tenant.as_str(),
            _ => identity.user.as_str(),
        };
        if value != proven {
            tracing::warn!(
                field,
                place,
                "request names another tenant or user than its token"
            );
            return Err(ApiError::new(
                403,
                "IdentityMismatch",
                format!("the {field} in the {place} is not the one the token proves"),
            )
            .with_field(format!("{place}.{field}Id")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn direct_identities_are_validated() {
        let ok = from_direct("tenant-a", "user-001").unwrap();
        assert_eq!(ok.partition_key(), "TENANT#tenant-a#USER#user-001");
        for (tenant, user, field) in [
            ("tenant-a#USER#user-001", "user-001", "tenantId"),
            ("*", "user-001", "tenantId"),
            ("tenant-a", "", "userId"),
        ] {
            let error = from_direct(tenant, user).unwrap_err();
            assert_eq!(
                (error.status, error.code.as_str(), error.field.as_deref()),
                (400, "InvalidIdentifier", Some(field)),
                "{tenant} {user}"
            );
        }
    }

    /// A key set that cannot be fetched is Cognito failing: 503 (504 when it timed out) naming
    /// Cognito, never 401 (which tells a client to sign in again) and never the fetch's detail.
    #[test]
    fn an_unfetchable_key_set_is_a_dependency_failure() {
        use secure_lambda::aws::Transient;
        use secure_lambda::idtoken::JwksError;
        for (kind, status, code) in [
            (Transient::ServerError, 503, "DependencyUnavailable"),
            (Transient::Throttled, 503, "DependencyUnavailable"),
            (Transient::Network, 503, "DependencyUnavailable"),
            (Transient::Timeout, 504, "DependencyTimeout"),
        ] {
            let error = unauthorized(&TokenError::KeysUnavailable(JwksError::new(
                kind,
                "GET failed: 10.0.0.7:443 refused",
            )));
            assert_eq!((error.status, error.code.as_str()), (status, code));
            assert!(error.message.contains("Cognito"), "{}", error.message);
            assert!(!error.message.contains("10.0.0.7"), "{}", error.message);
        }
        let error = unauthorized(&TokenError::UnknownKey);
        assert_eq!((error.status, error.code.as_str()), (401, "Unauthorized"));
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut request = HttpRequest::default();
        assert_eq!(bearer_token(&request), None);
        request
            .headers
            .insert("authorization".into(), "Bearer abc.def.ghi".into());
        assert_eq!(bearer_token(&request), Some("abc.def.ghi"));
        request
            .headers
            .insert("authorization".into(), "Basic dXNlcjpwdw==".into());
        assert_eq!(bearer_token(&request), None);
    }

    #[test]
    fn other_identities_named_in_the_request_are_found() {
        let mut request = HttpRequest {
            path: "/tenants/tenant-b/users/user-002/orders".into(),
            ..HttpRequest::default()
        };
        request.query.insert("tenantId".into(), "tenant-c".into());
        let body = json!({"userId": "user-003"});
        let found = requested(&request, body.as_object().unwrap());
        assert_eq!(
            found,
            vec![
                ("tenant", "query", "tenant-c"),
                ("user", "body", "user-003"),
                ("tenant", "path", "tenant-b"),
                ("user", "path", "user-002"),
            ]
        );
    }
}
