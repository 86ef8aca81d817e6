//! `suitectl seed` against moto: a second run changes nothing, and a run told to use an existing
//! user pool and app client (a deployed stack's) fills those instead of creating its own.

use anyhow::Result;
use suite_tests::{run_dir, Moto};
use suitectl::seed::{seed, seed_into, Clients, Existing};
use suitectl::values::SeedValues;

#[test]
fn seed_is_idempotent_and_can_fill_an_existing_pool() -> Result<()> {
    let dir = run_dir("suitectl-seed")?;
    let moto = Moto::start(&dir)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let config = suitectl::endpoint::sdk_config(Some(&moto.endpoint), None).await;
            let clients = Clients::new(&config);
            let values = SeedValues::lab();
            let quiet = |_: &str| {};
            let first = seed(&clients, &values, &quiet).await?;

            let lines = std::sync::Mutex::new(Vec::new());
            let record = |line: &str| {
                lines
                    .lock()
                    .map(|mut l| l.push(line.to_owned()))
                    .unwrap_or(())
            };
            let existing = Existing {
                user_pool_id: Some(first.user_pool_id.clone()),
                app_client_id: Some(first.app_client_id.clone()),
            };
            let second = seed_into(&clients, &values, &existing, &record).await?;
            assert_eq!(second, first);
            let lines = lines.into_inner().unwrap_or_default();
            assert!(
                lines
                    .iter()
                    .all(|l| l.ends_with("unchanged") || l.contains("orders written")),
                "{lines:#?}"
            );

            let missing = Existing {
                user_pool_id: Some("us-east-1_doesnotexist".into()),
                app_client_id: None,
            };
            let error = seed_into(&clients, &values, &missing, &quiet)
                .await
                .unwrap_err();
            assert!(
                error.to_string().contains("us-east-1_doesnotexist"),
                "{error}"
            );
            Ok(())
        })
}
