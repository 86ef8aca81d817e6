//! `multi-tenant-query`: one tenant user's orders. The tenant comes from a verified identity
//! (direct IAM invocation, JWT authorizer claims, or a bearer ID token checked here), keys are
//! built from allow-listed ids only, cursors are sealed, and every query runs with credentials
//! that IAM limits to the caller's partition. `main` only wires; see [`handler`].

// The runtime's future nests the SDK's deep futures; the default limit is too low to lay it out.
#![recursion_limit = "256"]

mod config;
mod dynamo;
mod handler;
mod identity;
mod orders;

use secure_lambda::idtoken::{HttpJwks, IdTokenVerifier, TokenPolicy};
use secure_lambda::runtime::Error;
use secure_lambda::secrets::AwsSecretStore;
use secure_lambda::{aws, logging, runtime};

// One thread: Lambda hands a function one event at a time, and a runtime without worker threads
// starts sooner (see data-masking's main for the figures).
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    logging::init_logging();
    runtime::start(async {
        let config = config::Config::from_env()?;
        let sdk_config = aws::load_sdk_config().await?;
        let store = AwsSecretStore::from_sdk_config(&sdk_config, config.cache.clone());
        let orders = dynamo::TenantScopedOrders::new(
            &sdk_config,
            config.tenant_role_arn.clone(),
            config.table_name.clone(),
            config.sessions,
        );
        let verifier = match &config.tokens {
            None => None,
            Some(tokens) => {
                let endpoint = std::env::var("AWS_ENDPOINT_URL").ok();
                let url = tokens.jwks_url.clone().unwrap_or_else(|| {
                    HttpJwks::cognito_url(&tokens.region, &tokens.user_pool_id, endpoint.as_deref())
                });
                let policy = TokenPolicy {
                    issuer: TokenPolicy::cognito_issuer(&tokens.region, &tokens.user_pool_id),
                    audience: tokens.app_client_id.clone(),
                    leeway: tokens.leeway,
                    tenant_claim: config.tenant_claim.clone(),
                    user_claim: config.user_claim.clone(),
                };
                Some(IdTokenVerifier::new(policy, HttpJwks::new(url)?))
            }
        };
        Ok::<_, Error>(handler::MultiTenantQuery::new(
            orders, verifier, store, config,
        ))
    })
    .await
}
