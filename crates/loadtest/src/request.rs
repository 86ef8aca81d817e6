//! The loadtest event, validated field by field, with hard caps that keep a run inside the
//! function's timeout.
//!
//! `{"NumberOfCallsPerUser": "3"}` (the lab's event; a string or a number) makes each user call
//! the API that many times. `Concurrency` sets the in-flight calls. `RequestsPerSecond` with
//! `DurationSeconds` switches to the open model: calls are sent on a fixed global schedule and
//! latency is measured from each call's intended send time, so a slow server cannot hide its
//! queueing (coordinated omission). `DurationSeconds` alone runs the closed model for that long.
//! `Path` and `Method` change the request; `Workers` fans the run out over that many invocations.

use std::time::Duration;

use secure_lambda::ApiError;
use serde_json::{Map, Value};

/// Fields a caller may send (`_worker` is set by the function itself on fan-out).
pub const FIELDS: [&str; 8] = [
    "NumberOfCallsPerUser",
    "Concurrency",
    "RequestsPerSecond",
    "DurationSeconds",
    "Path",
    "Method",
    "Workers",
    "_worker",
];

/// Upper bounds of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_duration: Duration,
    pub max_concurrency: u32,
    pub max_rate: u32,
    pub max_calls: u64,
    pub max_workers: u32,
}

impl Default for Caps {
    fn default() -> Self {
        Self {
            max_duration: Duration::from_secs(600),
            max_concurrency: 256,
            max_rate: 5000,
            max_calls: 1_000_000,
            max_workers: 32,
        }
    }
}

/// How calls are scheduled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Schedule {
    /// Closed model: every user makes `calls_per_user` calls.
    Count { calls_per_user: u64 },
    /// Closed model for a time.
    For(Duration),
    /// Open model: `rate` calls per second for `duration`.
    Open { rate: f64, duration: Duration },
}

/// This invocation's part of a fanned-out run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkerSlice {
    pub index: u32,
    pub of: u32,
    /// Unix milliseconds at which the global schedule starts.
    pub start_at_ms: u64,
}

/// A validated run.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadRequest {
    pub schedule: Schedule,
    pub concurrency: u32,
    pub path: Option<String>,
    pub method: String,
    pub workers: u32,
    pub slice: Option<WorkerSlice>,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::bad_request("InvalidField", message).with_field(field)
}

/// A whole number (or a string holding one) in `range`.
fn whole(
    payload: &Map<String, Value>,
    field: &str,
    min: u64,
    max: u64,
) -> Result<Option<u64>, ApiError> {
    let value = match payload.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match value {
        Some(v) if (min..=max).contains(&v) => Ok(Some(v)),
        _ => Err(invalid(
            field,
            format!("`{field}` must be a whole number from {min} to {max} (a number or a string)"),
        )),
    }
}

/// A positive number (or a string holding one) up to `max`.
fn positive(payload: &Map<String, Value>, field: &str, max: f64) -> Result<Option<f64>, ApiError> {
    let value = match payload.get(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse().ok(),
        Some(_) => None,
    };
    match value {
        Some(v) if v.is_finite() && v > 0.0 && v <= max => Ok(Some(v)),
        _ => Err(invalid(
            field,
            format!("`{field}` must be a number above 0 and at most {max}"),
        )),
    }
}

