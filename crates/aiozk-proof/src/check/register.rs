//! CAS registers.
//!
//! * **Writes are linearizable**: the blind writes and compare-and-sets of each key (with
//!   their outcomes: ok with the version the server returned, failed with `BadVersion`,
//!   or unknown) and the final read must fit one order on a versioned register
//!   ([`super::wgl`]).
//! * **Reads are checked per session**, against what ZooKeeper promises (reads are served
//!   by the member the session talks to and may be stale, but a session's view only moves
//!   forward, also across reconnects to other members):
//!   - a read returns a value some write wrote (never one whose write failed, never one
//!     written after the read returned), with that write's version and zxid;
//!   - within a session, the version seen of a key never goes back;
//!   - within a session, a read never misses a write to its key with a zxid at or below
//!     the highest zxid the session has already seen (its view is a prefix of the log);
//!   - within a session, the client's last zxid never goes back.

use std::collections::{BTreeMap, HashMap};

use serde_json::Value;

use super::wgl::{self, Entry, Model, Verdict};
use super::{int, text, uint, Input, Report};
use crate::Workload;

/// A register holding a value (an index into the run's values) and its data version.
struct Versioned;

#[derive(Debug, Clone)]
enum Op {
    /// A blind write; `ret` is the version the server returned (known when ok).
    Write { val: u32, ret: Option<i32> },
    /// A compare-and-set on version `exp`.
    Cas {
        exp: i32,
        val: u32,
        ret: Option<i32>,
    },
    /// A compare-and-set that failed with `BadVersion`.
    CasFailed { exp: i32 },
    /// The final read.
    Read { val: u32, ver: i32 },
}

impl Model for Versioned {
    type State = (u32, i32);
    type Op = Op;

    fn init(&self) -> (u32, i32) {
        (0, 0)
    }

    fn step(&self, &(val, ver): &(u32, i32), op: &Op) -> Option<(u32, i32)> {
        let fits = |ret: &Option<i32>, v: i32| ret.is_none_or(|r| r == v);
        match op {
            Op::Write { val: new, ret } => fits(ret, ver + 1).then_some((*new, ver + 1)),
            Op::Cas { exp, val: new, ret } => {
                (*exp == ver && fits(ret, ver + 1)).then_some((*new, ver + 1))
            }
            Op::CasFailed { exp } => (*exp != ver).then_some((val, ver)),
            Op::Read { val: v, ver: n } => (*v == val && *n == ver).then_some((val, ver)),
        }
    }
}

