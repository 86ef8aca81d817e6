//! The loadtest event, validated field by field, with hard caps that keep a run inside the
//! function's timeout.
//!
//! `{"NumberOfCallsPerUser": "3"}` (the lab's event; a string or a number) makes each user call
//! the API that many times. `Concurrency` sets the in-flight calls. `RequestsPerSecond` with
//! `DurationSeconds` switches to the open model: calls are sent on a fixed global schedule and
//! latency is measured from each call's intended send time, so a slow server cannot hide its
//! queueing (coordinated omission). `DurationSeconds` alone runs the closed model for that long.
//! `Path` and `Method` change the request; `Workers` fans the run out over that many invocations.
//!
//! Whatever the fields, a run is bounded by [`Limits`]: a call cap, a rate cap and a duration cap
//! (the closed model is paced to the rate cap, and a count-based run stops at the duration cap).

use std::time::Duration;

use secure_lambda::{request, ApiError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

/// What a caller may send (a worker event holds `_worker` only: see [`crate::worker`]). Numbers
/// may arrive as strings, as the lab's event sends them; ranges are checked against the caps.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "PascalCase")]
struct WireRequest {
    #[serde(default, deserialize_with = "request::number_or_string")]
    number_of_calls_per_user: Option<i64>,
    #[serde(default, deserialize_with = "request::number_or_string")]
    concurrency: Option<i64>,
    #[serde(default, deserialize_with = "request::number_or_string")]
    requests_per_second: Option<f64>,
    #[serde(default, deserialize_with = "request::number_or_string")]
    duration_seconds: Option<i64>,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default, deserialize_with = "request::number_or_string")]
    workers: Option<i64>,
}

/// Upper bounds of a run, all workers together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub max_duration: Duration,
    pub max_concurrency: u32,
    /// Calls per second.
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
            max_workers: 10,
        }
    }
}

impl Caps {
    /// The limits of a run that is not fanned out.
    pub fn limits(&self) -> Limits {
        self.share(0, 1)
    }

    /// Worker `index` of `of`'s part of the caps: the calls whose global index is `index` modulo
    /// `of`, and an equal share of the rate, so that the workers together stay within the caps.
    pub fn share(&self, index: u32, of: u32) -> Limits {
        let of = u64::from(of.max(1));
        let index = u64::from(index).min(of - 1);
        Limits {
            calls: (self.max_calls + of - index - 1) / of,
            rate: f64::from(self.max_rate.max(1)) / of as f64,
            duration: self.max_duration,
        }
    }
}

/// What one invocation may do, whatever its schedule asks for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub calls: u64,
    /// Calls per second (above 0).
    pub rate: f64,
    pub duration: Duration,
}

impl Limits {
    /// The tighter of two limits.
    pub fn min(self, other: Limits) -> Limits {
        Limits {
            calls: self.calls.min(other.calls),
            rate: self.rate.min(other.rate),
            duration: self.duration.min(other.duration),
        }
    }

    pub fn to_json(self) -> Value {
        json!({
            "calls": self.calls,
            "callsPerSecond": self.rate,
            "durationSeconds": self.duration.as_secs_f64(),
        })
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
    pub limits: Limits,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::bad_request("InvalidField", message).with_field(field)
}

/// A whole number in `min..=max`, if given.
fn whole(value: Option<i64>, field: &str, min: u64, max: u64) -> Result<Option<u64>, ApiError> {
    match value.map(u64::try_from) {
        None => Ok(None),
        Some(Ok(v)) if (min..=max).contains(&v) => Ok(Some(v)),
        Some(_) => Err(invalid(
            field,
            format!("`{field}` must be a whole number from {min} to {max} (a number or a string)"),
        )),
    }
}

/// A positive number up to `max`, if given.
fn positive(value: Option<f64>, field: &str, max: f64) -> Result<Option<f64>, ApiError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v > 0.0 && v <= max => Ok(Some(v)),
        Some(_) => Err(invalid(
            field,
            format!("`{field}` must be a number above 0 and at most {max}"),
        )),
    }
}

