//! Watch completeness, against the servers' transaction logs.
//!
//! One-shot watches (violations):
//! * a watch never fires without a change: after the event, a sync and a read must show
//!   the node newer than when the watch was armed, and the logs must hold a change of
//!   the node after that point;
//! * a watch never misses its change: a read that shows the node newer than when the watch
//!   was armed, while the watch is still silent, is a miss (ZooKeeper delivers the event
//!   before any reply showing the new data);
//! * a watch that ends without a change ends with a session event (type `None`).
//!
//! Persistent recursive watches (figures only, until catch-up after reconnects exists):
//! every change in the logs between the start and the end of a watch's life is compared
//! with the events seen; the misses and extras are reported.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::txnlog::{self, Txn};
use super::{int, text, uint, Input, Report};
use crate::Workload;

pub(crate) fn check(input: &Input<'_>, report: &mut Report) {
    let txns = txnlog::read_members(&input.ensemble_dirs);
    let base = format!("{}/", crate::worker::watch_base());
    let changes: Vec<&Txn> = txns
        .values()
        .filter(|t| {
            matches!(t.kind, txnlog::SET_DATA | txnlog::DELETE | txnlog::CREATE)
                && t.path.as_deref().is_some_and(|p| p.starts_with(&base))
        })
        .collect();
    report.figure("transactions in the logs", txns.len());
    report.figure("watched-node changes in the logs", changes.len());
    let lines = input.of(Workload::Watch);
    oneshot(&lines, &changes, report);
    persistent(&lines, &changes, report);
}

fn oneshot(lines: &[&Value], changes: &[&Txn], report: &mut Report) {
    let changed_after = |path: &str, zxid: i64| {
        changes
            .iter()
            .any(|t| t.zxid > zxid && t.path.as_deref() == Some(path))
    };
    let after: HashMap<(u64, u64), &Value> = lines
        .iter()
        .filter(|v| v["type"] == "op" && v["f"] == "after-fire" && v["r"] == "ok")
        .map(|v| ((uint(v, "w"), uint(v, "seq")), *v))
        .collect();
    let (mut armed, mut fired, mut by_session) = (0, 0, 0);
    for v in lines {
        if v["type"] == "op" && v["f"] == "arm" && v["r"] == "ok" {
            armed += 1;
        }
        if v["type"] != "ev" {
            continue;
        }
        let path = text(v, "path");
        let at = int(v, "armed").unwrap_or(0);
        match text(v, "ev") {
            "fired" if v["etype"] == "None" => by_session += 1,
            "fired" => {
                fired += 1;
                if !changed_after(path, at) {
                    report.violation(
                        "watch",
                        format!(
                            "a watch on {path} armed at zxid {at:x} fired ({}) but the logs hold no later change",
                            text(v, "etype")
                        ),
                    );
                } else if let Some(a) = after.get(&(uint(v, "w"), uint(v, "seq"))) {
                    if int(a, "mzxid").unwrap_or(0) <= at {
                        report.violation(
                            "watch",
                            format!(
                                "a watch on {path} armed at zxid {at:x} fired ({}), yet after a sync the node is unchanged",
                                text(v, "etype")
                            ),
                        );
                    }
                }
            }
            "watch-missed" => report.violation(
                "watch",
                format!(
                    "a watch on {path} armed at zxid {at:x} stayed silent while a read showed zxid {:x}",
                    int(v, "seen").unwrap_or(0)
                ),
            ),
            _ => {}
        }
    }
    report.figure(
        "one-shot watches",
        format!("{armed} armed, {fired} fired on a change, {by_session} ended by the session"),
    );
}

fn persistent(lines: &[&Value], changes: &[&Txn], report: &mut Report) {
    // Each worker's lines are in the order it wrote them.
    let mut by_worker: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for v in lines {
        by_worker.entry(uint(v, "w")).or_default().push(v);
    }
    let (mut expected, mut missed, mut extra, mut segments) = (0usize, 0usize, 0usize, 0usize);
    for list in by_worker.values() {
        let mut start: Option<i64> = None;
        let mut seen: HashMap<String, usize> = HashMap::new();
        for v in list {
            if v["type"] != "ev" {
                continue;
            }
            match text(v, "ev") {
                "segment-start" => {
                    start = int(v, "zxid");
                    seen.clear();
                }
                "pevent" if v["etype"] == "NodeDataChanged" => {
                    *seen.entry(text(v, "path").to_owned()).or_default() += 1;
                }
                "segment-end" => {
                    let (Some(s), Some(e)) = (start.take(), int(v, "zxid")) else {
                        continue;
                    };
                    segments += 1;
                    let mut want: HashMap<String, usize> = HashMap::new();
                    for t in changes.iter().filter(|t| t.zxid > s && t.zxid <= e) {
                        if t.kind == txnlog::SET_DATA {
                            if let Some(p) = &t.path {
                                *want.entry(p.clone()).or_default() += 1;
                            }
                        }
                    }
                    for (p, n) in &want {
                        expected += n;
                        missed += n.saturating_sub(seen.get(p).copied().unwrap_or(0));
                    }
                    for (p, n) in &seen {
                        extra += n.saturating_sub(want.get(p).copied().unwrap_or(0));
                    }
                }
                _ => {}
            }
        }
    }
    if segments > 0 {
        report.figure(
            "persistent recursive watch",
            format!(
                "{segments} watch lifetimes, {expected} changes in the logs, {missed} missed, {extra} extra"
            ),
        );
        if missed > 0 {
            report.note(format!(
                "the persistent watch missed {missed} of {expected} changes (no catch-up after a reconnect yet)"
            ));
        }
    }
}
