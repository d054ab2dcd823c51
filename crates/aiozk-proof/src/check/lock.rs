//! Locks and elections with fencing.
//!
//! * **Fenced writes never interleave.** The successful fenced writes, ordered by their
//!   zxid (ZooKeeper's own order of all writes), must form one run per holder: once a
//!   second holder's write is applied, no write of the first may follow. A write of an
//!   earlier holder after a later one means both held at the server at once.
//! * **The loss signal comes first.** A holder believes it holds from its acquisition until
//!   it releases or its loss signal fires. The recipes promise that the signal fires before
//!   anyone else can be granted the ownership, so two beliefs may overlap only while the
//!   earlier holder's process was frozen (a client pause: it cannot notice anything then).
//!   The time from the end of such a pause to the signal is the loss-signal delay reported.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{int, text, uint, Input, Report};
use crate::Workload;

#[derive(Debug)]
struct Belief {
    holder: String,
    worker: u64,
    from: u64,
    to: u64,
    lost_at: Option<u64>,
}

pub(crate) fn check(input: &Input<'_>, report: &mut Report) {
    let mut lines = input.of(Workload::Lock);
    lines.extend(input.of(Workload::Election));
    fenced_order(&lines, report);
    beliefs(input, &lines, report);
}

fn fenced_order(lines: &[&Value], report: &mut Report) {
    let mut writes: Vec<(i64, &str)> = lines
        .iter()
        .filter(|v| v["type"] == "op" && v["f"] == "fenced" && v["r"] == "ok")
        .filter_map(|v| Some((int(v, "mzxid")?, text(v, "holder"))))
        .collect();
    writes.sort_unstable();
    let mut closed: HashSet<&str> = HashSet::new();
    let mut current: Option<&str> = None;
    let mut overlapping: HashSet<(&str, &str)> = HashSet::new();
    for &(_, holder) in &writes {
        if current == Some(holder) {
            continue;
        }
        if closed.contains(holder) {
            if let Some(c) = current {
                overlapping.insert((holder, c));
            }
        }
        if let Some(c) = current {
            closed.insert(c);
        }
        current = Some(holder);
    }
    for (a, b) in &overlapping {
        report.violation(
            "lock",
            format!("holders {a} and {b} both had fenced writes succeed while the other held"),
        );
    }
    report.figure("fenced writes", writes.len());
    report.figure("overlapping fenced holders", overlapping.len());
}

fn beliefs(input: &Input<'_>, lines: &[&Value], report: &mut Report) {
    let mut acquired: HashMap<&str, (u64, u64)> = HashMap::new();
    let mut ended: HashMap<&str, u64> = HashMap::new();
    let mut lost: HashMap<&str, u64> = HashMap::new();
    let mut last_seen: HashMap<u64, u64> = HashMap::new();
    for v in lines {
        let w = uint(v, "w");
        let t = uint(v, "t1").max(uint(v, "t"));
        let e = last_seen.entry(w).or_default();
        *e = (*e).max(t);
        let holder = text(v, "holder");
        match (text(v, "type"), text(v, "f"), text(v, "ev")) {
            ("op", "acquire", _) if v["r"] == "ok" => {
                acquired.insert(holder, (w, uint(v, "t1")));
            }
            ("op", "release", _) => {
                ended.insert(holder, uint(v, "t0"));
            }
            ("ev", _, "lost") => {
                lost.insert(holder, uint(v, "t"));
            }
            _ => {}
        }
    }
    let mut list: Vec<Belief> = acquired
        .iter()
        .map(|(h, &(w, from))| {
            let lost_at = lost.get(h).copied();
            let to = [ended.get(h).copied(), lost_at]
                .into_iter()
                .flatten()
                .min()
                .unwrap_or_else(|| last_seen.get(&w).copied().unwrap_or(from));
            Belief {
                holder: (*h).to_owned(),
                worker: w,
                from,
                to,
                lost_at,
            }
        })
        .collect();
    list.sort_by_key(|b| b.from);
    let pauses: Vec<(u64, u64, u64)> = input
        .faults
        .iter()
        .filter(|f| f["kind"] == "client-pause")
        .map(|f| (uint(f, "resolved"), uint(f, "stopped"), uint(f, "resumed")))
        .collect();
    let paused_between =
        |w: u64, a: u64, b: u64| pauses.iter().any(|&(pw, s, r)| pw == w && s < b && r > a);
    let mut overlaps = 0;
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            if b.from >= a.to {
                continue;
            }
            if a.worker == b.worker {
                continue;
            }
            // `a` still believed it held when `b` was granted.
            if paused_between(a.worker, a.from, b.from) {
                continue;
            }
            overlaps += 1;
            report.violation(
                "lock",
                format!(
                    "{} still held ({} ms after {} was granted) without a loss signal",
                    a.holder,
                    (a.to - b.from) / 1_000_000,
                    b.holder
                ),
            );
        }
    }
    // Loss-signal delays after client pauses.
    let mut delays = Vec::new();
    for &(w, stopped, resumed) in &pauses {
        for b in list
            .iter()
            .filter(|b| b.worker == w && b.from < stopped && b.to > stopped)
        {
            if let Some(l) = b.lost_at {
                delays.push(l.saturating_sub(resumed) / 1_000_000);
            }
        }
    }
    delays.sort_unstable();
    report.figure("holders", list.len());
    report.figure("session timeout asked (ms)", input.session_timeout_ms);
    report.figure("overlapping beliefs outside client pauses", overlaps);
    if !delays.is_empty() {
        report.figure(
            "loss signal after a client pause (ms after resume)",
            format!(
                "n={} min={} median={} max={}",
                delays.len(),
                delays[0],
                delays[delays.len() / 2],
                delays[delays.len() - 1]
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fenced(holder: &str, zxid: i64) -> Value {
        json!({"type": "op", "f": "fenced", "r": "ok", "holder": holder, "mzxid": zxid, "w": 0})
    }

    #[test]
    fn interleaved_fenced_writes_are_reported() {
        let ok = [
            fenced("a", 1),
            fenced("a", 2),
            fenced("b", 3),
            fenced("c", 4),
        ];
        let mut report = Report::default();
        fenced_order(&ok.iter().collect::<Vec<_>>(), &mut report);
        assert!(report.violations.is_empty());
        let bad = [fenced("a", 1), fenced("b", 2), fenced("a", 3)];
        let mut report = Report::default();
        fenced_order(&bad.iter().collect::<Vec<_>>(), &mut report);
        assert_eq!(report.violations.len(), 1);
    }
}
