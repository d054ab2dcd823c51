//! The checkers: each reads the history (the workers' JSON lines), the fault log and the
//! final state, and reports violations (which fail the run) and figures.

mod counter;
mod ids;
mod lock;
mod queue;
mod register;
mod txnlog;
mod watch;
mod wgl;

use serde_json::Value;

use crate::Workload;

/// What a checker reads.
pub(crate) struct Input<'a> {
    pub(crate) workload: Workload,
    /// The workload of each worker, by worker id.
    pub(crate) roles: &'a [Workload],
    pub(crate) history: &'a [Value],
    pub(crate) faults: &'a [Value],
    pub(crate) final_state: &'a Value,
    pub(crate) session_timeout_ms: u64,
    /// Each member's directory (for the transaction logs).
    pub(crate) ensemble_dirs: Vec<std::path::PathBuf>,
}

impl Input<'_> {
    /// The history lines of workers of workload `w`.
    pub(crate) fn of(&self, w: Workload) -> Vec<&Value> {
        self.history
            .iter()
            .filter(|v| v["role"] == w.name())
            .collect()
    }

    /// The final state as the first member saw it.
    pub(crate) fn final_view(&self) -> &Value {
        &self.final_state["members"][0]
    }

    fn runs(&self, w: Workload) -> bool {
        self.roles.contains(&w)
    }
}

/// The outcome of checking one run.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) violations: Vec<(String, String)>,
    pub(crate) figures: Vec<(String, String)>,
    pub(crate) notes: Vec<String>,
}

impl Report {
    pub(crate) fn violation(&mut self, checker: &str, what: String) {
        self.violations.push((checker.to_owned(), what));
    }

    pub(crate) fn figure(&mut self, name: &str, value: impl ToString) {
        self.figures.push((name.to_owned(), value.to_string()));
    }

    pub(crate) fn note(&mut self, what: String) {
        self.notes.push(what);
    }

    /// The report with at most 30 violations (for the terminal).
    pub(crate) fn render(&self) -> String {
        self.render_at_most(30)
    }

    /// The whole report (for the run's directory).
    pub(crate) fn render_all(&self) -> String {
        self.render_at_most(usize::MAX)
    }

    fn render_at_most(&self, shown: usize) -> String {
        let mut out = String::new();
        for (name, value) in &self.figures {
            out.push_str(&format!("  {name}: {value}\n"));
        }
        for n in &self.notes {
            out.push_str(&format!("  note: {n}\n"));
        }
        for (checker, what) in self.violations.iter().take(shown) {
            out.push_str(&format!("  VIOLATION [{checker}] {what}\n"));
        }
        if self.violations.len() > shown {
            out.push_str(&format!(
                "  ... and {} more violations (all in report.txt)\n",
                self.violations.len() - shown
            ));
        }
        out
    }
}

/// Runs every checker that applies to the run.
pub(crate) fn run(input: &Input<'_>) -> Report {
    let mut report = Report::default();
    common(input, &mut report);
    if input.runs(Workload::Register) {
        register::check(input, &mut report);
    }
    if input.runs(Workload::Ids) {
        ids::check(input, &mut report);
    }
    if input.runs(Workload::Counter) {
        counter::check(input, &mut report);
    }
    if input.runs(Workload::Queue) {
        queue::check(input, &mut report);
    }
    if input.runs(Workload::Lock) || input.runs(Workload::Election) {
        lock::check(input, &mut report);
    }
    if input.runs(Workload::Watch) {
        watch::check(input, &mut report);
    }
    let _ = input.workload;
    report
}

/// Checks for every workload: no call hangs, every member ends with the same state.
fn common(input: &Input<'_>, report: &mut Report) {
    for v in input.history {
        if v["type"] == "op" && v["r"] == "hang" {
            report.violation(
                "liveness",
                format!(
                    "worker {} {} did not complete within {} s",
                    v["w"],
                    v["f"],
                    crate::worker::OP_LIMIT.as_secs()
                ),
            );
        }
    }
    let members = input.final_state["members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, view) in members.iter().enumerate() {
        if view.get("error").is_some() {
            report.violation(
                "final-read",
                format!("member {i} could not be read: {view}"),
            );
        } else if i > 0 && *view != members[0] {
            report.violation(
                "final-read",
                format!("member {i} disagrees with member 0 after healing"),
            );
        }
    }
    let ops = input.history.iter().filter(|v| v["type"] == "op").count();
    let info = input
        .history
        .iter()
        .filter(|v| v["type"] == "op" && v["r"] == "info")
        .count();
    report.figure("operations", ops);
    report.figure("indeterminate", info);
    let sessions: std::collections::HashSet<String> = input
        .history
        .iter()
        .filter(|v| v["type"] == "ev" && (v["ev"] == "connected" || v["ev"] == "session"))
        .map(|v| format!("{}:{}", v["w"], v["sid"]))
        .collect();
    report.figure("sessions", sessions.len());
    let faults: Vec<String> = input
        .faults
        .iter()
        .map(|f| {
            let mut s = f["kind"].as_str().unwrap_or("?").to_owned();
            if f.get("error").is_some() {
                s.push_str("(failed)");
            }
            s
        })
        .collect();
    report.figure("faults", faults.join(" "));
    for f in input.faults {
        if let Some(e) = f.get("error") {
            report.note(format!("fault {} could not be applied: {e}", f["kind"]));
        }
    }
}

/// Integer field helpers.
pub(crate) fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

pub(crate) fn uint(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

pub(crate) fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}
