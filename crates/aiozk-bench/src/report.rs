//! Figures from the samples, and the Markdown report.

use std::fmt::Write;

use serde_json::Value;

use crate::options::{Options, CLIENTS};
use crate::sample::Sample;
use crate::workload::WORKLOADS;

/// A figure derived from one sample.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Metric {
    /// Operations per second.
    OpsPerSec,
    /// Client CPU (user + system), ms per 1,000 operations.
    CpuPer1k,
    /// Median latency, µs.
    P50,
    /// 99th percentile latency, µs.
    P99,
    /// Peak resident memory of the client process, MB.
    PeakMb,
    /// Server CPU, ms per 1,000 operations.
    ServerPer1k,
    /// Heap bytes per item (per watch: beyond the path).
    HeapPerItem,
    /// Resident bytes per item (per watch: beyond the path).
    RssPerItem,
    /// From the loss of the connection to the first reply after re-registration, ms.
    RecoverMs,
    /// From the reconnection to the first reply after re-registration, ms.
    ReregMs,
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k).and_then(Value::as_f64)
}

/// The value of `m` for one sample's figures.
pub fn metric(v: &Value, m: Metric) -> Option<f64> {
    if v.get("failed").is_some() || v.get("unsupported").is_some() {
        return None;
    }
    let ops = f(v, "ops").filter(|&o| o > 0.0);
    let per_watch = |x: f64| {
        let is_watch = matches!(
            v.get("workload").and_then(Value::as_str),
            Some("watches" | "pwatches")
        );
        if is_watch {
            x - f(v, "path_len").unwrap_or(0.0)
        } else {
            x
        }
    };
    match m {
        Metric::OpsPerSec => Some(ops? / f(v, "elapsed_s")?),
        Metric::CpuPer1k => Some(f(v, "cpu_s")? * 1e6 / ops?),
        Metric::P50 => f(v, "p50_us"),
        Metric::P99 => f(v, "p99_us"),
        Metric::PeakMb => Some(f(v, "peak_rss")? / 1_048_576.0),
        Metric::ServerPer1k => Some(f(v, "server_cpu_s")? * 1e6 / ops?),
        Metric::HeapPerItem => f(v, "heap_per_item").map(per_watch),
        Metric::RssPerItem => f(v, "rss_per_item").map(per_watch),
        Metric::RecoverMs => f(v, "recover_ms"),
        Metric::ReregMs => f(v, "rereg_ms"),
    }
}

/// Median, min and max.
#[derive(Clone, Copy, Debug)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Number of values.
    pub n: usize,
}

/// Median and spread of `m` over the samples of (client, workload).
pub fn stat(samples: &[Sample], client: &str, workload: &str, m: Metric) -> Option<Stat> {
    let mut xs: Vec<f64> = samples
        .iter()
        .filter(|s| s.client == client && s.workload == workload)
        .filter_map(|s| metric(&s.figures, m))
        .collect();
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    let median = if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    };
    Some(Stat {
        median,
        min: xs[0],
        max: xs[n - 1],
        n,
    })
}

