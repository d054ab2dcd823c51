//! End-to-end basics on a real server.

mod common;

use aiozk::{Client, CreateOptions, Error, EventType};
use common::{base, connect, within};

#[tokio::test]
async fn getting_started_flow() {
    let zk = connect("").await;
    let b = base(&zk, "gs").await;
    zk.ensure_path(&format!("{b}/greeting/to")).await.unwrap();
    let (path, stat) = zk
        .create(&format!("{b}/greeting/to/world"), b"hello world")
        .await
        .unwrap();
    assert_eq!(path, format!("{b}/greeting/to/world"));
    assert_eq!(stat.data_length, 11);
    let (data, _) = zk.get_data(&path).await.unwrap();
    assert_eq!(&data[..], b"hello world");
    zk.delete(&path, None).await.unwrap();
    assert_eq!(zk.exists(&path).await.unwrap(), None);
    assert_eq!(zk.get_data(&path).await.unwrap_err(), Error::NoNode);
    zk.close().await;
    assert_eq!(zk.exists("/").await.unwrap_err(), Error::Closed);
}

#[tokio::test]
async fn requests_reach_the_server_in_call_order() {
    let zk = connect("").await;
    let b = base(&zk, "order").await;
    let opts = CreateOptions::new().sequential();
    // Create the futures in one order and await them in the reverse order: the sequence
    // numbers follow the call order.
    let futs: Vec<_> = (0..50)
        .map(|i| zk.create_with(&format!("{b}/n{i:02}-"), b"", &opts))
        .collect();
    let mut results = Vec::new();
    for f in futs.into_iter().rev() {
        results.push(f.await.unwrap().0);
    }
    results.reverse();
    let seqs: Vec<u64> = results
        .iter()
        .map(|p| p[p.len() - 10..].parse().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn oneshot_watch_fires_on_change() {
    let zk = connect("").await;
    let b = base(&zk, "watch").await;
    let node = format!("{b}/n");
    let (stat, w) = zk.exists_watched(&node).await.unwrap();
    assert_eq!(stat, None);
    zk.create(&node, b"x").await.unwrap();
    let ev = within(10, w).await;
    assert_eq!(ev.event_type, EventType::NodeCreated);
    assert_eq!(ev.path, node);
}

#[tokio::test]
async fn ensure_path_and_deleteall_queue_their_first_request_when_called() {
    let zk = connect("").await;
    let b = base(&zk, "order2").await;
    let p = format!("{b}/n");
    zk.create(&p, b"").await.unwrap();
    // ensure_path's existence check is queued before the delete, so it sees the node and
    // creates nothing, even though it is awaited last.
    let ensure = zk.ensure_path(&p);
    let delete = zk.delete(&p, None);
    delete.await.unwrap();
    ensure.await.unwrap();
    assert_eq!(zk.exists(&p).await.unwrap(), None);
    // deleteall's first listing is queued before the create, so the new child is not seen
    // and the delete of the base fails with NotEmpty.
    zk.create(&p, b"").await.unwrap();
    let wipe = zk.deleteall(&p);
    let child = zk.create(&format!("{p}/late"), b"");
    child.await.unwrap();
    let report = wipe.await.unwrap();
    assert_eq!(report.failed, vec![(p.clone(), Error::NotEmpty)]);
    zk.close().await;
}

#[tokio::test]
async fn reconnect_keeps_the_session_and_its_watches() {
    let zk = connect("").await;
    let b = base(&zk, "reconnect").await;
    let p = format!("{b}/n");
    let (_, stat) = zk.create(&p, b"").await.unwrap();
    assert!(zk.last_zxid() >= stat.czxid);
    let session = zk.session_id();
    let (_, _, watcher) = zk.get_data_watched(&p).await.unwrap();
    let mut changes = zk.state_changes();
    zk.reconnect();
    within(10, async {
        loop {
            if let Ok(aiozk::SessionEvent::State(s, _)) = changes.recv().await {
                if s.is_connected() {
                    break;
                }
            }
        }
    })
    .await;
    assert_eq!(zk.session_id(), session);
    assert_eq!(zk.stats().reconnects, 1);
    zk.set_data(&p, b"x", None).await.unwrap();
    assert_eq!(
        within(10, watcher).await.event_type,
        EventType::NodeDataChanged
    );
    zk.close().await;
}

/// 64 tasks keep a write and a read of their own node in flight: with 64 requests on the
/// wire the client holds new ones back for joint writes, and every read still sees the
/// write queued before it (call order is wire order). Prints requests per write, with
/// joint writes and without.
#[tokio::test]
async fn deep_pipelines_keep_call_order_with_joint_writes() {
    const TASKS: usize = 64;
    const ROUNDS: u32 = 30;
    let setup = connect("").await;
    let b = base(&setup, "pipeline").await;
    for delay in [
        std::time::Duration::from_millis(1),
        std::time::Duration::ZERO,
    ] {
        let zk = Client::builder(&common::server().connect_string())
            .max_write_delay(delay)
            .connect()
            .await
            .unwrap();
        let before = zk.stats();
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let zk = zk.clone();
            let node = format!("{b}/n{t}");
            tasks.push(tokio::spawn(async move {
                // The second pass (joint writes off) finds the nodes of the first.
                match zk.create(&node, b"").await {
                    Ok(_) | Err(Error::NodeExists) => {}
                    Err(e) => panic!("create {node}: {e}"),
                }
                for i in 0..ROUNDS {
                    let value = i.to_be_bytes();
                    // Both queued before either is awaited.
                    let set = zk.set_data(&node, &value, None);
                    let get = zk.get_data(&node);
                    set.await.unwrap();
                    let (data, _) = get.await.unwrap();
                    assert_eq!(&data[..], &value[..], "{node} round {i}");
                }
            }));
        }
        for t in tasks {
            within(60, t).await.unwrap();
        }
        let after = zk.stats();
        let requests = after.requests - before.requests;
        let writes = after.writes - before.writes;
        assert!(requests >= (TASKS as u64) * u64::from(ROUNDS) * 2);
        assert!(
            writes > 0 && writes < requests,
            "{writes} writes for {requests} requests"
        );
        println!(
            "max_write_delay {delay:?}: {requests} requests in {writes} writes ({:.1} per write)",
            requests as f64 / writes as f64
        );
        zk.close().await;
    }
}
