//! The secret store's AWS adapters against moto over real HTTP: version stages, rotation pickup,
//! batching and paging as AWS does them, error classification, and stale values served when the
//! endpoint goes away.

use std::time::Duration;

use anyhow::Result;
use secrecy::ExposeSecret;
use secure_lambda::secrets::{
    AwsSecretStore, CachePolicy, ReadOptions, SecretError, SecretRequest, Transient, AWS_PREVIOUS,
};
use suite_tests::fault_proxy::{Fault, FaultProxy};
use suite_tests::{free_port, run_dir, Moto};

async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    suitectl::endpoint::sdk_config(Some(endpoint), None).await
}

fn short_ttl() -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(1),
        ..CachePolicy::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_versions_and_rotation() -> Result<()> {
    let moto = Moto::start(&run_dir("it-secrets")?)?;
    let config = sdk_config(&moto.endpoint).await;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    client
        .create_secret()
        .name("it/db")
        .secret_string(r#"{"password":"first-value"}"#)
        .send()
        .await?;
    let store = AwsSecretStore::from_sdk_config(&config, short_ttl());

    let first = store.secret("it/db").await?;
    assert_eq!(
        store
            .secret_field("it/db", "password")
            .await?
            .expose_secret(),
        "first-value"
    );
    assert_eq!(
        store.counters().aws_calls,
        1,
        "the second read is a cache hit"
    );

    client
        .put_secret_value()
        .secret_id("it/db")
        .secret_string(r#"{"password":"second-value"}"#)
        .send()
        .await?;
    assert_eq!(
        store
            .secret_field("it/db", "password")
            .await?
            .expose_secret(),
        "first-value"
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let second = store.secret("it/db").await?;
    assert!(second.value().expose_secret().contains("second-value"));
    assert_ne!(first.version_id, second.version_id);
    assert_eq!(store.counters().rotations_seen, 1);

    let previous = store
        .secret_with(
            &SecretRequest::stage("it/db", AWS_PREVIOUS),
            ReadOptions::default(),
        )
        .await?;
    assert!(previous.value().expose_secret().contains("first-value"));
    let by_id = store
        .secret_with(
            &SecretRequest::version_id("it/db", first.version_id.clone().unwrap_or_default()),
            ReadOptions::default(),
        )
        .await?;
    assert!(by_id.value().expose_secret().contains("first-value"));

    let forced = store
        .secret_with(
            &SecretRequest::current("it/db"),
            ReadOptions::force_refresh(),
        )
        .await?;
    assert_eq!(forced.version_id, second.version_id);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_batch_by_ten_and_path_reads_every_page() -> Result<()> {
    let moto = Moto::start(&run_dir("it-parameters")?)?;
    let config = sdk_config(&moto.endpoint).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let mut names = Vec::new();
    for i in 0..25 {
        let name = format!(
            "/it/params/{}/p{i:02}",
            if i % 2 == 0 { "even" } else { "odd" }
        );
        let kind = if i == 3 {
            aws_sdk_ssm::types::ParameterType::SecureString
        } else {
            aws_sdk_ssm::types::ParameterType::String
        };
        // Overwrite: moto's first SSM call can take longer than the suite's 3 s attempt timeout
        // on a busy machine, and the SDK's retry of a create that did succeed would fail.
        ssm.put_parameter()
            .name(&name)
            .value(format!("v{i}"))
            .r#type(kind)
            .overwrite(true)
            .send()
            .await?;
        names.push(name);
    }
    let store = AwsSecretStore::from_sdk_config(&config, CachePolicy::default());

    let mut wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    wanted.push("/it/params/missing");
    moto.start_recording()?;
    let results = store.parameters(&wanted).await;
    let calls = moto.stop_recording()?;
    assert_eq!(
        calls,
        vec!["AmazonSSM.GetParameters"; 3],
        "26 names, 10 per call"
    );
    for (i, (name, result)) in results.iter().take(25).enumerate() {
        assert_eq!(name, &names[i]);
        assert_eq!(
            result
                .as_ref()
                .map(|p| p.value().expose_secret().to_owned())
                .ok(),
            Some(format!("v{i}"))
        );
    }
    assert!(matches!(&results[25].1, Err(SecretError::NotFound { .. })));

    moto.start_recording()?;
    let all = store.parameters_by_path("/it/params", true).await?;
    let calls = moto.stop_recording()?;
    assert_eq!(all.len(), 25);
    assert_eq!(
        calls,
        vec!["AmazonSSM.GetParametersByPath"; 3],
        "25 items, 10 per page"
    );
    let odd_only = store.parameters_by_path("/it/params", false).await?;
    assert!(
        odd_only.is_empty(),
        "non-recursive read of a folder of folders"
    );
    Ok(())
}

/// A burst of cold starts meets Parameter Store's quota: a read throttled past the SDK's three
/// attempts is retried with jittered backoff and succeeds once the throttling stops, one
/// `GetParameters` per attempt (the batch is not split or repeated per name).
#[tokio::test(flavor = "multi_thread")]
async fn throttled_parameter_reads_are_retried_past_the_sdks_attempts() -> Result<()> {
    let moto = Moto::start(&run_dir("it-throttle")?)?;
    let config = sdk_config(&moto.endpoint).await;
    let ssm = aws_sdk_ssm::Client::new(&config);
    let names = ["/it/throttle/a", "/it/throttle/b"];
    for name in names {
        ssm.put_parameter()
            .name(name)
            .value("v")
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await?;
    }
    let proxy = FaultProxy::start(&moto.endpoint)?;
    proxy.set_for("GetParameters", Fault::error(400, "ThrottlingException"));
    let store =
        AwsSecretStore::from_sdk_config(&sdk_config(&proxy.endpoint).await, CachePolicy::default());
    let read = tokio::spawn(async move { store.parameters(&names).await });

    // The SDK alone stops after 3 attempts: a 4th throttled request is this suite's retry.
    let mut seen = Vec::new();
    let waited = std::time::Instant::now();
    while seen.len() < 4 && waited.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(20)).await;
        seen.extend(proxy.take_seen());
    }
    proxy.set(Fault::Pass);
    let results = read.await?;
    seen.extend(proxy.take_seen());

    assert!(
        results.iter().all(|(_, r)| r.is_ok()),
        "{:?}",
        results
            .iter()
            .map(|(n, r)| (n, r.as_ref().err()))
            .collect::<Vec<_>>()
    );
    let throttled = seen.iter().filter(|(_, f)| *f != Fault::Pass).count();
    assert!(throttled >= 4, "{seen:?}");
    assert!(
        seen.iter().all(|(op, _)| op.contains("GetParameters")),
        "{seen:?}"
    );
    assert_eq!(
        seen.iter().filter(|(_, f)| *f == Fault::Pass).count(),
        1,
        "one successful batch: {seen:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_classified_without_values() -> Result<()> {
    let moto = Moto::start(&run_dir("it-errors")?)?;
    let store =
        AwsSecretStore::from_sdk_config(&sdk_config(&moto.endpoint).await, CachePolicy::default());
    let missing = store.secret("it/none").await.err();
    assert!(
        matches!(missing, Some(SecretError::NotFound { .. })),
        "{missing:?}"
    );
    let missing = store.parameter("/it/none").await.err();
    assert!(
        matches!(missing, Some(SecretError::NotFound { .. })),
        "{missing:?}"
    );

    // Nothing listens on this port: a network failure, reported as transient.
    let closed = format!("http://127.0.0.1:{}", free_port()?);
    let unreachable =
        AwsSecretStore::from_sdk_config(&sdk_config(&closed).await, CachePolicy::default());
    match unreachable.secret("it/db").await {
        Err(SecretError::Unavailable { kind, .. }) => {
            assert!(
                matches!(kind, Transient::Network | Transient::Timeout),
                "{kind:?}"
            );
        }
        other => panic!("expected a transient failure, got {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_value_is_served_when_the_endpoint_goes_away() -> Result<()> {
    let moto = Moto::start(&run_dir("it-stale")?)?;
    let config = sdk_config(&moto.endpoint).await;
    aws_sdk_secretsmanager::Client::new(&config)
        .create_secret()
        .name("it/db")
        .secret_string(r#"{"password":"kept-through-outage"}"#)
        .send()
        .await?;
    let store = AwsSecretStore::from_sdk_config(&config, short_ttl());
    store.secret("it/db").await?;

    drop(moto);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let during_outage = store.secret_field("it/db", "password").await?;
    assert_eq!(during_outage.expose_secret(), "kept-through-outage");
    let counters = store.counters();
    assert_eq!((counters.stale_served, counters.aws_calls), (1, 2));

    // Inside the backoff window the store does not even try.
    store.secret("it/db").await?;
    assert_eq!(store.counters().aws_calls, 2);
    Ok(())
}