fn num(x: f64) -> String {
    let a = x.abs();
    if a >= 10_000.0 {
        let s = format!("{:.0}", x);
        // Thousands separators.
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell(s: Option<Stat>) -> String {
    match s {
        None => "–".into(),
        Some(s) if s.n == 1 => num(s.median),
        Some(s) => format!("{} ({}–{})", num(s.median), num(s.min), num(s.max)),
    }
}

/// A short line for the progress output.
pub fn one_line(v: &Value) -> String {
    if let Some(e) = v.get("failed") {
        return format!("FAILED: {e}");
    }
    if let Some(e) = v.get("unsupported") {
        return format!("unsupported: {e}");
    }
    let mut s = String::new();
    let get = |m| metric(v, m).map(num).unwrap_or_else(|| "-".into());
    let _ = write!(
        s,
        "{} ops/s, {} ms CPU/1k, p50 {} µs, p99 {} µs, server {} ms/1k",
        get(Metric::OpsPerSec),
        get(Metric::CpuPer1k),
        get(Metric::P50),
        get(Metric::P99),
        get(Metric::ServerPer1k)
    );
    if v.get("heap_per_item").is_some() || v.get("rss_per_item").is_some() {
        let _ = write!(
            s,
            ", heap {} B/item, rss {} B/item",
            get(Metric::HeapPerItem),
            get(Metric::RssPerItem)
        );
    }
    if let Some(e) = v.get("recover_error") {
        let _ = write!(s, ", no recovery: {e}");
    }
    if v.get("recover_ms").is_some() {
        let _ = write!(
            s,
            ", recover {} ms, rereg {} ms",
            get(Metric::RecoverMs),
            get(Metric::ReregMs)
        );
    }
    if let Some(e) = v.get("errors").and_then(Value::as_u64).filter(|&e| e > 0) {
        let _ = write!(s, ", {e} errors: {}", v["first_error"]);
    }
    s
}

fn workload_desc(w: &str) -> &str {
    WORKLOADS.iter().find(|x| x.0 == w).map_or(w, |x| x.1)
}

const TIMED: &[&str] = &[
    "get1",
    "get100",
    "exists100",
    "set100",
    "create_delete100",
    "children10k",
    "get1mb",
    "children100",
    "spread_get1",
    "spread_get3",
];

fn table(
    md: &mut String,
    title: &str,
    workloads: &[&str],
    clients: &[String],
    samples: &[Sample],
    m: Metric,
) {
    let _ = writeln!(md, "### {title}\n");
    let _ = writeln!(md, "| workload | {} |", clients.join(" | "));
    let _ = writeln!(md, "|---|{}", "---|".repeat(clients.len()));
    for w in workloads {
        let cells: Vec<String> = clients
            .iter()
            .map(|c| cell(stat(samples, c, w, m)))
            .collect();
        let _ = writeln!(md, "| {} | {} |", workload_desc(w), cells.join(" | "));
    }
    md.push('\n');
}

fn ratio(samples: &[Sample], peer: &str, w: &str, m: Metric) -> Option<f64> {
    ratio_of(samples, "ours", peer, w, m)
}

/// `client`'s median of `m` over `peer`'s.
fn ratio_of(samples: &[Sample], client: &str, peer: &str, w: &str, m: Metric) -> Option<f64> {
    let ours = stat(samples, client, w, m)?.median;
    let theirs = stat(samples, peer, w, m)?.median;
    (theirs > 0.0).then(|| ours / theirs)
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

/// The whole report.
pub fn markdown(
    opts: &Options,
    clients: &[String],
    samples: &[Sample],
    machine: &Value,
    notes: &[String],
) -> String {
    let mut md = String::new();
    let present = |w: &&str| opts.workloads.iter().any(|x| x == w);
    let timed: Vec<&str> = TIMED.iter().copied().filter(present).collect();
    let _ = writeln!(md, "# Benchmark: aiozk and other ZooKeeper clients\n");
    let _ = writeln!(
        md,
        "Written by `scripts/bench.sh{}` ({}). Every figure is the median of {} runs, with the \
         smallest and largest in brackets; the runs of all clients are interleaved, each in its \
         own process, against the same server.\n",
        if opts.quick { " --quick" } else { "" },
        machine["date"].as_str().unwrap_or(""),
        opts.rounds
    );
    if opts.quick {
        let _ = writeln!(
            md,
            "**Quick mode: tiny counts and one round. These figures prove the harness runs; \
             they measure nothing.**\n"
        );
    }
    let _ = writeln!(md, "## Machine and method\n");
    let _ = writeln!(md, "| | |\n|---|---|");
    if let Some(obj) = machine.as_object() {
        for (k, v) in obj {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let _ = writeln!(md, "| {k} | {v} |");
        }
    }
    let _ = writeln!(
        md,
        "\nOne standalone ZooKeeper server (`forceSync=no`, started by `aiozk-testkit`){}. \
         Timed workloads run {} s per run; sessions: {} per run; watches: {} per run; \
         get_children: {} children. The JVM is warmed up for {} s first.\n",
        if machine["pinned"].as_bool() == Some(true) {
            " pinned to CPU 0 with the harness; each client process pinned to CPU 1"
        } else {
            ", nothing pinned"
        },
        opts.seconds,
        opts.sessions,
        opts.watches,
        opts.children,
        opts.warmup_seconds
    );
    let _ = writeln!(md, "Clients:\n");
    for c in clients {
        if let Some(d) = CLIENTS.iter().find(|x| x.0 == c) {
            let _ = writeln!(md, "- `{c}`: {}", d.1);
        }
    }
    md.push('\n');
    for n in notes {
        let _ = writeln!(md, "Note: {n}\n");
    }

    let _ = writeln!(md, "## Results\n");
    table(
        &mut md,
        "Throughput (operations/s; higher is better)",
        &timed,
        clients,
        samples,
        Metric::OpsPerSec,
    );
    table(
        &mut md,
        "Client CPU, user + system, per 1,000 operations (ms; lower is better)",
        &timed,
        clients,
        samples,
        Metric::CpuPer1k,
    );
    let lat: Vec<&str> = ["get1", "children10k", "get1mb"]
        .into_iter()
        .filter(present)
        .collect();
    table(
        &mut md,
        "Latency p50 at 1 in flight (µs)",
        &lat,
        clients,
        samples,
        Metric::P50,
    );
    table(
        &mut md,
        "Latency p99 at 1 in flight (µs)",
        &lat,
        clients,
        samples,
        Metric::P99,
    );
    table(
        &mut md,
        "Server CPU per 1,000 operations (ms)",
        &timed,
        clients,
        samples,
        Metric::ServerPer1k,
    );
    let all: Vec<&str> = WORKLOADS.iter().map(|w| w.0).filter(present).collect();
    table(
        &mut md,
        "Client peak memory (MB, VmHWM)",
        &all,
        clients,
        samples,
        Metric::PeakMb,
    );

    let counted: Vec<&str> = ["sessions", "watches", "pwatches"]
        .into_iter()
        .filter(present)
        .collect();
    if !counted.is_empty() {
        table(
            &mut md,
            "Sessions and watches: registrations (or sessions) per second",
            &counted,
            clients,
            samples,
            Metric::OpsPerSec,
        );
        table(
            &mut md,
            "Client CPU per 1,000 sessions or watches (ms)",
            &counted,
            clients,
            samples,
            Metric::CpuPer1k,
        );
        table(&mut md, "Heap bytes per session, or per watch beyond its path (Rust clients: counted by the allocator)", &counted, clients, samples, Metric::HeapPerItem);
        table(
            &mut md,
            "Resident bytes per session, or per watch beyond its path (RSS growth)",
            &counted,
            clients,
            samples,
            Metric::RssPerItem,
        );
        let w: Vec<&str> = ["watches", "pwatches"]
            .into_iter()
            .filter(present)
            .collect();
        table(&mut md, "After a forced reconnect: from the connection loss to the first reply after re-registration (ms)", &w, clients, samples, Metric::RecoverMs);
        table(&mut md, "After a forced reconnect: from the reconnection to the first reply after re-registration (ms)", &w, clients, samples, Metric::ReregMs);
    }

    let peers: Vec<&String> = clients.iter().filter(|c| *c != "ours").collect();
    if clients.iter().any(|c| c == "ours") && !peers.is_empty() {
        let _ = writeln!(md, "## Ours as a ratio of each peer (medians)\n");
        let _ = writeln!(
            md,
            "Throughput: ours ÷ peer (above 1: we are faster). CPU: ours ÷ peer per operation \
             (below 1: we use less).\n"
        );
        let mut head = String::from("| workload |");
        let mut sep = String::from("|---|");
        for p in &peers {
            let _ = write!(head, " ops/s vs {p} | CPU/op vs {p} |");
            sep.push_str("---|---|");
        }
        let _ = writeln!(md, "{head}\n{sep}");
        for w in timed.iter().chain(counted.iter()) {
            let mut row = format!("| {} |", workload_desc(w));
            for p in &peers {
                let _ = write!(
                    row,
                    " {} | {} |",
                    fmt_ratio(ratio(samples, p, w, Metric::OpsPerSec)),
                    fmt_ratio(ratio(samples, p, w, Metric::CpuPer1k))
                );
            }
            let _ = writeln!(md, "{row}");
        }
        md.push('\n');
    }

    // The Python package against the Python library whose API it has, same event loop.
    let py_pairs: Vec<(&str, &str)> = [
        ("aiozk-rs", "aiozk-py"),
        ("aiozk-rs-uvloop", "aiozk-py-uvloop"),
    ]
    .into_iter()
    .filter(|(a, b)| clients.iter().any(|c| c == a) && clients.iter().any(|c| c == b))
    .collect();
    if !py_pairs.is_empty() {
        let _ = writeln!(
            md,
            "## The Python package (aiozk-rs) as a ratio of aiozk (medians)\n\n\
             Same workload code, same event loop; above 1: aiozk-rs is faster; CPU below 1: \
             aiozk-rs uses less.\n"
        );
        let mut head = String::from("| workload |");
        let mut sep = String::from("|---|");
        for (a, b) in &py_pairs {
            let _ = write!(head, " ops/s {a} ÷ {b} | CPU/op {a} ÷ {b} |");
            sep.push_str("---|---|");
        }
        let _ = writeln!(md, "{head}\n{sep}");
        for w in timed.iter().chain(counted.iter()) {
            let mut row = format!("| {} |", workload_desc(w));
            for (a, b) in &py_pairs {
                let _ = write!(
                    row,
                    " {} | {} |",
                    fmt_ratio(ratio_of(samples, a, b, w, Metric::OpsPerSec)),
                    fmt_ratio(ratio_of(samples, a, b, w, Metric::CpuPer1k))
                );
            }
            let _ = writeln!(md, "{row}");
        }
        md.push('\n');
    }

    if clients.iter().any(|c| c == "ours") || !py_pairs.is_empty() {
        targets(&mut md, samples, &timed);
    }

    let failures: Vec<String> = samples
        .iter()
        .filter_map(|s| {
            let (what, e) = match (
                s.figures
                    .get("failed")
                    .or_else(|| s.figures.get("unsupported")),
                s.figures.get("recover_error"),
            ) {
                (Some(e), _) => ("", e),
                (None, Some(e)) => ("did not recover after the forced reconnect: ", e),
                (None, None) => return None,
            };
            Some(format!(
                "- {} / {} (round {}): {what}{e}",
                s.client,
                s.workload,
                s.round + 1
            ))
        })
        .collect();
    if !failures.is_empty() {
        let _ = writeln!(md, "## Runs without figures, or without recovery\n");
        for f in failures {
            let _ = writeln!(md, "{f}");
        }
        md.push('\n');
    }
    md
}

fn targets(md: &mut String, samples: &[Sample], timed: &[&str]) {
    let _ = writeln!(md, "## Targets\n");
    let _ = writeln!(md, "| target | figures | met |\n|---|---|---|");
    let yes = |b: bool| if b { "yes" } else { "**no**" };
    coalescing_targets(md, samples);
    for (a, b) in [
        ("aiozk-rs", "aiozk-py"),
        ("aiozk-rs-uvloop", "aiozk-py-uvloop"),
    ] {
        let w = "get100";
        let (Some(ops), Some(cpu)) = (
            ratio_of(samples, a, b, w, Metric::OpsPerSec),
            ratio_of(samples, a, b, w, Metric::CpuPer1k),
        ) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| {a}: ≥ 3× {b}'s ops/s at 100 in flight ({}) | {ops:.2}× | {} |",
            workload_desc(w),
            yes(ops >= 3.0)
        );
        let _ = writeln!(
            md,
            "| {a}: ≤ ¼ of {b}'s CPU per operation at 100 in flight ({}) | {cpu:.2}× | {} |",
            workload_desc(w),
            yes(cpu <= 0.25)
        );
    }
    let has_zkc = samples.iter().any(|s| s.client == "zkc");
    if has_zkc {
        let ratios: Vec<(&str, Option<f64>)> = timed
            .iter()
            .chain(["sessions", "watches", "pwatches"].iter())
            .map(|w| (*w, ratio(samples, "zkc", w, Metric::OpsPerSec)))
            .filter(|(_, r)| r.is_some())
            .collect();
        let worst = ratios
            .iter()
            .filter_map(|(w, r)| r.map(|r| (w, r)))
            .min_by(|a, b| a.1.total_cmp(&b.1));
        if let Some((w, r)) = worst {
            let _ = writeln!(
                md,
                "| throughput ≥ zookeeper-client in every workload | lowest ratio {r:.2}× ({}) | {} |",
                workload_desc(w),
                yes(r >= 1.0)
            );
        }
        let cpu: Vec<(&str, f64)> = ["get100", "exists100", "set100", "create_delete100"]
            .into_iter()
            .filter_map(|w| Some((w, ratio(samples, "zkc", w, Metric::CpuPer1k)?)))
            .collect();
        if !cpu.is_empty() {
            let list: Vec<String> = cpu.iter().map(|(w, r)| format!("{w} {r:.2}×")).collect();
            let ok = cpu.iter().all(|(_, r)| *r <= 0.5);
            let _ = writeln!(
                md,
                "| client CPU per op ≤ ½ of zookeeper-client's at 100 in flight | {} | {} |",
                list.join(", "),
                yes(ok)
            );
        }
        for w in ["get1", "children10k", "get1mb"] {
            let (Some(a), Some(b)) = (
                ratio(samples, "zkc", w, Metric::P50),
                ratio(samples, "zkc", w, Metric::P99),
            ) else {
                continue;
            };
            let _ = writeln!(
                md,
                "| p50 and p99 ≤ zookeeper-client's at 1 in flight ({}) | p50 {a:.2}×, p99 {b:.2}× | {} |",
                workload_desc(w),
                yes(a <= 1.0 && b <= 1.0)
            );
        }
    }
    for (w, what) in [("watches", "one-shot"), ("pwatches", "persistent")] {
        if let Some(h) = stat(samples, "ours", w, Metric::HeapPerItem) {
            let _ = writeln!(
                md,
                "| < 64 bytes of client memory per {what} watch beyond the path | {:.0} B heap, {:.0} B resident | {} |",
                h.median,
                stat(samples, "ours", w, Metric::RssPerItem).map_or(f64::NAN, |s| s.median),
                yes(h.median < 64.0)
            );
        }
        if let Some(r) = stat(samples, "ours", w, Metric::ReregMs) {
            let _ = writeln!(
                md,
                "| {what} watches re-registered after a reconnect in < 1 s (every run) | {:.0} ms from the reconnection, at most {:.0} ms ({:.0} ms from the connection loss, which includes the random pause of up to 1 s before reconnecting) | {} |",
                r.median,
                r.max,
                stat(samples, "ours", w, Metric::RecoverMs).map_or(f64::NAN, |s| s.median),
                yes(r.max < 1000.0)
            );
        }
    }
    md.push('\n');
}

/// The targets of read coalescing: throughput and server CPU per read against
/// zookeeper-client and the Java client, and latency at 1 in flight against our client with
/// coalescing off.
fn coalescing_targets(md: &mut String, samples: &[Sample]) {
    let yes = |b: bool| if b { "yes" } else { "**no**" };
    let peers = [("zkc", "zookeeper-client"), ("java", "the Java client")];
    for (w, times) in [("get100", 5.0), ("children100", 3.0)] {
        for (peer, name) in peers {
            let Some(r) = ratio(samples, peer, w, Metric::OpsPerSec) else {
                continue;
            };
            let _ = writeln!(
                md,
                "| ≥ {times}× the ops/s of {name} ({}) | {r:.2}× | {} |",
                workload_desc(w),
                yes(r >= times)
            );
        }
    }
    for (peer, name) in peers {
        let Some(r) = ratio(samples, peer, "get100", Metric::ServerPer1k) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| server CPU per read ≤ 0.25× {name}'s ({}) | {r:.2}× | {} |",
            workload_desc("get100"),
            yes(r <= 0.25)
        );
    }
    for w in ["get1", "children10k", "get1mb"] {
        let (Some(a), Some(b)) = (
            ratio(samples, "ours-plain", w, Metric::P50),
            ratio(samples, "ours-plain", w, Metric::P99),
        ) else {
            continue;
        };
        let _ = writeln!(
            md,
            "| p50 and p99 no worse than with coalescing off ({}) | p50 {a:.2}×, p99 {b:.2}× | {} |",
            workload_desc(w),
            yes(a <= 1.0 && b <= 1.0)
        );
    }
}
