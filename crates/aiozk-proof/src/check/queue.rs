//! The queue recipe (at-least-once): no acknowledged item is lost, no item is completed
//! twice, nothing comes out that was not put in, and nothing put in once is there twice.
//! Items handed out again after their consumer's claim died are counted, not failed: the
//! recipe promises at-least-once delivery.

use std::collections::HashMap;

use serde_json::Value;

use super::{text, Input, Report};
use crate::Workload;

pub(crate) fn check(input: &Input<'_>, report: &mut Report) {
    let lines = input.of(Workload::Queue);
    let ops: Vec<&Value> = lines
        .iter()
        .copied()
        .filter(|v| v["type"] == "op")
        .collect();
    let Some(left) = input.final_view()["queue"].as_array() else {
        report.violation("queue", "the final listing is missing".into());
        return;
    };
    let mut puts: HashMap<&str, &Value> = HashMap::new();
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut completed: HashMap<&str, usize> = HashMap::new();
    let mut maybe_completed: HashMap<&str, usize> = HashMap::new();
    for v in &ops {
        let tag = text(v, "tag");
        match (text(v, "f"), text(v, "r")) {
            ("put", _) => {
                puts.insert(tag, v);
            }
            ("take", "ok") => *taken.entry(tag).or_default() += 1,
            ("complete", "ok") => *completed.entry(tag).or_default() += 1,
            ("complete", "info" | "hang") => *maybe_completed.entry(tag).or_default() += 1,
            _ => {}
        }
    }
    let mut remaining: HashMap<&str, usize> = HashMap::new();
    for n in left {
        if !text(n, "name").ends_with(".lock") {
            *remaining.entry(text(n, "data")).or_default() += 1;
        }
    }
    for (tag, n) in &taken {
        match puts.get(tag) {
            None => report.violation("queue", format!("took {tag:?}, which nobody put")),
            Some(p) if p["r"] == "fail" => report.violation(
                "queue",
                format!("took {tag:?}, whose put was reported as failed"),
            ),
            _ => {}
        }
        let _ = n;
    }
    for (tag, n) in &completed {
        if *n > 1 {
            report.violation("queue", format!("{tag:?} was completed {n} times"));
        }
        if remaining.contains_key(tag) {
            report.violation(
                "queue",
                format!("{tag:?} was completed but is still in the queue"),
            );
        }
    }
    for (tag, n) in &remaining {
        if *n > 1 {
            report.violation("queue", format!("{tag:?} is in the queue {n} times"));
        }
        match puts.get(tag) {
            None => report.violation("queue", format!("{tag:?} is in the queue; nobody put it")),
            Some(p) if p["r"] == "fail" => report.violation(
                "queue",
                format!("{tag:?} is in the queue; its put was reported as failed"),
            ),
            _ => {}
        }
    }
    let mut acked = 0;
    for (tag, p) in &puts {
        if p["r"] != "ok" {
            continue;
        }
        acked += 1;
        let gone = completed.contains_key(tag) || maybe_completed.contains_key(tag);
        if !gone && !remaining.contains_key(tag) {
            report.violation("queue", format!("the acknowledged item {tag:?} is lost"));
        }
    }
    let again = taken.values().filter(|&&n| n > 1).count();
    report.figure(
        "queue",
        format!(
            "{acked} acknowledged puts, {} completed, {} left, {again} handed out more than once",
            completed.len(),
            remaining.len()
        ),
    );
}
