//! The counter recipe: the final value is the number of acknowledged increments, plus at
//! most the number of increments whose outcome is unknown; no two increments return the
//! same value.

use std::collections::HashMap;

use serde_json::Value;

use super::{int, Input, Report};
use crate::Workload;

pub(crate) fn check(input: &Input<'_>, report: &mut Report) {
    let lines = input.of(Workload::Counter);
    let incs: Vec<&Value> = lines
        .iter()
        .copied()
        .filter(|v| v["type"] == "op" && v["f"] == "incr")
        .collect();
    let acked = incs.iter().filter(|v| v["r"] == "ok").count() as i64;
    let unknown = incs
        .iter()
        .filter(|v| v["r"] == "info" || v["r"] == "hang")
        .count() as i64;
    let mut returned: HashMap<i64, usize> = HashMap::new();
    for v in incs.iter().filter(|v| v["r"] == "ok") {
        if let Some(n) = int(v, "val") {
            *returned.entry(n).or_default() += 1;
        }
    }
    for (n, times) in &returned {
        if *times > 1 {
            report.violation("counter", format!("{times} increments all returned {n}"));
        }
    }
    let fin = input.final_view()["counter"]
        .as_str()
        .and_then(|s| s.trim().parse::<i64>().ok());
    match fin {
        None => report.violation(
            "counter",
            format!(
                "the final value {} is not a number",
                input.final_view()["counter"]
            ),
        ),
        Some(v) if v < acked => report.violation(
            "counter",
            format!("final value {v} < {acked} acknowledged increments: increments were lost"),
        ),
        Some(v) if v > acked + unknown => report.violation(
            "counter",
            format!(
                "final value {v} > {acked} acknowledged + {unknown} unknown increments: \
                 an increment counted twice"
            ),
        ),
        Some(_) => {}
    }
    report.figure(
        "counter",
        format!("final {fin:?}, acknowledged {acked}, unknown {unknown}"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(history: &[Value], fin: &str) -> Report {
        let roles = [Workload::Counter];
        let final_state = json!({"members": [{"counter": fin}]});
        let input = Input {
            workload: Workload::Counter,
            roles: &roles,
            history,
            faults: &[],
            final_state: &final_state,
            session_timeout_ms: 3000,
            ensemble_dirs: Vec::new(),
        };
        let mut report = Report::default();
        check(&input, &mut report);
        report
    }

    fn incr(r: &str, val: i64) -> Value {
        json!({"type": "op", "f": "incr", "r": r, "val": val, "role": "counter", "w": 0})
    }

    #[test]
    fn the_final_value_must_be_explained() {
        let h = [incr("ok", 1), incr("info", 0), incr("ok", 3)];
        assert!(run(&h, "2").violations.is_empty());
        assert!(run(&h, "3").violations.is_empty());
        assert_eq!(run(&h, "1").violations.len(), 1, "lost increment");
        assert_eq!(run(&h, "4").violations.len(), 1, "counted twice");
        let twice = [incr("ok", 1), incr("ok", 1)];
        assert_eq!(run(&twice, "2").violations.len(), 1, "same value twice");
    }
}
