//! What a run measured: HDR latency histogram (microseconds), statuses, error classes; and how
//! runs merge exactly (histograms are added, not percentiles averaged).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

/// Highest latency tracked: longer calls are recorded at this value.
const MAX_MICROS: u64 = 3_600_000_000;

/// A bounded latency histogram (1 µs to 1 h, 3 significant digits: memory does not grow with
/// the number of calls).
#[allow(clippy::expect_used)]
pub fn new_histogram() -> Histogram<u64> {
    // Constant bounds that meet the constructor's rules (low >= 1, high >= 2 * low, 3 <= 5
    // significant digits): this cannot fail, whatever the input.
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid bounds") // allow-panic: constant bounds
}

/// Why a call failed, in the classes the report counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorClass {
    Connect,
    Timeout,
    Tls,
    Auth,
    Throttled,
    Server,
    Other,
}

impl ErrorClass {
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::Connect,
        ErrorClass::Timeout,
        ErrorClass::Tls,
        ErrorClass::Auth,
        ErrorClass::Throttled,
        ErrorClass::Server,
        ErrorClass::Other,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorClass::Connect => "connect",
            ErrorClass::Timeout => "timeout",
            ErrorClass::Tls => "tls",
            ErrorClass::Auth => "401/403",
            ErrorClass::Throttled => "429",
            ErrorClass::Server => "5xx",
            ErrorClass::Other => "other",
        }
    }

    /// The class of an HTTP status that is not a success, if any.
    pub fn of_status(status: u16) -> Option<ErrorClass> {
        match status {
            200..=399 => None,
            401 | 403 => Some(ErrorClass::Auth),
            429 => Some(ErrorClass::Throttled),
            500..=599 => Some(ErrorClass::Server),
            _ => Some(ErrorClass::Other),
        }
    }
}

/// Counters and the histogram of one run (or of several, merged).
#[derive(Debug, Clone)]
pub struct RunStats {
    pub latency: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: BTreeMap<ErrorClass, u64>,
    /// Calls that got no HTTP response (connect, timeout, TLS, other transport failures).
    pub no_response: u64,
    pub elapsed: Duration,
    /// Calls per second the schedule asked for (open model).
    pub intended_rate: Option<f64>,
    /// 200 answers whose `tenantId` was checked against the caller's token, and of those, the
    /// ones naming another tenant (an isolation failure).
    pub tenant_checked: u64,
    pub other_tenant: u64,
    /// 200 answers to a caller with a tenant whose body could not be read whole (over the read
    /// limit, or cut): their `tenantId` was not checked.
    pub tenant_unread: u64,
}

impl Default for RunStats {
    fn default() -> Self {
        Self {
            latency: new_histogram(),
            statuses: BTreeMap::new(),
            errors: BTreeMap::new(),
            no_response: 0,
            elapsed: Duration::ZERO,
            intended_rate: None,
            tenant_checked: 0,
            other_tenant: 0,
            tenant_unread: 0,
        }
    }
}

impl RunStats {
    pub fn calls(&self) -> u64 {
        self.statuses.values().sum::<u64>() + self.no_response
    }

