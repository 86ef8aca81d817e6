//! `coldstart`: cold start, peak RSS, warm latency and size of the functions, beside the Python
//! baseline (`bench/python` under `awslambdaric`), in one run against a seeded moto.
//!
//! ```text
//! coldstart [--profile release|debug] [--functions a,b] [--spawns N] [--warm N]
//!           [--python PATH] [--out FILE] [--plot SVG] [--command TEXT] [--include TITLE=FILE]...
//!           [--section TITLE=FILE]... [--payloads MB,MB,...] [--payload-repeats N]
//!           [--payload-processes N]
//! ```
//! `make bench` runs it on the release binaries and writes `BENCHMARKS.md`; `make test` runs a
//! smoke of it (tests/tests/coldstart_smoke.rs).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use suite_tests::coldstart::{
    measure, payload_memory, quantile, Measured, PayloadSample, Runtime, Subject,
};
use suite_tests::{repo_root, write_report, SeededMoto};

/// The functions and the documented event each is measured with.
const FUNCTIONS: [(&str, &str); 3] = [
    ("secure-config", "secure-config-get-db-credentials.json"),
    ("data-masking", "data-masking-sample-users.json"),
    (
        "multi-tenant-query",
        "multi-tenant-query-tenant-a-user-001.json",
    ),
];

/// Every function binary, measured for size (loadtest has no cold-start subject: its behaviour,
/// a fan-out of Lambda workers signing in to Cognito, has no baseline under this harness).
const BINARIES: [&str; 4] = [
    "secure-config",
    "data-masking",
    "multi-tenant-query",
    "loadtest",
];

struct Options {
    profile: String,
    functions: Vec<String>,
    spawns: usize,
    warm: usize,
    python: Option<PathBuf>,
    out: Option<PathBuf>,
    /// Where the SVG of the cold-start distributions goes (linked from the report).
    plot: Option<PathBuf>,
    command: String,
    includes: Vec<(String, PathBuf)>,
    /// Markdown written by another tool, included as it is.
    sections: Vec<(String, PathBuf)>,
    /// data-masking request sizes (bytes) whose peak RSS is measured, and how often each is sent.
    payloads: Vec<usize>,
    payload_repeats: usize,
    payload_processes: usize,
}

fn parse_args() -> Result<Options> {
    let mut options = Options {
        profile: "release".into(),
        functions: FUNCTIONS.iter().map(|(f, _)| (*f).to_owned()).collect(),
        spawns: 20,
        warm: 1000,
        python: None,
        out: None,
        plot: None,
        command: String::new(),
        includes: Vec::new(),
        sections: Vec::new(),
        payloads: vec![100_000, 1_000_000, 3_000_000, 6_000_000],
        payload_repeats: 5,
        payload_processes: 3,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--profile" => options.profile = value()?,
            "--functions" => {
                options.functions = value()?.split(',').map(str::to_owned).collect();
            }
            "--spawns" => options.spawns = value()?.parse().context("--spawns")?,
            "--warm" => options.warm = value()?.parse().context("--warm")?,
            "--python" => options.python = Some(PathBuf::from(value()?)),
            "--out" => options.out = Some(PathBuf::from(value()?)),
            "--plot" => options.plot = Some(PathBuf::from(value()?)),
            "--command" => options.command = value()?,
            "--include" | "--section" => {
                let text = value()?;
                let (title, path) = text
                    .split_once('=')
                    .with_context(|| format!("{flag} takes TITLE=FILE"))?;
                let entry = (title.to_owned(), PathBuf::from(path));
                if flag == "--include" {
                    options.includes.push(entry);
                } else {
                    options.sections.push(entry);
                }
            }
            "--payloads" => {
                let text = value()?;
                options.payloads = if text.is_empty() {
                    Vec::new()
                } else {
                    text.split(',')
                        .map(|mb| {
                            let mb: f64 =
                                mb.trim().parse().context("--payloads takes MB figures")?;
                            Ok((mb * 1e6) as usize)
                        })
                        .collect::<Result<_>>()?
                };
            }
            "--payload-processes" => {
                options.payload_processes = value()?.parse().context("--payload-processes")?;
            }
            "--payload-repeats" => {
                options.payload_repeats = value()?.parse().context("--payload-repeats")?;
            }
            other => bail!("unknown argument {other}"),
        }
    }
    if options.spawns == 0 {
        bail!("--spawns must be at least 1");
    }
    for function in &options.functions {
        if !FUNCTIONS.iter().any(|(f, _)| f == function) {
            bail!("unknown function {function}");
        }
    }
    Ok(options)
}

