//! Counters of the secret and parameter cache, readable by the function and published as
//! CloudWatch Embedded Metric Format.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Live counters, shared by every cache of one store.
#[derive(Debug, Default)]
pub struct CacheMetrics {
    hits: AtomicU64,
    misses: AtomicU64,
    stale_served: AtomicU64,
    negative_hits: AtomicU64,
    aws_calls: AtomicU64,
    rotations_seen: AtomicU64,
}

/// A point-in-time copy of [`CacheMetrics`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CacheCounters {
    /// Reads answered from a fresh cached value.
    pub hits: u64,
    /// Reads that had to go to AWS.
    pub misses: u64,
    /// Reads answered with an expired value because AWS was throttling, failing or slow.
    pub stale_served: u64,
    /// Reads answered "not found" from the short negative cache.
    pub negative_hits: u64,
    /// Calls made to Secrets Manager or Parameter Store.
    pub aws_calls: u64,
    /// Refreshes that found a new secret version (rotation).
    pub rotations_seen: u64,
}

impl CacheCounters {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &CacheCounters) -> CacheCounters {
        CacheCounters {
            hits: self.hits.saturating_sub(earlier.hits),
            misses: self.misses.saturating_sub(earlier.misses),
            stale_served: self.stale_served.saturating_sub(earlier.stale_served),
            negative_hits: self.negative_hits.saturating_sub(earlier.negative_hits),
            aws_calls: self.aws_calls.saturating_sub(earlier.aws_calls),
            rotations_seen: self.rotations_seen.saturating_sub(earlier.rotations_seen),
        }
    }

    /// The counters as one CloudWatch Embedded Metric Format document.
    pub fn to_emf(&self, function_name: &str) -> crate::telemetry::Emf {
        [
            ("Hits", self.hits),
            ("Misses", self.misses),
            ("StaleServed", self.stale_served),
            ("NegativeHits", self.negative_hits),
            ("AwsCalls", self.aws_calls),
            ("RotationsSeen", self.rotations_seen),
        ]
        .into_iter()
        .fold(
            crate::telemetry::Emf::new(function_name),
            |emf, (name, value)| emf.metric(format!("SecretCache{name}"), "Count", value),
        )
    }
}

impl CacheMetrics {
    pub fn snapshot(&self) -> CacheCounters {
        CacheCounters {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            stale_served: self.stale_served.load(Ordering::Relaxed),
            negative_hits: self.negative_hits.load(Ordering::Relaxed),
            aws_calls: self.aws_calls.load(Ordering::Relaxed),
            rotations_seen: self.rotations_seen.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn stale(&self) {
        self.stale_served.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn negative_hit(&self) {
        self.negative_hits.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn aws_call(&self) {
        self.aws_calls.fetch_add(1, Ordering::Relaxed);
    }
    pub(crate) fn rotation(&self) {
        self.rotations_seen.fetch_add(1, Ordering::Relaxed);
    }
}

/// Publishes what the counters did since the last report, so that CloudWatch sums stay right
/// across warm invocations of one environment.
#[derive(Debug, Default)]
pub struct MetricsReporter {
    last: std::sync::Mutex<CacheCounters>,
}

impl MetricsReporter {
    /// Emits one EMF line with the change since the previous call and returns that change.
    pub fn report(&self, current: CacheCounters, function_name: &str) -> CacheCounters {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let delta = current.since(&last);
        *last = current;
        delta.to_emf(function_name).emit();
        delta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_every_metric_it_carries() {
        let counters = CacheCounters {
            hits: 3,
            aws_calls: 1,
            ..Default::default()
        };
        let doc = counters
            .to_emf("secure-config")
            .to_json_at(1_700_000_000_000);
        let declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for metric in declared {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc[name].is_u64(), "{name} declared but missing");
        }
        assert_eq!(doc["SecretCacheHits"], 3);
        assert_eq!(doc["FunctionName"], "secure-config");
    }

    #[test]
    fn since_subtracts() {
        let a = CacheCounters {
            hits: 5,
            aws_calls: 2,
            ..Default::default()
        };
        let b = CacheCounters {
            hits: 7,
            aws_calls: 2,
            ..Default::default()
        };
        assert_eq!(
            b.since(&a),
            CacheCounters {
                hits: 2,
                ..Default::default()
            }
        );
    }
}