    /// Records one call's outcome.
    pub fn record(&mut self, latency: Duration, outcome: Result<u16, ErrorClass>) {
        let micros = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, MAX_MICROS);
        self.latency.saturating_record(micros);
        match outcome {
            Ok(status) => {
                *self.statuses.entry(status).or_default() += 1;
                if let Some(class) = ErrorClass::of_status(status) {
                    *self.errors.entry(class).or_default() += 1;
                }
            }
            Err(class) => {
                self.no_response += 1;
                *self.errors.entry(class).or_default() += 1;
            }
        }
    }

    /// Records one answer's tenant check (nothing when there was none).
    pub fn record_tenant(&mut self, check: Option<crate::engine::TenantCheck>) {
        use crate::engine::TenantCheck;
        match check {
            None => {}
            Some(TenantCheck::Unread) => self.tenant_unread = self.tenant_unread.saturating_add(1),
            Some(check) => {
                self.tenant_checked = self.tenant_checked.saturating_add(1);
                if check == TenantCheck::Other {
                    self.other_tenant = self.other_tenant.saturating_add(1);
                }
            }
        }
    }

    /// Adds `other` (another worker's stats) exactly.
    pub fn merge(&mut self, other: &RunStats) {
        // Both histograms share bounds; adding cannot fail for histograms made by `new_histogram`.
        if self.latency.add(&other.latency).is_err() {
            tracing::warn!("a worker's histogram has other bounds; its latencies are left out");
        }
        for (status, n) in &other.statuses {
            let count = self.statuses.entry(*status).or_default();
            *count = count.saturating_add(*n);
        }
        for (class, n) in &other.errors {
            let count = self.errors.entry(*class).or_default();
            *count = count.saturating_add(*n);
        }
        self.no_response = self.no_response.saturating_add(other.no_response);
        self.tenant_checked = self.tenant_checked.saturating_add(other.tenant_checked);
        self.other_tenant = self.other_tenant.saturating_add(other.other_tenant);
        self.tenant_unread = self.tenant_unread.saturating_add(other.tenant_unread);
        self.elapsed = self.elapsed.max(other.elapsed);
        self.intended_rate = match (self.intended_rate, other.intended_rate) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }

    /// The histogram as base64 of the HdrHistogram V2 + DEFLATE encoding (mergeable with
    /// HdrHistogram tools in any language).
    pub fn histogram_base64(&self) -> Option<String> {
        let mut bytes = Vec::new();
        V2DeflateSerializer::new()
            .serialize(&self.latency, &mut bytes)
            .ok()?;
        Some(STANDARD.encode(bytes))
    }

    /// Reads a histogram written by [`RunStats::histogram_base64`].
    pub fn histogram_from_base64(text: &str) -> Option<Histogram<u64>> {
        let bytes = STANDARD.decode(text).ok()?;
        Deserializer::new().deserialize(&mut bytes.as_slice()).ok()
    }

    /// The report's JSON form (without sign-in details, which the caller adds).
    pub fn to_json(&self) -> Value {
        let ms = |micros: u64| (micros as f64 / 1000.0 * 1000.0).round() / 1000.0;
        let h = &self.latency;
        let latency = if h.is_empty() {
            Value::Null
        } else {
            json!({
                "p50": ms(h.value_at_quantile(0.50)),
                "p90": ms(h.value_at_quantile(0.90)),
                "p99": ms(h.value_at_quantile(0.99)),
                "p99_9": ms(h.value_at_quantile(0.999)),
                "max": ms(h.max()),
                "mean": (h.mean() / 1000.0 * 1000.0).round() / 1000.0,
            })
        };
        let seconds = self.elapsed.as_secs_f64();
        let achieved = if seconds > 0.0 {
            self.calls() as f64 / seconds
        } else {
            0.0
        };
        let statuses: Map<String, Value> = self
            .statuses
            .iter()
            .map(|(s, n)| (s.to_string(), json!(n)))
            .collect();
        let errors: Map<String, Value> = ErrorClass::ALL
            .iter()
            .map(|c| {
                (
                    c.name().to_owned(),
                    json!(self.errors.get(c).copied().unwrap_or(0)),
                )
            })
            .collect();
        json!({
            "calls": self.calls(),
            "noResponse": self.no_response,
            "statusCounts": statuses,
            "errors": errors,
            "latencyMs": latency,
            "durationSeconds": (seconds * 1000.0).round() / 1000.0,
            "achievedRps": (achieved * 100.0).round() / 100.0,
            "intendedRps": self.intended_rate,
            "histogram": self.histogram_base64(),
            "tenantIsolation": {
                "checked": self.tenant_checked,
                "otherTenant": self.other_tenant,
                "unread": self.tenant_unread,
            },
        })
    }

    /// Rebuilds stats from another invocation's report (fan-out).
    pub fn from_json(report: &Value) -> Option<RunStats> {
        let latency = match report["histogram"].as_str() {
            Some(text) => Self::histogram_from_base64(text)?,
            None => new_histogram(),
        };
        let mut stats = RunStats {
            latency,
            ..RunStats::default()
        };
        for (status, n) in report["statusCounts"].as_object()? {
            stats.statuses.insert(status.parse().ok()?, n.as_u64()?);
        }
        for class in ErrorClass::ALL {
            let n = report["errors"][class.name()].as_u64().unwrap_or(0);
            if n > 0 {
                stats.errors.insert(class, n);
            }
        }
        stats.no_response = report["noResponse"].as_u64().unwrap_or(0);
        stats.tenant_checked = report["tenantIsolation"]["checked"].as_u64().unwrap_or(0);
        stats.other_tenant = report["tenantIsolation"]["otherTenant"]
            .as_u64()
            .unwrap_or(0);
        stats.tenant_unread = report["tenantIsolation"]["unread"].as_u64().unwrap_or(0);
        // A worker's report is data from outside this process: a huge or odd number is refused,
        // not converted (from_secs_f64 would panic).
        let seconds = report["durationSeconds"].as_f64().unwrap_or(0.0).max(0.0);
        stats.elapsed = Duration::try_from_secs_f64(seconds).ok()?;
        stats.intended_rate = report["intendedRps"].as_f64();
        Some(stats)
    }
}
