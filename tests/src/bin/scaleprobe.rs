//! `scaleprobe`: AWS calls per 1,000 requests as the population of active users grows, and the
//! request rates at which each AWS quota is met.
//!
//! ```text
//! scaleprobe [--profile release|debug] [--functions a,b] [--users 10,1000,100000]
//!            [--requests N] [--zipf S] [--session-cache N] [--out FILE]
//! ```
//! Per function and population, one sandbox (a fresh process of the function's binary under the
//! Runtime API harness, as Lambda runs one) serves `--requests` direct events from users drawn
//! with Zipf(`S`) popularity, and moto's recorder counts the AWS calls by operation. For
//! multi-tenant-query the probe prints beside the measured `AssumeRole` count what an LRU of the
//! configured session-cache size makes on the same stream, and fails if the function makes more,
//! or more than one call per request. `make bench` runs it and puts its tables in
//! `BENCHMARKS.md`; `make test` runs a small one (tests/tests/scale_smoke.rs).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use suite_tests::coldstart::{serve_stream, Subject};
use suite_tests::scale::{
    ceiling, count, event_for, identity, lru_misses, quota_of, zipf_ranks,
    NEW_SANDBOXES_PER_SECOND, QUOTAS,
};
use suite_tests::{repo_root, write_report, SeededMoto};

const FUNCTIONS: [&str; 3] = ["multi-tenant-query", "secure-config", "data-masking"];

struct Options {
    profile: String,
    functions: Vec<String>,
    users: Vec<usize>,
    requests: usize,
    zipf: f64,
    session_cache: usize,
    out: Option<PathBuf>,
}

fn parse_args() -> Result<Options> {
    let mut options = Options {
        profile: "release".into(),
        functions: FUNCTIONS.iter().map(|f| (*f).to_owned()).collect(),
        users: vec![10, 1_000, 100_000],
        requests: 10_000,
        zipf: 1.0,
        // The template's TenantSessionCacheSize default.
        session_cache: 3_000,
        out: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--profile" => options.profile = value()?,
            "--functions" => options.functions = value()?.split(',').map(str::to_owned).collect(),
            "--users" => {
                options.users = value()?
                    .split(',')
                    .map(|n| n.trim().parse().context("--users takes whole numbers"))
                    .collect::<Result<_>>()?;
            }
            "--requests" => options.requests = value()?.parse().context("--requests")?,
            "--zipf" => options.zipf = value()?.parse().context("--zipf")?,
            "--session-cache" => {
                options.session_cache = value()?.parse().context("--session-cache")?;
            }
            "--out" => options.out = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other}"),
        }
    }
    if options.requests == 0 || options.users.contains(&0) {
        bail!("--requests and every --users figure must be at least 1");
    }
    if let Some(unknown) = options
        .functions
        .iter()
        .find(|f| !FUNCTIONS.contains(&f.as_str()))
    {
        bail!("unknown function {unknown}");
    }
    Ok(options)
}

/// multi-tenant-query's `TENANT_SESSION_SCOPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionScope {
    User,
    Tenant,
}

impl SessionScope {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Tenant => "tenant",
        }
    }
}

/// One function at one population.
struct Row {
    function: String,
    users: usize,
    requests: usize,
    calls: BTreeMap<String, usize>,
    /// Calls of the stream's first half (the cold invocation's included) and second half.
    first_half: BTreeMap<String, usize>,
    first_half_requests: usize,
    steady: BTreeMap<String, usize>,
    steady_requests: usize,
    /// multi-tenant-query: `AssumeRole` calls an LRU of the session-cache size makes.
    lru_model: Option<usize>,
    seconds: f64,
}