pub(crate) fn check(input: &Input<'_>, report: &mut Report) {
    let lines = input.of(Workload::Register);
    let ops: Vec<&Value> = lines
        .iter()
        .copied()
        .filter(|v| v["type"] == "op")
        .collect();
    // Value 0 is the initial "init"; every write's tag gets an index.
    let mut values: HashMap<String, u32> = HashMap::from([("init".to_owned(), 0)]);
    for v in &ops {
        if v["f"] == "write" || v["f"] == "cas" {
            let n = u32::try_from(values.len()).unwrap_or(u32::MAX);
            values.entry(text(v, "val").to_owned()).or_insert(n);
        }
    }
    let keys: Vec<u64> = (0..crate::worker::register_keys()).collect();
    let end = ops.iter().map(|v| uint(v, "t1")).max().unwrap_or(0) + 1;
    let mut checked = 0;
    for &k in &keys {
        let of_key: Vec<&Value> = ops
            .iter()
            .copied()
            .filter(|v| v["key"].as_u64() == Some(k))
            .collect();
        let mut entries = Vec::new();
        for v in &of_key {
            let r = text(v, "r");
            let call = uint(v, "t0");
            let ret = (r == "ok" || r == "fail").then(|| uint(v, "t1"));
            let val = values.get(text(v, "val")).copied().unwrap_or(u32::MAX);
            let returned = (r == "ok").then(|| int(v, "ver").unwrap_or(-1) as i32);
            let op = match (text(v, "f"), r) {
                ("read", _) => continue,
                ("write", "ok" | "info" | "hang") => Op::Write { val, ret: returned },
                ("cas", "ok" | "info" | "hang") => Op::Cas {
                    exp: int(v, "exp").unwrap_or(-1) as i32,
                    val,
                    ret: returned,
                },
                ("cas", "fail") if text(v, "err") == "BadVersion" => Op::CasFailed {
                    exp: int(v, "exp").unwrap_or(-1) as i32,
                },
                _ => continue,
            };
            entries.push(Entry {
                op,
                call,
                ret: if r == "hang" { None } else { ret },
            });
        }
        let fin = &input.final_view()["register"][k.to_string()];
        if let (Some(val), Some(ver)) = (
            fin.get("val")
                .and_then(Value::as_str)
                .and_then(|s| values.get(s)),
            int(fin, "ver"),
        ) {
            entries.push(Entry {
                op: Op::Read {
                    val: *val,
                    ver: ver as i32,
                },
                call: end,
                ret: Some(end),
            });
        } else {
            report.violation(
                "register",
                format!("key {k}: the final value {fin} was written by no operation"),
            );
        }
        checked += entries.len();
        match wgl::check(&Versioned, &entries, 20_000_000) {
            Verdict::Linearizable => {}
            Verdict::Unknown => report.note(format!(
                "key {k}: linearizability search gave up ({} operations)",
                entries.len()
            )),
            Verdict::Violation { longest, stuck } => report.violation(
                "register",
                format!(
                    "key {k}: the writes are not linearizable ({} of {} operations ordered; \
                     cannot place {:?} of {:?}..{:?})",
                    longest,
                    entries.len(),
                    entries[stuck].op,
                    entries[stuck].call,
                    entries[stuck].ret
                ),
            ),
        }
    }
    report.figure("register writes checked", checked);
    check_reads(&ops, report);
}

