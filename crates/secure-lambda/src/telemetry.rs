//! Metrics shared by every function: CloudWatch Embedded Metric Format documents, each on a line
//! of its own so that CloudWatch extracts them, built by one [`Emf`] builder. A leaf module: the
//! secret cache, the log writer and the functions all report through it.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

/// The CloudWatch namespace of every metric the suite emits.
pub const METRICS_NAMESPACE: &str = "SecureLambdaSuite";

/// One EMF document: metrics of one function, in the suite's namespace, by `FunctionName`.
#[derive(Debug, Clone)]
pub struct Emf {
    function_name: String,
    metrics: Vec<(String, &'static str, Value)>,
}

impl Emf {
    pub fn new(function_name: &str) -> Self {
        Self {
            function_name: function_name.to_owned(),
            metrics: Vec::new(),
        }
    }

    /// Adds a metric (`unit` as CloudWatch names it: `Count`, `Milliseconds`, ...).
    pub fn metric(
        mut self,
        name: impl Into<String>,
        unit: &'static str,
        value: impl Into<Value>,
    ) -> Self {
        self.metrics.push((name.into(), unit, value.into()));
        self
    }

    /// The document, stamped now.
    pub fn to_json(&self) -> Value {
        self.to_json_at(now_millis())
    }

    /// The document, stamped `timestamp_ms`.
    pub fn to_json_at(&self, timestamp_ms: u64) -> Value {
        let definitions: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
            .collect();
        let mut document = Map::new();
        document.insert(
            "_aws".into(),
            json!({
                "Timestamp": timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [["FunctionName"]],
                    "Metrics": definitions,
                }],
            }),
        );
        document.insert("FunctionName".into(), self.function_name.clone().into());
        for (name, _, value) in &self.metrics {
            document.insert(name.clone(), value.clone());
        }
        Value::Object(document)
    }

    /// Writes the document as its own stdout line. A metrics line that cannot be written is
    /// dropped: losing a metric must not fail an invocation.
    pub fn emit(&self) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", self.to_json());
    }
}

/// Milliseconds since the Unix epoch, for EMF timestamps.
pub fn now_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The function name Lambda gives the environment (or `local` outside Lambda).
pub fn function_name() -> String {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_define_every_metric_they_carry() {
        let doc = Emf::new("f")
            .metric("Calls", "Count", 3)
            .metric("P50", "Milliseconds", 1.5)
            .to_json_at(7);
        assert_eq!(doc["FunctionName"], "f");
        assert_eq!(doc["Calls"], 3);
        assert_eq!(doc["_aws"]["Timestamp"], 7);
        let metrics = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(metrics["Namespace"], METRICS_NAMESPACE);
        assert_eq!(
            metrics["Metrics"][1],
            json!({"Name": "P50", "Unit": "Milliseconds"})
        );
    }
}