impl LoadRequest {
    /// Validates a caller's event against `caps`. The per-user call count is checked once the
    /// users are known ([`LoadRequest::check_users`]).
    pub fn parse(payload: &Map<String, Value>, caps: &Caps) -> Result<Self, ApiError> {
        let wire: WireRequest = request::parse(payload.clone())?;
        let max_seconds = caps.max_duration.as_secs();
        let calls = whole(
            wire.number_of_calls_per_user,
            "NumberOfCallsPerUser",
            1,
            caps.max_calls,
        )?;
        let rate = positive(
            wire.requests_per_second,
            "RequestsPerSecond",
            f64::from(caps.max_rate),
        )?;
        let duration = whole(wire.duration_seconds, "DurationSeconds", 1, max_seconds)?
            .map(Duration::from_secs);
        let workers = whole(wire.workers, "Workers", 1, u64::from(caps.max_workers))?
            .map_or(Ok(1), u32::try_from)
            .map_err(|_| invalid("Workers", "`Workers` is too large".into()))?;
        // Every worker keeps at least one call in flight, so `Concurrency` (all workers
        // together) is at least `Workers`; left out, it is one call per worker.
        let concurrency = whole(
            wire.concurrency,
            "Concurrency",
            1,
            u64::from(caps.max_concurrency),
        )?
        .map_or(Ok(workers), u32::try_from)
        .map_err(|_| invalid("Concurrency", "`Concurrency` is too large".into()))?;
        if workers > concurrency {
            return Err(invalid(
                "Workers",
                format!(
                    "`Workers` ({workers}) may not exceed `Concurrency` ({concurrency}): each worker keeps at least one call in flight"
                ),
            ));
        }
        if concurrency > caps.max_concurrency {
            return Err(invalid(
                "Workers",
                format!(
                    "{workers} workers need at least {workers} calls in flight, over the cap of {}",
                    caps.max_concurrency
                ),
            ));
        }

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
            (Some(n), None, None) => Schedule::Count { calls_per_user: n },
            (Some(_), None, Some(_)) => {
                return Err(invalid(
                    "DurationSeconds",
                    "`DurationSeconds` without `RequestsPerSecond` runs for a time; do not also give `NumberOfCallsPerUser`".into(),
                ))
            }
            (None, None, Some(duration)) => Schedule::For(duration),
            (None, None, None) => Schedule::Count { calls_per_user: 1 },
        };

        let path = match wire.path {
            None => None,
            Some(p)
                if p.starts_with('/') && p.len() <= 1024 && !p.chars().any(char::is_whitespace) =>
            {
                Some(p)
            }
            Some(_) => {
                return Err(invalid(
                    "Path",
                    "`Path` must start with `/`, without spaces, at most 1024 characters".into(),
                ))
            }
        };
        let method = match wire.method {
            None => "GET".to_owned(),
            Some(m)
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
        Ok(Self {
            schedule,
            concurrency,
            path,
            method,
            workers,
            slice: None,
            limits: caps.limits(),
        })
    }

    /// A worker's request: its signed run fields, validated like a caller's (so a coordinator bug
    /// cannot exceed the caps either), within its signed limits and its own share of the caps.
    pub fn for_worker(
        run: &Map<String, Value>,
        slice: WorkerSlice,
        signed: Limits,
        caps: &Caps,
    ) -> Result<Self, ApiError> {
        let mut request = Self::parse(run, caps)?;
        if request.workers != 1 {
            return Err(invalid("Workers", "a worker does not fan out again".into()));
        }
        request.slice = Some(slice);
        request.limits = signed.min(caps.share(slice.index, slice.of));
        Ok(request)
    }

    /// The closed model's calls per user must fit the call cap.
    pub fn check_users(&self, users: u64) -> Result<(), ApiError> {
        if let Schedule::Count { calls_per_user } = self.schedule {
            let of = self.slice.map_or(1, |s| u64::from(s.of));
            let cap = self.limits.calls.saturating_mul(of);
            if calls_per_user.saturating_mul(users.max(1)) > cap {
                return Err(invalid(
                    "NumberOfCallsPerUser",
                    format!("{calls_per_user} calls for each of {users} users is over the cap of {cap} calls"),
                ));
            }
        }
        Ok(())
    }

    /// The request fields that reproduce this run (less `Workers`), as a worker receives them.
    pub fn run_fields(&self, concurrency: u32) -> Map<String, Value> {
        let mut fields = Map::new();
        match self.schedule {
            Schedule::Count { calls_per_user } => {
                fields.insert("NumberOfCallsPerUser".into(), json!(calls_per_user));
            }
            Schedule::For(duration) => {
                fields.insert("DurationSeconds".into(), json!(duration.as_secs()));
            }
            Schedule::Open { rate, duration } => {
                fields.insert("RequestsPerSecond".into(), json!(rate));
                fields.insert("DurationSeconds".into(), json!(duration.as_secs()));
            }
        }
        fields.insert("Concurrency".into(), json!(concurrency));
        fields.insert("Method".into(), json!(self.method));
        if let Some(path) = &self.path {
            fields.insert("Path".into(), json!(path));
        }
        fields
    }

    /// The longest this run's schedule lasts: its duration, or the duration cap for a count.
    pub fn run_bound(&self) -> Duration {
        self.schedule.bound(&self.limits)
    }
}

