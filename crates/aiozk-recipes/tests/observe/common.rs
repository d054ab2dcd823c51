//! Helpers for the observation-recipe tests: one real ZooKeeper server for the whole binary,
//! clients (direct or through a fault proxy), and tree comparison.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiozk::{Client, SessionEvent, SessionState, Stat};
use aiozk_testkit::{Ensemble, FaultProxy, ServerConfig};
use bytes::Bytes;

/// A standalone server shared by the tests of one binary (short sessions allowed).
pub fn server() -> &'static Ensemble {
    static SERVER: OnceLock<Ensemble> = OnceLock::new();
    SERVER.get_or_init(|| {
        Ensemble::start(1, ServerConfig::new().min_session_timeout_ms(1000))
            .expect("start ZooKeeper (apt-get install -y zookeeper)")
    })
}

/// A client connected straight to the server.
pub async fn connect() -> Client {
    Client::builder(&server().connect_string())
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

/// A proxy in front of the server.
pub async fn proxy() -> FaultProxy {
    FaultProxy::start(server().member_addr(0))
        .await
        .expect("start proxy")
}

/// A client connected through `proxy`, with the given session timeout.
pub async fn connect_via(proxy: &FaultProxy, session_timeout: Duration) -> Client {
    Client::builder(&proxy.addr().to_string())
        .session_timeout(session_timeout)
        .connect()
        .await
        .expect("connect through proxy")
}

/// A fresh, empty base path for one test.
pub async fn base(client: &Client, name: &str) -> String {
    let path = format!("/obs-{name}");
    client.deleteall(&path).await.expect("clean");
    client.ensure_path(&path).await.expect("base path");
    path
}

/// Waits for `fut` at most `secs` seconds.
pub async fn within<T>(secs: u64, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out waiting")
}

/// Polls `check` until it returns true, at most `secs` seconds (for conditions that have
/// no event of their own, such as "the server tree equals the cache").
pub async fn eventually<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Cuts the proxied connection and waits until the client has reconnected.
pub async fn cut_and_reconnect(client: &Client, proxy: &FaultProxy) {
    let mut events = client.state_changes();
    proxy.cut_rst().await;
    within(30, async {
        loop {
            match events.recv().await {
                Ok(SessionEvent::State(s, _)) if s.is_connected() => return,
                Ok(_) => {}
                Err(e) => panic!("state events: {e}"),
            }
        }
    })
    .await;
}

/// Makes the client lose its session: black-holes the proxy until the client has declared
/// the session expired, then lets it through again and waits for the new session.
pub async fn expire_session(client: &Client, proxy: &FaultProxy) {
    let old = client.session_id();
    // The state passes through Expired quickly (the client reconnects at once), so follow
    // the event stream rather than the current state.
    let mut events = client.state_changes();
    proxy.blackhole(true);
    proxy.cut_rst().await;
    within(60, async {
        loop {
            match events.recv().await {
                Ok(SessionEvent::State(SessionState::Expired, _)) => return,
                Ok(_) => {}
                Err(e) => panic!("state events: {e}"),
            }
        }
    })
    .await;
    proxy.blackhole(false);
    within(60, async {
        loop {
            match events.recv().await {
                Ok(SessionEvent::State(s, _)) if s.is_connected() => return,
                Ok(_) => {}
                Err(e) => panic!("state events: {e}"),
            }
        }
    })
    .await;
    assert_ne!(client.session_id(), old, "a new session");
}

/// Every node of the subtree at `root` with its data and Stat, read afresh (level by
/// level, pipelined).
pub async fn read_tree(client: &Client, root: &str) -> BTreeMap<String, (Bytes, Stat)> {
    let mut out = BTreeMap::new();
    let mut level = vec![root.to_owned()];
    while !level.is_empty() {
        let reads: Vec<_> = level
            .iter()
            .map(|p| (p.clone(), client.get_data(p), client.get_children(p)))
            .collect();
        let mut next = Vec::new();
        for (path, data, kids) in reads {
            let (Ok((data, stat)), Ok(kids)) = (data.await, kids.await) else {
                continue;
            };
            out.insert(path.clone(), (data, stat));
            for c in kids {
                next.push(if path == "/" {
                    format!("/{c}")
                } else {
                    format!("{path}/{c}")
                });
            }
        }
        level = next;
    }
    out
}

/// The children of `path`, sorted (empty if it does not exist).
pub async fn children(client: &Client, path: &str) -> Vec<String> {
    let mut c = client.get_children(path).await.unwrap_or_default();
    c.sort();
    c
}