impl LoadRequest {
    pub fn parse(payload: &Map<String, Value>, caps: &Caps, users: u64) -> Result<Self, ApiError> {
        if let Some(unknown) = payload.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(
                "UnknownField",
                format!("unknown field; accepted: {}", FIELDS[..7].join(", ")),
            )
            .with_field(unknown.chars().take(64).collect::<String>()));
        }
        let max_seconds = caps.max_duration.as_secs();
        let calls = whole(payload, "NumberOfCallsPerUser", 1, caps.max_calls)?;
        let rate = positive(payload, "RequestsPerSecond", f64::from(caps.max_rate))?;
        let duration = whole(payload, "DurationSeconds", 1, max_seconds)?.map(Duration::from_secs);
        let concurrency = whole(payload, "Concurrency", 1, u64::from(caps.max_concurrency))?
            .map_or(Ok(1), u32::try_from)
            .map_err(|_| invalid("Concurrency", "`Concurrency` is too large".into()))?;
        let workers = whole(payload, "Workers", 1, u64::from(caps.max_workers))?
            .map_or(Ok(1), u32::try_from)
            .map_err(|_| invalid("Workers", "`Workers` is too large".into()))?;

        let schedule = match (calls, rate, duration) {
            (Some(_), Some(_), _) => {
                return Err(invalid(
                    "RequestsPerSecond",
                    "give either `NumberOfCallsPerUser` (closed model) or `RequestsPerSecond` with `DurationSeconds` (open model)".into(),
                ))
            }
            (_, Some(_), None) => {
                return Err(invalid("DurationSeconds", "`RequestsPerSecond` needs `DurationSeconds`".into()))
            }
            (_, Some(rate), Some(duration)) => {
                let total = rate * duration.as_secs_f64();
                if total > caps.max_calls as f64 {
                    return Err(invalid(
                        "RequestsPerSecond",
                        format!("{total:.0} calls in all is over the cap of {}", caps.max_calls),
                    ));
                }
                Schedule::Open { rate, duration }
            }
            (Some(n), None, None) => {
                if n.saturating_mul(users.max(1)) > caps.max_calls {
                    return Err(invalid(
                        "NumberOfCallsPerUser",
                        format!("{n} calls for each of {users} users is over the cap of {} calls", caps.max_calls),
                    ));
                }
                Schedule::Count { calls_per_user: n }
            }
            (Some(_), None, Some(_)) => {
                return Err(invalid(
                    "DurationSeconds",
                    "`DurationSeconds` without `RequestsPerSecond` runs for a time; do not also give `NumberOfCallsPerUser`".into(),
                ))
            }
            (None, None, Some(duration)) => Schedule::For(duration),
            (None, None, None) => Schedule::Count { calls_per_user: 1 },
        };

        let path = match payload.get("Path") {
            None | Some(Value::Null) => None,
            Some(Value::String(p))
                if p.starts_with('/') && p.len() <= 1024 && !p.chars().any(char::is_whitespace) =>
            {
                Some(p.clone())
            }
            Some(_) => {
                return Err(invalid(
                    "Path",
                    "`Path` must start with `/`, without spaces, at most 1024 characters".into(),
                ))
            }
        };
        let method = match payload.get("Method") {
            None | Some(Value::Null) => "GET".to_owned(),
            Some(Value::String(m))
                if ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"]
                    .contains(&m.to_ascii_uppercase().as_str()) =>
            {
                m.to_ascii_uppercase()
            }
            Some(_) => {
                return Err(invalid(
                    "Method",
                    "`Method` must be GET, HEAD, POST, PUT, DELETE or OPTIONS".into(),
                ))
            }
        };
        let slice = match payload.get("_worker") {
            None | Some(Value::Null) => None,
            Some(worker) => {
                let field = |name: &str| worker.get(name).and_then(Value::as_u64);
                match (field("index"), field("of"), field("startAtMs")) {
                    (Some(index), Some(of), Some(start_at_ms))
                        if index < of && of <= u64::from(caps.max_workers) =>
                    {
                        Some(WorkerSlice {
                            index: u32::try_from(index).unwrap_or(0),
                            of: u32::try_from(of).unwrap_or(1),
                            start_at_ms,
                        })
                    }
                    _ => {
                        return Err(invalid(
                            "_worker",
                            "`_worker` is set by the function for its own workers".into(),
                        ))
                    }
                }
            }
        };
        Ok(Self {
            schedule,
            concurrency,
            path,
            method,
            workers,
            slice,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(event: Value) -> Result<LoadRequest, ApiError> {
        LoadRequest::parse(event.as_object().unwrap(), &Caps::default(), 2)
    }

    #[test]
    fn the_lab_event_as_string_or_number() {
        for event in [
            json!({"NumberOfCallsPerUser": "3"}),
            json!({"NumberOfCallsPerUser": 3}),
        ] {
            let request = parse(event).unwrap();
            assert_eq!(request.schedule, Schedule::Count { calls_per_user: 3 });
            assert_eq!(
                (
                    request.concurrency,
                    request.workers,
                    request.method.as_str()
                ),
                (1, 1, "GET")
            );
        }
        assert_eq!(
            parse(json!({})).unwrap().schedule,
            Schedule::Count { calls_per_user: 1 }
        );
    }

    #[test]
    fn open_and_timed_models() {
        let open = parse(json!({"RequestsPerSecond": 50, "DurationSeconds": "10", "Concurrency": 8, "Workers": 4})).unwrap();
        assert_eq!(
            open.schedule,
            Schedule::Open {
                rate: 50.0,
                duration: Duration::from_secs(10)
            }
        );
        assert_eq!((open.concurrency, open.workers), (8, 4));
        assert_eq!(
            parse(json!({"DurationSeconds": 5})).unwrap().schedule,
            Schedule::For(Duration::from_secs(5))
        );
    }

    #[test]
    fn bad_values_name_their_field() {
        for (event, field) in [
            (
                json!({"NumberOfCallsPerUser": "three"}),
                "NumberOfCallsPerUser",
            ),
            (json!({"NumberOfCallsPerUser": 0}), "NumberOfCallsPerUser"),
            (json!({"NumberOfCallsPerUser": -2}), "NumberOfCallsPerUser"),
            (
                json!({"NumberOfCallsPerUser": 900000}),
                "NumberOfCallsPerUser",
            ),
            (json!({"Concurrency": 1000}), "Concurrency"),
            (json!({"RequestsPerSecond": 10}), "DurationSeconds"),
            (
                json!({"RequestsPerSecond": "fast", "DurationSeconds": 1}),
                "RequestsPerSecond",
            ),
            (
                json!({"RequestsPerSecond": 5000, "DurationSeconds": 600}),
                "RequestsPerSecond",
            ),
            (json!({"DurationSeconds": 601}), "DurationSeconds"),
            (json!({"Workers": 0}), "Workers"),
            (json!({"Path": "orders"}), "Path"),
            (json!({"Method": "TRACE"}), "Method"),
            (
                json!({"_worker": {"index": 3, "of": 2, "startAtMs": 1}}),
                "_worker",
            ),
            (json!({"Users": 3}), "Users"),
        ] {
            let error = parse(event.clone()).unwrap_err();
            assert_eq!(
                (error.status, error.field.as_deref()),
                (400, Some(field)),
                "{event}"
            );
        }
    }
}
