//! The mutant sweep: every deliberate client bug (crate `aiozk-mutants`), each run with the
//! workload and nemesis meant to expose it. A mutant is caught when its run reports at
//! least one violation.

use std::path::Path;
use std::process::{Command, Stdio};

/// How to catch each mutant: workload, nemesis, and extra run options.
const PLANS: &[(&str, &str, &str, &[&str])] = &[
    ("no-set-watches", "watch", "rolling", &[]),
    ("set-watches-zero-zxid", "watch", "rolling", &[]),
    ("drop-pending", "register", "partitions", &[]),
    ("complete-with-success", "register", "partitions", &[]),
    (
        "ignore-session-timeout",
        "lock",
        "isolate-client",
        &[
            "--session-timeout-ms",
            "6000",
            "--server-max-session-ms",
            "2000",
        ],
    ),
    ("create-loss-is-failure", "ids", "proxy-cut", &[]),
    ("lock-no-suspend-loss", "lock", "isolate-client", &[]),
    ("fence-no-check", "lock", "client-pause", &[]),
    ("lock-no-recheck", "lock", "none", &[]),
    ("counter-no-version", "counter", "none", &[]),
    ("counter-blind-retry", "counter", "proxy-cut", &[]),
    ("queue-complete-gone-ok", "queue", "client-pause", &[]),
];

/// Seeds tried per mutant before it counts as escaped.
const ATTEMPTS: u64 = 5;

/// One run with the mutant on; its exit code and summary line.
#[allow(clippy::too_many_arguments)]
fn run_one(
    exe: &Path,
    name: &str,
    workload: &str,
    nemesis: &str,
    extra: &[&str],
    seed: u64,
    duration: u64,
    out: &Path,
) -> (Option<i32>, String) {
    let status = Command::new(exe)
        .arg("run")
        .arg("--seed")
        .arg(seed.to_string())
        .arg("--duration")
        .arg(duration.to_string())
        .args([
            "--workload",
            workload,
            "--nemesis",
            nemesis,
            "--mutant",
            name,
        ])
        .arg("--out")
        .arg(out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .output();
    match status {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let summary = text
                .lines()
                .rev()
                .find(|l| l.starts_with("proof: "))
                .unwrap_or("(no summary)")
                .to_owned();
            (o.status.code(), summary)
        }
        Err(e) => (None, format!("could not run: {e}")),
    }
}

/// Switches mutant `name` on for this process.
#[cfg(feature = "mutants")]
pub(crate) fn activate(name: &str) -> Result<(), String> {
    aiozk_mutants::activate(name)
}

#[cfg(not(feature = "mutants"))]
pub(crate) fn activate(name: &str) -> Result<(), String> {
    Err(format!(
        "mutant {name:?} needs a build with the `mutants` feature (scripts/proof.sh --mutant does that)"
    ))
}

#[cfg(feature = "mutants")]
fn known() -> Vec<&'static str> {
    aiozk_mutants::MUTANTS.iter().map(|(n, _)| *n).collect()
}

#[cfg(not(feature = "mutants"))]
fn known() -> Vec<&'static str> {
    Vec::new()
}

/// Runs every mutant (or those named in `only`); prints `mutants caught: K of M`. Exits
/// non-zero unless every mutant was caught.
pub(crate) fn sweep(duration: u64, out: &Path, only: Option<&str>) -> u8 {
    let names = known();
    if names.is_empty() {
        eprintln!("proof: this build has no mutants (build with --features mutants)");
        return 2;
    }
    let wanted: Vec<&str> = match only {
        Some(list) => list.split(',').map(str::trim).collect(),
        None => names.clone(),
    };
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("proof: cannot find this program");
        return 2;
    };
    let started = std::time::Instant::now();
    let (mut caught, mut total) = (0, 0);
    for name in names.iter().filter(|n| wanted.contains(n)) {
        total += 1;
        let Some((_, workload, nemesis, extra)) = PLANS.iter().find(|p| p.0 == *name) else {
            println!("mutant {name}: no plan to catch it");
            continue;
        };
        // A fault has to hit the right moment: a mutant gets up to five seeds.
        let mut was_caught = false;
        let mut summary = String::new();
        for seed in 1..=ATTEMPTS {
            let (code, text) = run_one(&exe, name, workload, nemesis, extra, seed, duration, out);
            summary = text;
            if code == Some(1) && !summary.ends_with("violations=0") {
                was_caught = true;
                break;
            }
        }
        if was_caught {
            caught += 1;
        }
        println!(
            "mutant {name}: {} by {workload}/{nemesis} ({summary})",
            if was_caught { "caught" } else { "NOT caught" }
        );
    }
    println!("mutant sweep took {} s", started.elapsed().as_secs());
    println!("mutants caught: {caught} of {total}");
    u8::from(caught != total)
}
