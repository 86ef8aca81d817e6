//! The scale probe's parts: Zipf-distributed populations of users, the events each function
//! gets from them, the LRU reference the tenant-session cache is held to, and the quota model
//! that turns per-sandbox call counts into account-wide ceilings.
//!
//! The probe itself (`src/bin/scaleprobe.rs`) feeds these streams to one release sandbox per
//! function through the Runtime API harness and counts AWS calls in moto's recorder.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::json;

/// Tenants the probe's users belong to: user `r` is in tenant `r % TENANTS`.
pub const TENANTS: usize = 20;

/// `requests` user ranks (0-based) drawn from `users` with Zipf(`s`) popularity (rank 0 the most
/// active), from a fixed seed, so every run replays the same stream.
pub fn zipf_ranks(users: usize, s: f64, requests: usize, seed: u64) -> Vec<usize> {
    if users == 0 {
        return Vec::new();
    }
    let mut cumulative = Vec::with_capacity(users);
    let mut sum = 0.0;
    for rank in 1..=users {
        sum += 1.0 / (rank as f64).powf(s);
        cumulative.push(sum);
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..requests)
        .map(|_| {
            let draw = rng.f64() * sum;
            cumulative.partition_point(|c| *c < draw).min(users - 1)
        })
        .collect()
}

/// The tenant and user ids of rank `rank`.
pub fn identity(rank: usize) -> (String, String) {
    (
        format!("tenant-{:02}", rank % TENANTS),
        format!("user-{rank:06}"),
    )
}

/// The direct event each function gets from user `rank`: multi-tenant-query that user's orders,
/// secure-config one of its three actions, data-masking that user's record with a keyed-token
/// rule (the token key is a secret).
pub fn event_for(function: &str, rank: usize) -> Option<String> {
    let (tenant, user) = identity(rank);
    let event = match function {
        "multi-tenant-query" => json!({"tenantId": tenant, "userId": user}),
        "secure-config" => {
            let action = ["get_db_credentials", "get_app_config", "get_feature_flags"][rank % 3];
            json!({ "action": action })
        }
        "data-masking" => json!({
            "records": [{
                "id": user,
                "tenant": tenant,
                "email": format!("{user}@example.com"),
                "phone": format!("+1-415-555-{:04}", rank % 10_000),
            }],
            "rules": {"$[*].id": "token", "$[*].email": "email"}
        }),
        _ => return None,
    };
    Some(event.to_string())
}

/// The misses an LRU cache of `capacity` makes on `keys`: the reference the tenant-session cache
/// must not exceed. Written independently of the cache (a recency queue, not the `lru` crate it
/// uses) so that it checks the cache instead of repeating it.
pub fn lru_misses<K: std::hash::Hash + Eq + Clone>(capacity: usize, keys: &[K]) -> usize {
    if capacity == 0 {
        return keys.len();
    }
    // Each key's last use; the queue holds (use, key) pairs, stale ones skipped when popped.
    let mut last_use: HashMap<K, usize> = HashMap::new();
    let mut queue: VecDeque<(usize, K)> = VecDeque::new();
    let mut misses = 0;
    for (now, key) in keys.iter().enumerate() {
        if last_use.insert(key.clone(), now).is_none() {
            misses += 1;
            if last_use.len() > capacity {
                while let Some((used, oldest)) = queue.pop_front() {
                    if last_use.get(&oldest) == Some(&used) {
                        last_use.remove(&oldest);
                        break;
                    }
                }
            }
        }
        queue.push_back((now, key.clone()));
    }
    misses
}

/// Calls per operation, sorted by name.
pub fn count(operations: &[String]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for operation in operations {
        *counts.entry(operation.clone()).or_insert(0) += 1;
    }
    counts
}

/// A quota the suite's calls meet, as AWS documents it per account and Region.
#[derive(Debug, Clone, Copy)]
pub struct Quota {
    pub operation_prefix: &'static str,
    pub name: &'static str,
    /// Requests per second, when AWS publishes one.
    pub per_second: Option<f64>,
    /// How often a warm sandbox reads again what it read first: the cache TTL or the session
    /// length less its early refresh; `None` for calls made per request.
    pub refresh_seconds: Option<f64>,
    pub what_raises_it: &'static str,
}

/// The quotas of the operations the functions call (as moto's recorder names them).
pub const QUOTAS: [Quota; 4] = [
    Quota {
        operation_prefix: "secretsmanager.GetSecretValue",
        name: "Secrets Manager GetSecretValue",
        per_second: Some(10_000.0),
        refresh_seconds: Some(300.0),
        what_raises_it: "fewer secrets per cold start; a longer CACHE_TTL_SECONDS",
    },
    Quota {
        operation_prefix: "AmazonSSM.GetParameter",
        name: "Parameter Store GetParameter, GetParameters and GetParametersByPath (shared)",
        per_second: Some(40.0),
        refresh_seconds: Some(300.0),
        what_raises_it: "higher throughput (a service setting, billed); fewer parameters per cold start; a longer CACHE_TTL_SECONDS",
    },
    Quota {
        operation_prefix: "AssumeRole",
        name: "STS AssumeRole",
        per_second: None,
        refresh_seconds: Some(3_600.0 - 120.0),
        what_raises_it: "TENANT_SESSION_CACHE_SIZE above the active users of a sandbox; TenantSessionScope=tenant; a longer TENANT_SESSION_SECONDS",
    },
    Quota {
        operation_prefix: "DynamoDB_20120810.Query",
        name: "DynamoDB Query (on-demand table: per-partition throughput, no request quota)",
        per_second: None,
        refresh_seconds: None,
        what_raises_it: "nothing to raise: one Query per request is the function's work",
    },
];