impl Schedule {
    /// The longest a run on this schedule lasts under `limits`: its duration within the duration
    /// cap, or the cap itself for a count.
    pub fn bound(&self, limits: &Limits) -> Duration {
        match *self {
            Schedule::For(duration) | Schedule::Open { duration, .. } => {
                duration.min(limits.duration)
            }
            Schedule::Count { .. } => limits.duration,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(event: Value) -> Result<LoadRequest, ApiError> {
        let request = LoadRequest::parse(event.as_object().unwrap(), &Caps::default())?;
        request.check_users(2)?;
        Ok(request)
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
            // Each worker has a call in flight: 3 workers are 3 calls, more than 2.
            (json!({"Workers": 3, "Concurrency": 2}), "Workers"),
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
            (json!({"Workers": 11}), "Workers"),
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

    #[test]
    fn every_run_has_a_call_cap_and_a_rate_cap() {
        let caps = Caps::default();
        for event in [
            json!({"DurationSeconds": 5}),
            json!({"NumberOfCallsPerUser": 3}),
            json!({"RequestsPerSecond": 10, "DurationSeconds": 5}),
            json!({}),
        ] {
            let request = parse(event.clone()).unwrap();
            assert_eq!(request.limits, caps.limits(), "{event}");
            assert_eq!(request.limits.calls, 1_000_000);
            assert_eq!(request.limits.rate, 5000.0);
        }
        // A timed run lasts its duration; a count at most the duration cap.
        assert_eq!(
            parse(json!({"DurationSeconds": 5})).unwrap().run_bound(),
            Duration::from_secs(5)
        );
        assert_eq!(
            parse(json!({"NumberOfCallsPerUser": 3}))
                .unwrap()
                .run_bound(),
            caps.max_duration
        );
    }

    #[test]
    fn worker_shares_add_up_to_the_caps() {
        let caps = Caps {
            max_calls: 1_000_003,
            max_rate: 5000,
            ..Caps::default()
        };
        for of in 1..=10 {
            let shares: Vec<Limits> = (0..of).map(|i| caps.share(i, of)).collect();
            assert_eq!(shares.iter().map(|l| l.calls).sum::<u64>(), caps.max_calls);
            let rate: f64 = shares.iter().map(|l| l.rate).sum();
            assert!((rate - 5000.0).abs() < 1e-6, "{of}: {rate}");
        }
    }

    #[test]
    fn the_call_cap_covers_all_users() {
        let caps = Caps {
            max_calls: 10,
            ..Caps::default()
        };
        let request = LoadRequest::parse(
            json!({"NumberOfCallsPerUser": 4}).as_object().unwrap(),
            &caps,
        )
        .unwrap();
        assert!(request.check_users(2).is_ok());
        let error = request.check_users(3).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("NumberOfCallsPerUser"));
    }

    #[test]
    fn run_fields_give_a_worker_the_same_run() {
        let caps = Caps::default();
        for event in [
            json!({"NumberOfCallsPerUser": "3", "Workers": 2, "Concurrency": 4}),
            json!({"DurationSeconds": 7, "Workers": 3, "Path": "/orders?x=1", "Method": "head"}),
            json!({"RequestsPerSecond": "0.1", "DurationSeconds": 600, "Workers": 10}),
            json!({"RequestsPerSecond": 1234.5678, "DurationSeconds": 60, "Workers": 4}),
        ] {
            let request = parse(event.clone()).unwrap();
            let slice = WorkerSlice {
                index: 1,
                of: request.workers,
                start_at_ms: 5,
            };
            let share = caps.share(1, request.workers);
            let worker =
                LoadRequest::for_worker(&request.run_fields(2), slice, share, &caps).unwrap();
            assert_eq!(
                worker,
                LoadRequest {
                    concurrency: 2,
                    workers: 1,
                    slice: Some(slice),
                    limits: share,
                    ..request
                },
                "{event}"
            );
        }
    }

    #[test]
    fn a_worker_keeps_to_its_signed_limits_and_its_own_share() {
        let caps = Caps::default();
        let run = json!({"DurationSeconds": 5}).as_object().unwrap().clone();
        let slice = WorkerSlice {
            index: 0,
            of: 4,
            start_at_ms: 0,
        };
        let generous = Limits {
            calls: u64::MAX,
            rate: f64::MAX,
            duration: Duration::MAX,
        };
        let worker = LoadRequest::for_worker(&run, slice, generous, &caps).unwrap();
        assert_eq!(worker.limits, caps.share(0, 4));
        let tight = Limits {
            calls: 7,
            rate: 1.0,
            duration: Duration::from_secs(9),
        };
        let worker = LoadRequest::for_worker(&run, slice, tight, &caps).unwrap();
        assert_eq!(worker.limits, tight);
        let mut again = run.clone();
        again.insert("Workers".into(), json!(2));
        let error = LoadRequest::for_worker(&again, slice, tight, &caps).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("Workers"));
    }
}
