//! The client's metrics, seen from outside: the Prometheus example's output scraped
//! after a run against a real server, and a recorder of the test's own.

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

#[tokio::test]
async fn reconnects_watches_and_events_are_recorded() {
    // A recorder for this thread alone: the client's driver runs here too (one-thread
    // runtime), so it registers its handles with it.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let zk = common::connect("").await;
    let path = common::base(&zk, "recorded").await;
    let (_, _, watcher) = zk.get_data_watched(&path).await.unwrap();
    let gauge = |text: &str| sample(text, "zookeeper_client_watches");
    assert_eq!(gauge(&metrics.render()), Some(1.0));

    let mut states = zk.state_watch();
    zk.reconnect();
    common::within(
        20,
        states.wait_for(|s| *s == aiozk::SessionState::Disconnected),
    )
    .await
    .unwrap();
    common::within(20, states.wait_for(|s| s.is_connected()))
        .await
        .unwrap();
    zk.set_data(&path, b"changed", None).await.unwrap();
    let event = common::within(20, watcher).await;
    assert_eq!(event.event_type, aiozk::EventType::NodeDataChanged);

    let text = metrics.render();
    let count =
        |series: &str| sample(&text, series).unwrap_or_else(|| panic!("no {series} in:\n{text}"));
    assert_eq!(
        count(r#"zookeeper_client_disconnects_total{cause="connection_loss"}"#),
        1.0
    );
    assert_eq!(
        count(r#"zookeeper_client_reconnects_total{cause="connection_loss"}"#),
        1.0
    );
    assert_eq!(
        count(r#"zookeeper_client_session_events_total{event="disconnected"}"#),
        1.0
    );
    assert_eq!(
        count(r#"zookeeper_client_session_events_total{event="connected"}"#),
        2.0
    );
    assert_eq!(count("zookeeper_client_watch_events_total"), 1.0);
    // The watch fired: none is left.
    assert_eq!(gauge(&text), Some(0.0));
    let stats = zk.stats();
    assert!(
        stats.bytes_sent > 0 && stats.bytes_received > 0,
        "{stats:?}"
    );
    assert!(count("zookeeper_client_sent_bytes_total") > 0.0);
    zk.close().await;
}

#[tokio::test]
async fn reads_sent_in_multi_read_batches_are_counted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let zk = common::connect("").await;
    let path = common::base(&zk, "batched").await;
    // Reads made in one go, before the driver runs again, go out in MultiRead batches.
    let reads: Vec<_> = (0..16)
        .map(|_| {
            let (zk, path) = (zk.clone(), path.clone());
            tokio::spawn(async move { zk.get_data(&path).await })
        })
        .collect();
    for read in reads {
        common::within(20, read).await.unwrap().unwrap();
    }
    let stats = zk.stats();
    assert!(stats.coalesced_reads >= 2, "{stats:?}");
    let text = metrics.render();
    #[allow(clippy::cast_precision_loss)] // a small count
    let expected = stats.coalesced_reads as f64;
    assert_eq!(
        sample(&text, "zookeeper_client_coalesced_reads_total"),
        Some(expected),
        "{text}"
    );
    zk.close().await;
}
