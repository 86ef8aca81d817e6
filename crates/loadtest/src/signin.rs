//! Signing users in to Cognito (`USER_PASSWORD_AUTH`), passwords read from Secrets Manager.
//!
//! Tokens are cached per user and renewed a minute before they expire; sign-ins are spaced by a
//! minimum interval so that a run does not load-test Cognito; each sign-in's latency goes into
//! its own histogram. `NEW_PASSWORD_REQUIRED`, a wrong password or a missing secret is an error
//! for that user only: the run goes on with the others. Passwords and tokens never reach a log;
//! user names reach logs masked (see [`crate::names`]), and errors carry codes, not AWS's
//! messages or secret names, which can hold the user name.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_sdk_cognitoidentityprovider::types::{AuthFlowType, ChallengeNameType};
use hdrhistogram::Histogram;
use secrecy::{ExposeSecret, SecretString};
use secure_lambda::aws::classify;
use secure_lambda::secrets::{ParameterSource, SecretSource, SecretStore};
use secure_lambda::ApiError;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::names::UserNames;
use crate::stats::new_histogram;

/// Renew tokens this long before they expire.
const RENEW_BEFORE: Duration = Duration::from_secs(60);

/// Why a user could not sign in. Never holds the password, nor the user name: the details (which
/// may) go to the log, which masks the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    #[error("the user must set a new password first (NEW_PASSWORD_REQUIRED)")]
    NewPasswordRequired,
    #[error("Cognito asks for another challenge: {0}")]
    Challenge(String),
    #[error("wrong user name or password")]
    NotAuthorized,
    /// The error code of the read (e.g. `SecretNotFound`): the secret is named after the user.
    #[error("the password secret could not be read ({0})")]
    PasswordUnavailable(String),
    /// The AWS error code, or the kind of transport failure.
    #[error("sign-in failed ({0})")]
    Failed(String),
}

/// A signed-in user's ID token and when it expires.
#[derive(Clone)]
pub struct Session {
    pub id_token: SecretString,
    pub expires: Instant,
}

/// Cognito `InitiateAuth`.
pub trait IdentityProvider: Send + Sync {
    fn sign_in(
        &self,
        user: &str,
        password: &SecretString,
    ) -> impl Future<Output = Result<Session, SignInError>> + Send;
}

/// [`IdentityProvider`] over the Cognito SDK.
pub struct Cognito {
    pub client: aws_sdk_cognitoidentityprovider::Client,
    pub client_id: String,
}

impl IdentityProvider for Cognito {
    async fn sign_in(&self, user: &str, password: &SecretString) -> Result<Session, SignInError> {
        let output = self
            .client
            .initiate_auth()
            .client_id(&self.client_id)
            .auth_flow(AuthFlowType::UserPasswordAuth)
            .auth_parameters("USERNAME", user)
            .auth_parameters("PASSWORD", password.expose_secret())
            .send()
            .await
            .map_err(|e| {
                let failure = classify(&e);
                tracing::warn!(
                    detail = failure.detail.as_str(),
                    "Cognito InitiateAuth failed"
                );
                match failure.code {
                    Some(code)
                        if code == "NotAuthorizedException" || code == "UserNotFoundException" =>
                    {
                        SignInError::NotAuthorized
                    }
                    // Without a code, the detail describes the transport failure only.
                    code => SignInError::Failed(code.unwrap_or(failure.detail)),
                }
            })?;
        if let Some(challenge) = output.challenge_name() {
            return Err(match challenge {
                ChallengeNameType::NewPasswordRequired => SignInError::NewPasswordRequired,
                other => SignInError::Challenge(other.as_str().to_owned()),
            });
        }
        let result = output
            .authentication_result()
            .ok_or_else(|| SignInError::Failed("no authentication result".into()))?;
        let id_token = result
            .id_token()
            .ok_or_else(|| SignInError::Failed("no ID token".into()))?;
        let lifetime = u64::try_from(result.expires_in()).unwrap_or(0).max(60);
        Ok(Session {
            id_token: SecretString::from(id_token.to_owned()),
            expires: Instant::now() + Duration::from_secs(lifetime),
        })
    }
}

/// Where passwords are: a secret per user, named `<prefix><user>`, JSON key `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordSecrets {
    pub prefix: String,
    pub key: String,
}

struct State {
    sessions: HashMap<String, Session>,
    last_sign_in: Option<Instant>,
    latency: Histogram<u64>,
    attempts: u64,
}

/// Sign-ins with caching, spacing and statistics.
pub struct SignIns<I, S, P> {
    provider: I,
    store: SecretStore<S, P>,
    passwords: PasswordSecrets,
    min_interval: Duration,
    names: UserNames,
    state: Mutex<State>,
}

impl<I: IdentityProvider, S: SecretSource, P: ParameterSource> SignIns<I, S, P> {
    pub fn new(
        provider: I,
        store: SecretStore<S, P>,
        passwords: PasswordSecrets,
        min_interval: Duration,
    ) -> Self {
        Self {
            provider,
            store,
            passwords,
            min_interval,
            names: UserNames::default(),
            state: Mutex::new(State {
                sessions: HashMap::new(),
                last_sign_in: None,
                latency: new_histogram(),
                attempts: 0,
            }),
        }
    }