fn main() -> Result<()> {
    let options = parse_args()?;
    let stack = SeededMoto::start("coldstart")?;
    let env = stack.function_env()?;
    let target = repo_root().join("target").join(&options.profile);
    let mut results: Vec<Measured> = Vec::new();
    for function in &options.functions {
        let event_file = FUNCTIONS
            .iter()
            .find(|(f, _)| f == function)
            .map(|(_, e)| repo_root().join("events").join(e))
            .context("unknown function")?;
        let event = std::fs::read_to_string(&event_file)
            .with_context(|| format!("reading {}", event_file.display()))?;
        let mut subjects = vec![Subject::rust(
            function,
            &target.join(function),
            env.clone(),
            &event,
        )?];
        if let Some(python) = &options.python {
            subjects.push(Subject::python(function, python, env.clone(), &event)?);
        }
        for subject in &subjects {
            eprintln!(
                "==> {function} ({}): {} cold starts, {} warm invokes",
                subject.runtime.label(),
                options.spawns,
                options.warm
            );
            let measured = measure(subject, &stack, options.spawns, options.warm, &stack.dir)?;
            eprintln!("{}", one_line(&measured));
            results.push(measured);
        }
    }
    let payloads =
        if options.functions.iter().any(|f| f == "data-masking") && !options.payloads.is_empty() {
            eprintln!("==> data-masking: peak RSS by request size");
            payload_memory(
                &target.join("data-masking"),
                env.clone(),
                &options.payloads,
                options.payload_repeats,
                options.payload_processes,
                &stack.dir,
            )?
        } else {
            Vec::new()
        };
    let mut report = render(&options, &results, &target)?;
    render_payloads(&mut report, &options, &results, &payloads);
    write_report(options.out.as_deref(), &report)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn one_line(m: &Measured) -> String {
    let inits: Vec<Duration> = m.cold.iter().map(|c| c.init).collect();
    let invokes: Vec<Duration> = m.cold.iter().map(|c| c.invoke).collect();
    let rss: Vec<u64> = m.cold.iter().map(|c| c.peak_rss_kib).collect();
    let mut line = format!(
        "    init median {:.1} ms, cold invoke median {:.1} ms p90 {:.1} ms, VmHWM median {:.1} MiB",
        quantile(&inits, 0.5).map_or(f64::NAN, ms),
        quantile(&invokes, 0.5).map_or(f64::NAN, ms),
        quantile(&invokes, 0.9).map_or(f64::NAN, ms),
        quantile(&rss, 0.5).map_or(f64::NAN, mib),
    );
    if let Some(warm) = &m.warm {
        let _ = write!(
            line,
            "; warm p50 {:.3} ms p99 {:.3} ms, RSS {:.1} -> {:.1} MiB",
            quantile(&warm.latencies, 0.5).map_or(f64::NAN, ms),
            quantile(&warm.latencies, 0.99).map_or(f64::NAN, ms),
            mib(warm.rss_before_kib),
            mib(warm.rss_after_kib),
        );
    }
    line
}

fn find<'a>(results: &'a [Measured], function: &str, runtime: Runtime) -> Option<&'a Measured> {
    results
        .iter()
        .find(|m| m.function == function && m.runtime == runtime)
}

fn fmt_opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.decimals$}"))
}

fn ratio(baseline: Option<f64>, ours: Option<f64>) -> String {
    match (baseline, ours) {
        (Some(b), Some(o)) if o > 0.0 => format!("{:.1}×", b / o),
        _ => "–".to_owned(),
    }
}