fn main() -> Result<()> {
    let options = parse_args()?;
    let stack = SeededMoto::start("scaleprobe")?;
    let env = stack.function_env()?;
    let target = repo_root().join("target").join(&options.profile);
    let extra_env = vec![(
        "TENANT_SESSION_CACHE_SIZE".to_owned(),
        options.session_cache.to_string(),
    )];
    let mut rows = Vec::new();
    // Per function, the populations to run, and for multi-tenant-query the per-tenant session
    // mode too, at the largest population (where per-user sessions cost most).
    let largest = options.users.iter().copied().max().unwrap_or(1);
    let mut runs: Vec<(&str, usize, usize, SessionScope)> = Vec::new();
    for function in &options.functions {
        for (level, &users) in options.users.iter().enumerate() {
            runs.push((function, level, users, SessionScope::User));
        }
        if function == "multi-tenant-query" {
            let level = options
                .users
                .iter()
                .position(|u| *u == largest)
                .unwrap_or(0);
            runs.push((function, level, largest, SessionScope::Tenant));
        }
    }
    for (function, level, users, scope) in runs {
        let ranks = zipf_ranks(users, options.zipf, options.requests, 7 + level as u64);
        let events = ranks
            .iter()
            .map(|&rank| event_for(function, rank).context("no events for this function"))
            .collect::<Result<Vec<_>>>()?;
        let subject = Subject::rust(function, &target.join(function), env.clone(), "{}")?;
        let label = match scope {
            SessionScope::User => function.to_owned(),
            SessionScope::Tenant => format!("{function}, TenantSessionScope=tenant"),
        };
        eprintln!(
            "==> {label}: {} requests from {users} users (Zipf {})",
            options.requests, options.zipf
        );
        let mut run_env = extra_env.clone();
        run_env.push(("TENANT_SESSION_SCOPE".to_owned(), scope.as_str().to_owned()));
        let started = Instant::now();
        let log = stack
            .dir
            .join(format!("{function}-{users}-{}.log", scope.as_str()));
        let run = serve_stream(&subject, &stack, &events, &run_env, &log)?;
        let lru_model = (function == "multi-tenant-query").then(|| match scope {
            SessionScope::User => {
                let scopes: Vec<(String, String)> = ranks.iter().map(|r| identity(*r)).collect();
                lru_misses(options.session_cache, &scopes)
            }
            SessionScope::Tenant => {
                let scopes: Vec<String> = ranks.iter().map(|r| identity(*r).0).collect();
                lru_misses(options.session_cache, &scopes)
            }
        });
        let row = Row {
            function: label,
            users,
            requests: run.requests,
            calls: count(&run.operations()),
            first_half: count(
                &[run.cold_operations.clone(), run.warmup_operations.clone()].concat(),
            ),
            first_half_requests: run.requests - run.steady_requests,
            steady: count(&run.steady_operations),
            steady_requests: run.steady_requests,
            lru_model,
            seconds: started.elapsed().as_secs_f64(),
        };
        eprintln!("{}", one_line(&row));
        check(&row)?;
        rows.push(row);
    }
    let report = render(&options, &rows);
    write_report(options.out.as_deref(), &report)
}

/// The probe's promise for multi-tenant-query: no more `AssumeRole` calls than the LRU model,
/// and never more than one per request.
fn check(row: &Row) -> Result<()> {
    let Some(model) = row.lru_model else {
        return Ok(());
    };
    let assumed = row.calls.get("AssumeRole").copied().unwrap_or(0);
    if assumed > model || assumed > row.requests {
        bail!(
            "{} with {} users: {assumed} AssumeRole calls for {} requests, the LRU model makes {model}",
            row.function,
            row.users,
            row.requests
        );
    }
    Ok(())
}

fn per_1000(calls: usize, requests: usize) -> f64 {
    calls as f64 * 1000.0 / requests.max(1) as f64
}

fn one_line(row: &Row) -> String {
    let calls: Vec<String> = row
        .calls
        .iter()
        .map(|(op, n)| format!("{op} {n} ({:.1}/1000)", per_1000(*n, row.requests)))
        .collect();
    let model = row
        .lru_model
        .map(|m| format!("; LRU model {m} AssumeRole"))
        .unwrap_or_default();
    format!(
        "    {} requests in {:.1} s: {}{model}",
        row.requests,
        row.seconds,
        if calls.is_empty() {
            "no AWS calls".to_owned()
        } else {
            calls.join(", ")
        }
    )
}

