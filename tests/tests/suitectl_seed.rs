//! `suitectl seed` against moto: a second run changes nothing; a run given a deployed stack's
//! outputs (pool and client ids, secret ARNs) fills that pool and those secrets instead of
//! creating its own, and never creates a secret it was given by ARN.

use std::collections::BTreeMap;

use anyhow::Result;
use suite_tests::{local_stack_outputs, run_dir, Moto};
use suitectl::seed::{seed, Clients};
use suitectl::stack::{keys, Names, StackOutputs};
use suitectl::values::SeedValues;

#[test]
fn seed_is_idempotent_and_fills_a_deployed_stacks_resources() -> Result<()> {
    let dir = run_dir("suitectl-seed")?;
    let moto = Moto::start(&dir)?;
    let local = local_stack_outputs()?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
            let clients = Clients::new(&config);
            let values = SeedValues::lab();
            let quiet = |_: &str| {};
            let first = seed(&clients, &Names::from_outputs(&local)?, &values, &quiet).await?;

            // The same resources as a deployed stack reports them: secrets by ARN, the pool and
            // client by id.
            let secrets = aws_sdk_secretsmanager::Client::new(&config);
            let mut deployed: BTreeMap<String, String> = BTreeMap::new();
            for key in [
                keys::APP_PARAMETER_PATH,
                keys::ORDERS_TABLE_NAME,
                keys::USER_NAME_KEY_ALIAS,
                keys::FIELD_KEY_ALIAS,
                keys::LOAD_TEST_USER_SECRET_PREFIX,
            ] {
                deployed.insert(key.into(), local.get(key)?.into());
            }
            for key in [
                keys::DB_SECRET_ID,
                keys::MASKING_KEY_SECRET_ID,
                keys::CURSOR_KEY_SECRET_ID,
                keys::WORKER_KEY_SECRET_ID,
            ] {
                let described = secrets
                    .describe_secret()
                    .secret_id(local.get(key)?)
                    .send()
                    .await?;
                deployed.insert(key.into(), described.arn().unwrap_or_default().into());
            }
            deployed.insert(keys::USER_POOL_ID.into(), first.user_pool_id.clone());
            deployed.insert(
                keys::USER_POOL_CLIENT_ID.into(),
                first.app_client_id.clone(),
            );
            let names =
                Names::from_outputs(&StackOutputs::from_values("stack s", deployed.clone()))?;

            let lines = std::sync::Mutex::new(Vec::new());
            let record = |line: &str| {
                lines
                    .lock()
                    .map(|mut l| l.push(line.to_owned()))
                    .unwrap_or(())
            };
            let second = seed(&clients, &names, &values, &record).await?;
            assert_eq!(second.user_pool_id, first.user_pool_id);
            assert_eq!(second.app_client_id, first.app_client_id);
            assert_eq!(second.kms_key_id, first.kms_key_id);
            assert_eq!(second.field_key_arn, first.field_key_arn);
            assert_ne!(second.field_key_arn, second.kms_key_arn, "a key of its own");
            // Every key secret, loadtest's worker key too, is the one the stack's outputs name, kept
            // as generated (the lines below say `unchanged`).
            assert_eq!(
                Some(&second.worker_key_secret_id),
                deployed.get(keys::WORKER_KEY_SECRET_ID)
            );
            let lines = lines.into_inner().unwrap_or_default();
            assert!(
                lines
                    .iter()
                    .all(|l| l.ends_with("unchanged") || l.contains("orders written")),
                "{lines:#?}"
            );

            let mut missing = deployed.clone();
            missing.insert(keys::USER_POOL_ID.into(), "us-east-1_doesnotexist".into());
            let names = Names::from_outputs(&StackOutputs::from_values("stack s", missing))?;
            let error = seed(&clients, &names, &values, &quiet).await.unwrap_err();
            assert!(
                error.to_string().contains("us-east-1_doesnotexist"),
                "{error}"
            );

            // A secret given by ARN that does not exist is an error, not a secret named by an ARN.
            let mut gone = deployed;
            gone.insert(
                keys::CURSOR_KEY_SECRET_ID.into(),
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf".into(),
            );
            let names = Names::from_outputs(&StackOutputs::from_values("stack s", gone))?;
            let error = seed(&clients, &names, &values, &quiet).await.unwrap_err();
            assert!(
                error
                    .to_string()
                    .contains("is the stack deployed completely"),
                "{error}"
            );
            Ok(())
        })
}