/// How fast Lambda adds sandboxes to one function: 1,000 concurrent executions every 10 s.
pub const NEW_SANDBOXES_PER_SECOND: f64 = 100.0;

/// The quota an operation counts against, if the suite knows it.
pub fn quota_of(operation: &str) -> Option<&'static Quota> {
    QUOTAS
        .iter()
        .find(|quota| operation.starts_with(quota.operation_prefix))
}

/// Where a quota is met, from one function's calls against it: `first` calls per new sandbox
/// (its first reads), `steady_per_1000` calls per 1,000 requests of a warm sandbox.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ceiling {
    /// New sandboxes per second (a burst of cold starts): `quota / first`.
    pub new_sandboxes_per_second: Option<f64>,
    /// Warm sandboxes re-reading every `refresh_seconds`: `quota × refresh / first`.
    pub concurrency: Option<f64>,
    /// Requests per second across warm sandboxes: `quota / (steady_per_1000 / 1000)`.
    pub requests_per_second: Option<f64>,
}

pub fn ceiling(quota: &Quota, first: f64, steady_per_1000: f64) -> Ceiling {
    let Some(per_second) = quota.per_second else {
        return Ceiling {
            new_sandboxes_per_second: None,
            concurrency: None,
            requests_per_second: None,
        };
    };
    let divide = |per: f64| (per > 0.0).then(|| per_second / per);
    Ceiling {
        new_sandboxes_per_second: divide(first),
        concurrency: quota
            .refresh_seconds
            .and_then(|refresh| divide(first / refresh)),
        requests_per_second: divide(steady_per_1000 / 1000.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_favours_low_ranks_and_replays() {
        let ranks = zipf_ranks(1_000, 1.0, 20_000, 7);
        assert_eq!(ranks, zipf_ranks(1_000, 1.0, 20_000, 7));
        assert!(ranks.iter().all(|r| *r < 1_000));
        let top = ranks.iter().filter(|r| **r == 0).count();
        let tenth = ranks.iter().filter(|r| **r == 9).count();
        // Zipf(1): rank 1 is ten times as likely as rank 10 (1/H(1000) ≈ 13% of draws).
        assert!(top > 2_000 && top < 3_300, "{top}");
        assert!(tenth * 6 < top && tenth * 15 > top, "{top} vs {tenth}");
        assert!(zipf_ranks(0, 1.0, 10, 1).is_empty());
    }

    #[test]
    fn lru_model_counts_misses() {
        // Round-robin over 3 keys: an LRU of 2 misses every time, of 3 once per key.
        let keys: Vec<u32> = [1, 2, 3].iter().cycle().take(9).copied().collect();
        assert_eq!(lru_misses(2, &keys), 9);
        assert_eq!(lru_misses(3, &keys), 3);
        // Recency, not insertion order: 1 is used again before 3 arrives, so 2 is evicted.
        assert_eq!(lru_misses(2, &[1, 2, 1, 3, 1, 2]), 4);
        assert_eq!(lru_misses(0, &[1, 1]), 2);
    }

    #[test]
    fn events_are_the_functions_shapes() {
        assert_eq!(
            event_for("multi-tenant-query", 21).as_deref(),
            Some(r#"{"tenantId":"tenant-01","userId":"user-000021"}"#)
        );
        assert!(event_for("secure-config", 2).is_some_and(|e| e.contains("get_feature_flags")));
        assert!(event_for("data-masking", 5).is_some_and(|e| e.contains("user-000005")));
        assert!(event_for("loadtest", 1).is_none());
    }

    #[test]
    fn ceilings_divide_the_quota() {
        let parameter_store = quota_of("AmazonSSM.GetParameters").unwrap();
        // The README's figures: 2 calls per new sandbox meet 40/s at 20 sandboxes/s, and at
        // 6,000 warm sandboxes refreshing every 300 s.
        let c = ceiling(parameter_store, 2.0, 2.0);
        assert_eq!(c.new_sandboxes_per_second, Some(20.0));
        assert_eq!(c.concurrency, Some(6_000.0));
        assert_eq!(c.requests_per_second, Some(20_000.0));
        assert_eq!(ceiling(parameter_store, 0.0, 0.0).requests_per_second, None);
        let sts = quota_of("AssumeRole").unwrap();
        assert_eq!(ceiling(sts, 1.0, 1.0).new_sandboxes_per_second, None);
    }
}