fn render(options: &Options, rows: &[Row]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "One release sandbox per function and population served {} direct events through the \
         Runtime API harness; users drawn with Zipf({}) popularity (user r in tenant r mod 20); \
         AWS calls counted by moto's request recorder, the cold invocation's included. \
         multi-tenant-query: `TENANT_SESSION_CACHE_SIZE` {}, sessions per user (the default) and, \
         at the largest population, per tenant; the LRU model column is what an LRU of that \
         size makes on the same stream of users (of tenants).\n",
        options.requests, options.zipf, options.session_cache
    );
    let _ = writeln!(
        out,
        "| function | active users | requests | operation | calls | per 1,000 requests | LRU model |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | --- | ---: | ---: | ---: |");
    for row in rows {
        if row.calls.is_empty() {
            let _ = writeln!(
                out,
                "| {} | {} | {} | none | 0 | 0 | |",
                row.function, row.users, row.requests
            );
        }
        for (operation, calls) in &row.calls {
            let model = match (operation.as_str(), row.lru_model) {
                ("AssumeRole", Some(model)) => model.to_string(),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | `{operation}` | {calls} | {:.2} | {model} |",
                row.function,
                row.users,
                row.requests,
                per_1000(*calls, row.requests)
            );
        }
    }
    render_model(&mut out, rows);
    out
}

/// From the per-sandbox figures to the account, per function and quota (operations sharing a
/// quota added up), from the largest population measured: a sandbox's second half gives its
/// steady rate; its first half less that rate gives the calls a new sandbox makes to fill its
/// caches.
fn render_model(out: &mut String, rows: &[Row]) {
    let _ = writeln!(
        out,
        "\n### Where each quota is met\n\n\
         Per function and quota, from its largest population above. `first` = calls a new \
         sandbox makes filling its caches (the stream's first half less the steady rate), \
         `steady` = calls per 1,000 requests in the second half. The quota is met at \
         `quota / first` new sandboxes per second (a burst of cold starts; Lambda adds at most \
         {NEW_SANDBOXES_PER_SECOND:.0} sandboxes/s to a function, 1,000 concurrency per 10 s, \
         so a burst from idle asks `first × {NEW_SANDBOXES_PER_SECOND:.0}` calls/s), at \
         `quota × refresh / first` warm sandboxes re-reading every `refresh` seconds (the cache \
         TTL, or the session length less its early refresh), and at `quota / (steady / 1000)` \
         requests per second. Quotas are AWS's documented defaults per account and Region, \
         shared with every other caller in the account (Service Quotas shows yours).\n"
    );
    let _ = writeln!(
        out,
        "| function | quota | calls/s | first | steady per 1,000 | met at new sandboxes/s | met at warm sandboxes | met at requests/s | burst from idle (calls/s) | what moves it |"
    );
    let _ = writeln!(
        out,
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    let mut largest: BTreeMap<&str, &Row> = BTreeMap::new();
    for row in rows {
        let entry = largest.entry(row.function.as_str()).or_insert(row);
        if row.users > entry.users {
            *entry = row;
        }
    }
    let figure = |v: Option<f64>| v.map_or("never".to_owned(), |v| format!("{v:.0}"));
    for row in largest.values() {
        for quota in &QUOTAS {
            let sum = |calls: &BTreeMap<String, usize>| -> usize {
                calls
                    .iter()
                    .filter(|(op, _)| quota_of(op).is_some_and(|q| q.name == quota.name))
                    .map(|(_, n)| n)
                    .sum()
            };
            let (first_half, steady) = (sum(&row.first_half), sum(&row.steady));
            if first_half + steady == 0 {
                continue;
            }
            let steady_rate = steady as f64 / row.steady_requests.max(1) as f64;
            let first = (first_half as f64 - steady_rate * row.first_half_requests as f64).max(0.0);
            let met = ceiling(quota, first, steady_rate * 1000.0);
            let published = quota.per_second.is_some();
            let shown = |v: Option<f64>| {
                if published {
                    figure(v)
                } else {
                    "n/a".to_owned()
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {first:.1} | {:.2} | {} | {} | {} | {:.0} | {} |",
                row.function,
                quota.name,
                quota
                    .per_second
                    .map_or("not published".to_owned(), |q| format!("{q:.0}")),
                steady_rate * 1000.0,
                shown(met.new_sandboxes_per_second),
                shown(met.concurrency),
                shown(met.requests_per_second),
                first * NEW_SANDBOXES_PER_SECOND,
                quota.what_raises_it,
            );
        }
    }
}