/// A table of one cold-start measure: ours and the baseline (median, p90) and the ratio of medians.
fn cold_table(
    out: &mut String,
    results: &[Measured],
    functions: &[String],
    unit: &str,
    pick: impl Fn(&Measured) -> Vec<f64>,
) {
    let _ = writeln!(
        out,
        "| function | ours median ({unit}) | ours p90 | Python median ({unit}) | Python p90 | Python ÷ ours (median) |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for function in functions {
        let stats = |runtime| {
            find(results, function, runtime).map(|m| {
                let mut values = pick(m);
                values.sort_by(f64::total_cmp);
                let at = |q: f64| {
                    let rank = (q * values.len() as f64).ceil() as usize;
                    values.get(rank.saturating_sub(1)).copied()
                };
                (at(0.5), at(0.9))
            })
        };
        let (ours_median, ours_p90) = stats(Runtime::Rust).unwrap_or((None, None));
        let (py_median, py_p90) = stats(Runtime::Python).unwrap_or((None, None));
        let _ = writeln!(
            out,
            "| {function} | {} | {} | {} | {} | {} |",
            fmt_opt(ours_median, 1),
            fmt_opt(ours_p90, 1),
            fmt_opt(py_median, 1),
            fmt_opt(py_p90, 1),
            ratio(py_median, ours_median)
        );
    }
}