    /// How user names appear in this module's log lines (masked by default).
    pub fn user_names(mut self, names: UserNames) -> Self {
        self.names = names;
        self
    }

    pub fn store(&self) -> &SecretStore<S, P> {
        &self.store
    }

    /// A valid ID token for `user`, signing in when there is none or it is about to expire.
    pub async fn token(&self, user: &str) -> Result<SecretString, SignInError> {
        let mut state = self.state.lock().await;
        if let Some(session) = state.sessions.get(user) {
            if session.expires > Instant::now() + RENEW_BEFORE {
                return Ok(session.id_token.clone());
            }
        }
        let secret_id = format!("{}{user}", self.passwords.prefix);
        let password = self
            .store
            .secret_field(&secret_id, &self.passwords.key)
            .await
            .map_err(|e| SignInError::PasswordUnavailable(ApiError::from(&e).code))?;
        if let Some(last) = state.last_sign_in {
            tokio::time::sleep_until(last + self.min_interval).await;
        }
        let started = Instant::now();
        state.last_sign_in = Some(started);
        state.attempts += 1;
        let result = self.provider.sign_in(user, &password).await;
        let micros = u64::try_from(started.elapsed().as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        state.latency.saturating_record(micros);
        let session = result?;
        tracing::info!(user = self.names.display(user).as_str(), "signed in");
        let token = session.id_token.clone();
        state.sessions.insert(user.to_owned(), session);
        Ok(token)
    }

    /// Sign-in attempts and their latency (ms), for the report.
    pub async fn summary(&self) -> serde_json::Value {
        let state = self.state.lock().await;
        let h = &state.latency;
        let ms = |micros: u64| (micros as f64 / 1000.0 * 1000.0).round() / 1000.0;
        serde_json::json!({
            "attempts": state.attempts,
            "latencyMs": if h.is_empty() { serde_json::Value::Null } else {
                serde_json::json!({"p50": ms(h.value_at_quantile(0.5)), "p99": ms(h.value_at_quantile(0.99)), "max": ms(h.max())})
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secure_lambda::secrets::memory::{MemoryParameters, MemorySecrets};
    use secure_lambda::secrets::CachePolicy;
    use std::sync::atomic::{AtomicU32, Ordering};

    struct FakeCognito {
        calls: AtomicU32,
    }

    impl IdentityProvider for FakeCognito {
        async fn sign_in(
            &self,
            user: &str,
            password: &SecretString,
        ) -> Result<Session, SignInError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            match (user, password.expose_secret()) {
                ("fresh", _) => Err(SignInError::NewPasswordRequired),
                (_, "lab_password") => Ok(Session {
                    id_token: SecretString::from(format!("token-of-{user}")),
                    expires: Instant::now() + Duration::from_secs(3600),
                }),
                _ => Err(SignInError::NotAuthorized),
            }
        }
    }

    fn sign_ins() -> SignIns<FakeCognito, MemorySecrets, MemoryParameters> {
        let secrets = MemorySecrets::default();
        secrets.put("student", r#"{"Password":"lab_password"}"#);
        secrets.put("mallory", r#"{"Password":"guess"}"#);
        secrets.put("fresh", r#"{"Password":"lab_password"}"#);
        SignIns::new(
            FakeCognito {
                calls: AtomicU32::new(0),
            },
            SecretStore::new(secrets, MemoryParameters::default(), CachePolicy::default()),
            PasswordSecrets {
                prefix: String::new(),
                key: "Password".into(),
            },
            Duration::from_millis(200),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_cached_and_sign_ins_spaced() {
        let s = sign_ins();
        let started = Instant::now();
        assert_eq!(
            s.token("student").await.unwrap().expose_secret(),
            "token-of-student"
        );
        assert_eq!(
            s.token("student").await.unwrap().expose_secret(),
            "token-of-student"
        );
        assert_eq!(s.provider.calls.load(Ordering::SeqCst), 1);
        let _ = s.token("mallory").await;
        assert!(
            started.elapsed() >= Duration::from_millis(200),
            "the second sign-in waited"
        );
        assert_eq!(s.summary().await["attempts"], 2);
    }

    #[tokio::test(start_paused = true)]
    async fn per_user_errors_are_clear() {
        let s = sign_ins();
        assert_eq!(
            s.token("mallory").await.unwrap_err(),
            SignInError::NotAuthorized
        );
        assert_eq!(
            s.token("fresh").await.unwrap_err(),
            SignInError::NewPasswordRequired
        );
        let missing = s.token("nobody").await.unwrap_err();
        assert_eq!(
            missing,
            SignInError::PasswordUnavailable("SecretNotFound".into())
        );
        // The secret is named after the user: its name stays out of the error.
        assert!(!missing.to_string().contains("nobody"), "{missing}");
        assert!(!missing.to_string().contains("lab_password"));
    }
}