fn check_reads(ops: &[&Value], report: &mut Report) {
    // Writes by tag, and every zxid known to have written each key.
    let mut by_tag: HashMap<&str, &Value> = HashMap::new();
    let mut zxids: HashMap<u64, Vec<i64>> = HashMap::new();
    for v in ops {
        let key = v["key"].as_u64().unwrap_or(0);
        if (v["f"] == "write" || v["f"] == "cas") && !text(v, "val").is_empty() {
            by_tag.insert(text(v, "val"), v);
        }
        if v["r"] == "ok" {
            if let Some(z) = int(v, "mzxid") {
                zxids.entry(key).or_default().push(z);
            }
        }
    }
    for z in zxids.values_mut() {
        z.sort_unstable();
        z.dedup();
    }
    let mut reads = 0;
    // Per session (the one that answered), in time order.
    let mut sessions: BTreeMap<(u64, i64), Vec<&Value>> = BTreeMap::new();
    for v in ops {
        if v["r"] == "ok" {
            sessions
                .entry((uint(v, "w"), int(v, "sid1").unwrap_or(0)))
                .or_default()
                .push(v);
        }
    }
    for ((w, sid), mut list) in sessions {
        list.sort_by_key(|v| uint(v, "t0"));
        let mut seen_ver: HashMap<u64, i32> = HashMap::new();
        let mut view = 0i64;
        let mut last_lz = 0i64;
        for v in list {
            let key = v["key"].as_u64().unwrap_or(0);
            let ver = int(v, "ver").unwrap_or(-1) as i32;
            let mzxid = int(v, "mzxid").unwrap_or(0);
            let lz = int(v, "lz").unwrap_or(0);
            if lz < last_lz {
                report.violation(
                    "register",
                    format!("worker {w} session {sid:x}: last zxid went back from {last_lz:x} to {lz:x}"),
                );
            }
            last_lz = last_lz.max(lz);
            if v["f"] == "read" {
                reads += 1;
                let val = text(v, "val");
                if val == "init" {
                    if ver != 0 {
                        report.violation(
                            "register",
                            format!("worker {w}: read the initial value at version {ver}"),
                        );
                    }
                } else {
                    match by_tag.get(val) {
                        None => report.violation(
                            "register",
                            format!("worker {w}: read {val:?}, which no operation wrote"),
                        ),
                        Some(wr) => {
                            if wr["r"] == "fail" {
                                report.violation(
                                    "register",
                                    format!(
                                        "worker {w}: read {val:?}, written by an operation that \
                                         was reported as failed ({})",
                                        text(wr, "err")
                                    ),
                                );
                            }
                            if uint(wr, "t0") > uint(v, "t1") {
                                report.violation(
                                    "register",
                                    format!("worker {w}: read {val:?} before it was written"),
                                );
                            }
                            if wr["r"] == "ok"
                                && (int(wr, "ver") != Some(i64::from(ver))
                                    || int(wr, "mzxid") != Some(mzxid))
                            {
                                report.violation(
                                    "register",
                                    format!(
                                        "worker {w}: read {val:?} at version {ver}, zxid {mzxid:x}; \
                                         its write returned version {}, zxid {:x}",
                                        wr["ver"],
                                        int(wr, "mzxid").unwrap_or(0)
                                    ),
                                );
                            }
                        }
                    }
                }
                // A write to this key between what we read and what we had already seen.
                if let Some(z) = zxids.get(&key) {
                    if let Some(missed) = z.iter().find(|&&z| z > mzxid && z <= view) {
                        report.violation(
                            "register",
                            format!(
                                "worker {w} session {sid:x}: read key {key} at zxid {mzxid:x} after \
                                 having seen zxid {view:x}; the write at {missed:x} is missing"
                            ),
                        );
                    }
                }
            }
            if let Some(&before) = seen_ver.get(&key) {
                if ver < before {
                    report.violation(
                        "register",
                        format!(
                            "worker {w} session {sid:x}: key {key} went back from version {before} to {ver}"
                        ),
                    );
                }
            }
            let e = seen_ver.entry(key).or_insert(ver);
            *e = (*e).max(ver);
            view = view.max(mzxid);
        }
    }
    report.figure("register reads checked", reads);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(op: Op, call: u64, ret: Option<u64>) -> Entry<Op> {
        Entry { op, call, ret }
    }

    #[test]
    fn versions_must_follow_each_other() {
        let ok = vec![
            e(
                Op::Write {
                    val: 1,
                    ret: Some(1),
                },
                0,
                Some(1),
            ),
            e(
                Op::Cas {
                    exp: 1,
                    val: 2,
                    ret: Some(2),
                },
                2,
                Some(3),
            ),
            e(Op::Read { val: 2, ver: 2 }, 9, Some(9)),
        ];
        assert_eq!(wgl::check(&Versioned, &ok, 1000), Verdict::Linearizable);
        let skipped = vec![
            e(
                Op::Write {
                    val: 1,
                    ret: Some(1),
                },
                0,
                Some(1),
            ),
            e(
                Op::Write {
                    val: 2,
                    ret: Some(3),
                },
                2,
                Some(3),
            ),
        ];
        assert!(matches!(
            wgl::check(&Versioned, &skipped, 1000),
            Verdict::Violation { .. }
        ));
    }

    #[test]
    fn a_failed_cas_that_took_effect_is_caught() {
        // The CAS on version 0 was reported BadVersion, yet version 1 holds its value.
        let h = vec![
            e(Op::CasFailed { exp: 0 }, 0, Some(5)),
            e(Op::Read { val: 7, ver: 1 }, 9, Some(9)),
            e(
                Op::Cas {
                    exp: 0,
                    val: 8,
                    ret: None,
                },
                1,
                None,
            ),
        ];
        assert!(matches!(
            wgl::check(&Versioned, &h, 1000),
            Verdict::Violation { .. }
        ));
    }

    #[test]
    fn an_unknown_cas_may_explain_the_final_value() {
        let h = vec![
            e(
                Op::Cas {
                    exp: 0,
                    val: 7,
                    ret: None,
                },
                0,
                None,
            ),
            e(Op::Read { val: 7, ver: 1 }, 9, Some(9)),
        ];
        assert_eq!(wgl::check(&Versioned, &h, 1000), Verdict::Linearizable);
    }
}
