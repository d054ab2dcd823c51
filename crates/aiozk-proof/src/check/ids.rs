//! Unique ids from protected sequential creates: no id handed out twice, no acknowledged
//! create lost, no create reported as failed that took effect, and no create applied twice
//! (each node's data names the operation that made it).

use std::collections::HashMap;

use serde_json::Value;

use super::{text, Input, Report};
use crate::Workload;

pub(crate) fn check(input: &Input<'_>, report: &mut Report) {
    let lines = input.of(Workload::Ids);
    let ops: Vec<&Value> = lines
        .iter()
        .copied()
        .filter(|v| v["type"] == "op" && v["f"] == "create")
        .collect();
    let Some(nodes) = input.final_view()["ids"].as_array() else {
        report.violation("ids", "the final listing is missing".into());
        return;
    };
    let base = crate::worker::ids_base();
    let mut by_tag: HashMap<&str, &Value> = HashMap::new();
    let mut paths: HashMap<String, &str> = HashMap::new();
    for v in &ops {
        by_tag.insert(text(v, "tag"), v);
        if v["r"] == "ok" {
            let path = text(v, "path").to_owned();
            if let Some(other) = paths.insert(path.clone(), text(v, "tag")) {
                report.violation(
                    "ids",
                    format!(
                        "{path} was handed out twice ({other} and {})",
                        text(v, "tag")
                    ),
                );
            }
        }
    }
    let mut found: HashMap<&str, Vec<String>> = HashMap::new();
    for n in nodes {
        let path = format!("{base}/{}", text(n, "name"));
        found.entry(text(n, "data")).or_default().push(path);
    }
    let mut applied_unknown = 0;
    for (tag, at) in &found {
        if at.len() > 1 {
            report.violation(
                "ids",
                format!("the create {tag} made {} nodes: {at:?}", at.len()),
            );
        }
        match by_tag.get(tag) {
            None => report.violation(
                "ids",
                format!("node {at:?} holds {tag:?}, which no operation wrote"),
            ),
            Some(v) if v["r"] == "fail" => report.violation(
                "ids",
                format!(
                    "the create {tag} was reported as failed ({}) but made {at:?}",
                    text(v, "err")
                ),
            ),
            Some(v) if v["r"] != "ok" => applied_unknown += 1,
            Some(_) => {}
        }
    }
    let mut acked = 0;
    for v in &ops {
        if v["r"] != "ok" {
            continue;
        }
        acked += 1;
        let tag = text(v, "tag");
        let path = text(v, "path");
        match found.get(tag) {
            Some(at) if at.iter().any(|p| p == path) => {}
            Some(at) => report.violation(
                "ids",
                format!("the create {tag} returned {path}, but its node is {at:?}"),
            ),
            None => report.violation(
                "ids",
                format!("the acknowledged create {tag} ({path}) is lost"),
            ),
        }
    }
    report.figure("ids acknowledged", acked);
    report.figure("ids with unknown outcome that took effect", applied_unknown);
}
