//! The harness in quick mode, with our client only: proves `aiozk-bench run` works end to
//! end (server, znodes, pinned client processes, report) without judging any timing.

use std::process::Command;

#[test]
fn quick_run_of_our_client_writes_a_report() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = dir.path().join("quick.md");
    let status = Command::new(env!("CARGO_BIN_EXE_aiozk-bench"))
        .args(["run", "--quick", "--clients", "ours", "--out"])
        .arg(&out)
        .status()
        .expect("aiozk-bench runs");
    assert!(status.success(), "aiozk-bench run --quick failed: {status}");
    let report = std::fs::read_to_string(&out).expect("the report was written");
    assert!(report.contains("### Throughput"), "{report}");
    assert!(
        report.contains("| get_data, 100 B, 1 in flight | "),
        "{report}"
    );
    assert!(
        !report.contains("## Runs without figures"),
        "some runs failed:\n{report}"
    );
    let json = std::fs::read_to_string(out.with_extension("json")).expect("raw results");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    let samples = v["samples"].as_array().expect("samples");
    assert_eq!(samples.len(), aiozk_bench::workload::WORKLOADS.len());
    for s in samples {
        assert!(s["figures"]["ops"].as_u64().unwrap_or(0) > 0, "{s}");
    }
}
