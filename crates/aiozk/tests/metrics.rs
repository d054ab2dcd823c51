//! The client's metrics and request spans, seen from outside: the Prometheus example's
//! output scraped after a run against a real server.

mod common;

use std::process::Command;

/// The path of the built example `name` (built now if needed).
fn example(name: &str) -> String {
    let out = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "aiozk", "--example", name])
        .args(["--message-format", "json"])
        .output()
        .expect("run cargo");
    assert!(out.status.success(), "cargo build: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"]["name"] == name)
        .find_map(|v| v["executable"].as_str().map(str::to_owned))
        .expect("the example's executable")
}

/// The value of the sample `series` (name and labels, as printed) in a Prometheus text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_prometheus_example_counts_every_request() {
    let n = 25;
    let out = Command::new(example("prometheus"))
        .env("ZK_SERVERS", common::server().connect_string())
        .arg(n.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let count =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    let n = f64::from(n);
    let requests = "zookeeper_client_requests_total";
    assert_eq!(
        count(&format!(r#"{requests}{{op="setData",outcome="ok"}}"#)),
        n
    );
    assert_eq!(
        count(&format!(r#"{requests}{{op="getData",outcome="ok"}}"#)),
        n
    );
    assert_eq!(
        count(&format!(r#"{requests}{{op="getData",outcome="no_node"}}"#)),
        1.0
    );
    // The example's one `exists`, answered no_node on the first run (then it creates the
    // node) and ok later.
    let exists_ok = sample(&text, &format!(r#"{requests}{{op="exists",outcome="ok"}}"#));
    let exists_no = sample(
        &text,
        &format!(r#"{requests}{{op="exists",outcome="no_node"}}"#),
    );
    assert_eq!(
        exists_ok.unwrap_or(0.0) + exists_no.unwrap_or(0.0),
        1.0,
        "{text}"
    );
    let created = if exists_no.is_some() { 1.0 } else { 0.0 };
    // Every request made, and nothing else.
    let all: f64 = text
        .lines()
        .filter(|l| l.starts_with(requests))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(all, 2.0 * n + 2.0 + created, "{text}");
    let durations = "zookeeper_client_request_duration_seconds_count";
    assert_eq!(count(&format!(r#"{durations}{{op="getData"}}"#)), n + 1.0);
    assert!(count(r#"zookeeper_client_request_duration_seconds_sum{op="getData"}"#) > 0.0);
    let events = "zookeeper_client_session_events_total";
    assert_eq!(count(&format!(r#"{events}{{event="new_session"}}"#)), 1.0);
    assert_eq!(count(&format!(r#"{events}{{event="connected"}}"#)), 1.0);
    assert_eq!(count(&format!(r#"{events}{{event="closed"}}"#)), 1.0);
    assert!(count("zookeeper_client_sent_bytes_total") > 0.0);
    assert!(count("zookeeper_client_received_bytes_total") > 0.0);
}

#[derive(Clone, Default)]
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn every_request_has_a_debug_span_with_its_outcome() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let zk = common::connect("").await;
    let path = common::base(&zk, "spans").await;
    let node = format!("{path}/n");
    zk.create(&node, b"s3cr3t-data").await.unwrap();
    zk.get_data(&node).await.unwrap();
    assert_eq!(
        zk.delete(&format!("{path}/none"), None).await,
        Err(aiozk::Error::NoNode)
    );
    zk.add_auth("digest", b"user:hunter2").await.unwrap();
    let session = format!("{:#x}", zk.session_id());
    zk.close().await;

    let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    let replies: Vec<&str> = text.lines().filter(|l| l.contains(" reply ")).collect();
    let find = |op: &str, p: &str| {
        replies
            .iter()
            .find(|l| l.contains(&format!("zk_request{{op=\"{op}\" path=\"{p}\"")))
            .unwrap_or_else(|| panic!("no reply line for {op} {p} in:\n{text}"))
    };
    let get = find("getData", &node);
    assert!(get.contains(&format!("session_id={session}")), "{get}");
    assert!(get.contains("outcome=\"ok\""), "{get}");
    assert!(get.contains(" xid="), "{get}");
    assert!(get.contains("duration_us="), "{get}");
    let delete = find("delete", &format!("{path}/none"));
    assert!(delete.contains("outcome=\"no_node\""), "{delete}");
    assert!(
        replies
            .iter()
            .any(|l| l.contains("zk_request{op=\"auth\"") && l.contains("outcome=\"ok\"")),
        "{text}"
    );
    for secret in ["s3cr3t-data", "hunter2"] {
        assert!(!text.contains(secret), "{secret:?} leaked:\n{text}");
    }
}
