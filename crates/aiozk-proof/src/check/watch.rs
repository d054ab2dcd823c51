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
//! Persistent recursive watches (violations): every change in the logs between the start
//! and the end of a watch's life must reach the watcher, live or as a catch-up event for
//! its node after a reconnect (several changes of one node while disconnected come as one
//! catch-up event), unless a `Resync` event said that changes may have been missed or the
//! watch ended with its session; live events must come in zxid order. Live events without
//! a change in the logs, and catch-up events for a node seen complete, are reported as
//! figures.

use std::collections::{BTreeMap, HashMap, HashSet};

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
    let mut t = Tally::default();
    for list in by_worker.values() {
        let mut segment: Option<Segment> = None;
        for v in list {
            if v["type"] != "ev" {
                continue;
            }
            let ev = text(v, "ev");
            if ev == "segment-start" {
                segment = Some(Segment {
                    start: int(v, "zxid").unwrap_or(0),
                    ..Segment::default()
                });
                continue;
            }
            let Some(seg) = segment.as_mut() else {
                continue;
            };
            match ev {
                "pevent" if v["etype"] == "NodeDataChanged" => {
                    *seg.live.entry(text(v, "path").to_owned()).or_default() += 1;
                    if let Some(z) = int(v, "zxid") {
                        if z < seg.last_live_zxid {
                            report.violation(
                                "watch",
                                format!(
                                    "a persistent watch delivered zxid {z:x} after zxid {:x}",
                                    seg.last_live_zxid
                                ),
                            );
                        }
                        seg.last_live_zxid = z;
                    }
                }
                "pcatchup" => {
                    seg.caught_up.insert(text(v, "path").to_owned());
                    t.catch_ups += 1;
                }
                "presync" => {
                    seg.resynced = true;
                    t.resyncs += 1;
                }
                "pnewsession" => t.new_sessions += 1,
                "segment-end" => {
                    let Some(seg) = segment.take() else { continue };
                    let Some(end) = int(v, "zxid") else { continue };
                    let ended_by_session = v["session"] == true;
                    t.segments += 1;
                    seg.check(changes, end, ended_by_session, &mut t, report);
                }
                _ => {}
            }
        }
    }
    if t.segments > 0 {
        report.figure(
            "persistent recursive watch",
            format!(
                "{} watch lifetimes, {} changes in the logs, {} seen live, {} caught up after a reconnect ({} catch-up events), {} under a resync notice, {} missed without notice, {} extra, {} spurious catch-ups, {} new sessions",
                t.segments,
                t.expected,
                t.live,
                t.covered,
                t.catch_ups,
                t.resynced,
                t.missed,
                t.extra,
                t.spurious,
                t.new_sessions
            ),
        );
    }
}

#[derive(Default)]
struct Tally {
    segments: usize,
    expected: usize,
    live: usize,
    covered: usize,
    resynced: usize,
    missed: usize,
    extra: usize,
    spurious: usize,
    catch_ups: usize,
    resyncs: usize,
    new_sessions: usize,
}

/// One life of the persistent watch, from its registration to its end.
#[derive(Default)]
struct Segment {
    start: i64,
    live: HashMap<String, usize>,
    caught_up: HashSet<String>,
    resynced: bool,
    last_live_zxid: i64,
}

impl Segment {
    fn check(
        &self,
        changes: &[&Txn],
        end: i64,
        ended_by_session: bool,
        t: &mut Tally,
        report: &mut Report,
    ) {
        let mut want: HashMap<String, usize> = HashMap::new();
        for c in changes
            .iter()
            .filter(|c| c.zxid > self.start && c.zxid <= end)
        {
            if c.kind == txnlog::SET_DATA {
                if let Some(p) = &c.path {
                    *want.entry(p.clone()).or_default() += 1;
                }
            }
        }
        for (p, &n) in &want {
            t.expected += n;
            let seen = self.live.get(p).copied().unwrap_or(0);
            t.live += seen.min(n);
            let short = n.saturating_sub(seen);
            if short == 0 {
                continue;
            }
            if self.caught_up.contains(p) {
                t.covered += short;
            } else if self.resynced || ended_by_session {
                t.resynced += short;
            } else {
                t.missed += short;
                report.violation(
                    "watch",
                    format!(
                        "a persistent watch on {} (zxids {:x}..={end:x}) saw {seen} of the {n} changes of {p}, with neither a catch-up event nor a resync",
                        crate::worker::watch_base(),
                        self.start
                    ),
                );
            }
        }
        for (p, &n) in &self.live {
            t.extra += n.saturating_sub(want.get(p).copied().unwrap_or(0));
        }
        for p in &self.caught_up {
            let seen = self.live.get(p).copied().unwrap_or(0);
            if want.get(p).copied().unwrap_or(0) <= seen {
                t.spurious += 1;
            }
        }
    }
}