fn shell(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Size of the binary and of a zip holding it as `bootstrap` (as Lambda's custom runtime wants).
fn sizes(binary: &Path, scratch: &Path) -> (Option<u64>, Option<u64>) {
    let size = std::fs::metadata(binary).ok().map(|m| m.len());
    let dir = scratch.join("zip");
    let zip = (|| -> Option<u64> {
        std::fs::create_dir_all(&dir).ok()?;
        let bootstrap = dir.join("bootstrap");
        std::fs::copy(binary, &bootstrap).ok()?;
        let archive = dir.join("bootstrap.zip");
        let _ = std::fs::remove_file(&archive);
        let status = Command::new("zip")
            .args(["-q", "-9", "-j"])
            .arg(&archive)
            .arg(&bootstrap)
            .status()
            .ok()?;
        if !status.success() {
            return None;
        }
        std::fs::metadata(&archive).ok().map(|m| m.len())
    })();
    (size, zip)
}

fn render(options: &Options, results: &[Measured], target: &Path) -> Result<String> {
    let mut out = String::new();
    let functions = &options.functions;
    let nproc = std::thread::available_parallelism().map_or(0, usize::from);
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Written by `{}` on {} — machine: {nproc} CPUs ({}), {}.\n",
        if options.command.is_empty() {
            "coldstart"
        } else {
            &options.command
        },
        shell("date", &["-u", "+%Y-%m-%d %H:%M UTC"]),
        cpu_model(),
        shell("uname", &["-sr"]),
    );
    let _ = writeln!(
        out,
        "Loopback only: the AWS endpoint is a seeded `moto_server` (6-10 ms per call, no keep-alive), \
         the Lambda Runtime API is the harness in `tests/src/runtime_api.rs`. Each cold start spawns a \
         fresh process as Lambda would (`AWS_LAMBDA_*` set, `AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128`, \
         no CPU or memory limit applied), serves one event and holds the next `/next`. Memory is \
         read then, once the process runs no thread but its main one (ours read the TLS root \
         certificates on a thread of their own at start: 0.4 MiB at its peak). Ours: \
         the `{}` binaries in `target/{}`. Python baseline: `bench/python` (plain boto3 handlers) run \
         by `awslambdaric` from `bench/requirements.txt`. Timings on a shared machine are noisy: \
         compare the two runtimes within one run, not across runs.\n",
        options.profile, options.profile
    );
    let _ = writeln!(
        out,
        "Events: {}.\n",
        functions
            .iter()
            .filter_map(|f| FUNCTIONS.iter().find(|(name, _)| name == f))
            .map(|(f, e)| format!("{f} `events/{e}`"))
            .collect::<Vec<_>>()
            .join(", ")
    );

    let spawns = options.spawns;
    let _ = writeln!(
        out,
        "## Cold invoke: spawn → response, its AWS calls included ({spawns} spawns each)\n"
    );
    cold_table(&mut out, results, functions, "ms", |m| {
        m.cold.iter().map(|c| ms(c.invoke)).collect()
    });
    if let Some(plot) = &options.plot {
        suite_tests::plot::cold_start_svg(results, plot)?;
        let _ = writeln!(
            out,
            "\n![Cold invoke per spawn, ours and the Python baseline]({})",
            plot.display()
        );
    }
    let _ = writeln!(
        out,
        "\n## Init: spawn → first `GET /runtime/invocation/next` ({spawns} spawns each)\n"
    );
    cold_table(&mut out, results, functions, "ms", |m| {
        m.cold.iter().map(|c| ms(c.init)).collect()
    });
    let _ = writeln!(
        out,
        "\n## Peak RSS after the cold invoke: `VmHWM` of the function process ({spawns} spawns each)\n"
    );
    cold_table(&mut out, results, functions, "MiB", |m| {
        m.cold.iter().map(|c| mib(c.peak_rss_kib)).collect()
    });

    if options.warm > 0 {
        let _ = writeln!(
            out,
            "\n## Warm: {} invokes against one process (event queued → response)\n",
            options.warm
        );
        let _ = writeln!(
            out,
            "| function | runtime | p50 (ms) | p99 (ms) | RSS before → after (MiB) | VmHWM after (MiB) | AWS calls, cold invoke | AWS calls, warm invoke |"
        );
        let _ = writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: | --- | --- |");
        for function in functions {
            for runtime in [Runtime::Rust, Runtime::Python] {
                let Some(warm) = find(results, function, runtime).and_then(|m| m.warm.as_ref())
                else {
                    continue;
                };
                let ops = |o: &[String]| {
                    if o.is_empty() {
                        "none".to_owned()
                    } else {
                        o.join(", ")
                    }
                };
                let _ = writeln!(
                    out,
                    "| {function} | {} | {} | {} | {:.1} → {:.1} | {:.1} | {} | {} |",
                    runtime.label(),
                    fmt_opt(quantile(&warm.latencies, 0.5).map(ms), 3),
                    fmt_opt(quantile(&warm.latencies, 0.99).map(ms), 3),
                    mib(warm.rss_before_kib),
                    mib(warm.rss_after_kib),
                    mib(warm.peak_rss_after_kib),
                    ops(&warm.cold_operations),
                    ops(&warm.warm_operations),
                );
            }
        }
        let _ = writeln!(
            out,
            "\nWarm ratios (Python p50 ÷ ours): {}. Ours serves secrets from its cache with a TTL; the \
             baseline caches like the labs (module-level, no TTL). Where both call AWS on every \
             invoke, moto's latency dominates both.",
            functions
                .iter()
                .map(|f| {
                    let p50 = |r| {
                        find(results, f, r)
                            .and_then(|m| m.warm.as_ref())
                            .and_then(|w| quantile(&w.latencies, 0.5))
                            .map(ms)
                    };
                    format!("{f} {}", ratio(p50(Runtime::Python), p50(Runtime::Rust)))
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
    }

    let scratch = target.join("bench");
    let _ = writeln!(out, "\n## Size (x86_64, `target/{}`)\n", options.profile);
    let _ = writeln!(
        out,
        "| function | binary (bytes) | binary (MB) | zip of `bootstrap`, `zip -9` (MB) |"
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: |");
    for function in BINARIES {
        let (size, zip) = sizes(&target.join(function), &scratch);
        let _ = writeln!(
            out,
            "| {function} | {} | {} | {} |",
            size.map_or_else(|| "–".into(), |s| s.to_string()),
            fmt_opt(size.map(|s| s as f64 / 1e6), 2),
            fmt_opt(zip.map(|s| s as f64 / 1e6), 2),
        );
    }
    let _ = writeln!(
        out,
        "\nBinaries of the `{}` profile (the release profile strips symbols, fat LTO, one codegen \
         unit), built for this machine (x86_64), not the arm64 build `sam build` deploys; the zip \
         holds the binary as `bootstrap`, as a custom runtime wants. The Python baseline's code \
         is a few kB; boto3 comes with Lambda's Python runtime.",
        options.profile
    );

    for (title, path) in &options.includes {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let _ = writeln!(out, "\n## {title}\n\n```text\n{}\n```", text.trim_end());
    }
    for (title, path) in &options.sections {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let _ = writeln!(out, "\n## {title}\n\n{}", text.trim_end());
    }
    Ok(out)
}

/// data-masking's peak RSS per request size against its bound: 3x the payload plus the
/// cold-start peak measured in this run.
fn render_payloads(
    out: &mut String,
    options: &Options,
    results: &[Measured],
    payloads: &[PayloadSample],
) {
    if payloads.is_empty() {
        return;
    }
    let baseline_kib = results
        .iter()
        .find(|m| m.function == "data-masking" && m.runtime == Runtime::Rust)
        .and_then(|m| {
            let peaks: Vec<u64> = m.cold.iter().map(|c| c.peak_rss_kib).collect();
            quantile(&peaks, 0.5)
        });
    let mib = |kib: u64| kib as f64 / 1024.0;
    let _ = writeln!(
        out,
        "\n## data-masking: peak RSS by request size\n\n\
         {} fresh release processes per size each served a direct event of 1 kB of customer \
         records (short string fields and a small nested array, default detection), then one of \
         the size {} times, `MAX_BODY_BYTES=6000000`; `VmHWM` read after the 1 kB request (the \
         process's own baseline) and once it idled again (the peak), each time with its start-up \
         thread ended; medians over the processes. Bound: 3 × the payload + the \
         cold-start peak above ({}); the own-baseline column takes out what masking anything \
         costs (this sandbox counts the binary's resident code pages in RSS, and masking touches \
         code a cold start does not); the code column is how much more of the binary became \
         resident (`RssFile`) after the 1 kB request, part of the peak. MB/s: the payload over the fastest invocation, event \
         queued → answer, through the harness. An answer over Lambda's 6 MB response limit is a \
         413 (the records travel back escaped, and these records are a fifth quotes), so the \
         largest request answered whole is nearer 5 MB.\n",
        options.payload_processes,
        options.payload_repeats,
        baseline_kib.map_or("not measured".to_owned(), |b| format!("{:.1} MiB", mib(b))),
    );
    let _ = writeln!(
        out,
        "| payload (MB) | records | answer | after 1 kB (MiB) | peak RSS (MiB) | of it, code touched since 1 kB (MiB) | (peak − cold-start peak) / payload | (peak − after 1 kB) / payload | bound (MiB) | within | invocation (MB/s) |"
    );
    let _ = writeln!(
        out,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |"
    );
    for sample in payloads {
        let payload_mib = sample.payload_bytes as f64 / (1024.0 * 1024.0);
        let bound = baseline_kib.map(|b| 3.0 * payload_mib + mib(b));
        let peak = mib(sample.peak_rss_kib);
        let per_payload =
            |base: f64| format!("{:.1}×", (peak - base) / payload_mib.max(f64::MIN_POSITIVE));
        let _ = writeln!(
            out,
            "| {:.1} | {} | {} | {:.1} | {peak:.1} | {:.2} | {} | {} | {} | {} | {:.1} |",
            sample.payload_bytes as f64 / 1e6,
            sample.records,
            match sample.status {
                413 => "413 `ResponseTooLarge`".to_owned(),
                other => other.to_string(),
            },
            mib(sample.baseline_rss_kib),
            mib(sample.code_growth_kib),
            baseline_kib.map_or("-".to_owned(), |b| per_payload(mib(b))),
            per_payload(mib(sample.baseline_rss_kib)),
            bound.map_or("-".to_owned(), |b| format!("{b:.1}")),
            bound.map_or("-", |b| if peak <= b { "yes" } else { "**no**" }),
            sample.payload_bytes as f64 / 1e6 / sample.best.as_secs_f64().max(1e-9),
        );
    }
}
