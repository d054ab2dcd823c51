//! Helpers for the ownership recipe tests: one real ZooKeeper server for the whole binary.

use std::future::IntoFuture;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiozk::Client;
use aiozk_testkit::{Ensemble, ServerConfig};

/// A standalone server shared by the tests of one binary. `tickTime` is 200 ms so that the
/// server expires sessions close to their timeout (it rounds expiry up to a tick), and
/// sessions of 1 s to 20 s are allowed.
pub fn server() -> &'static Ensemble {
    static SERVER: OnceLock<Ensemble> = OnceLock::new();
    SERVER.get_or_init(|| {
        Ensemble::start(
            1,
            ServerConfig::new()
                .tick_time_ms(200)
                .min_session_timeout_ms(1000)
                .max_session_timeout_ms(20_000),
        )
        .expect("start ZooKeeper (apt-get install -y zookeeper)")
    })
}

/// A client of the shared server with a 10 s session.
pub async fn connect() -> Client {
    connect_to(&server().connect_string(), Duration::from_secs(10)).await
}

/// A client of `servers` with the given session timeout.
pub async fn connect_to(servers: &str, session_timeout: Duration) -> Client {
    Client::builder(servers)
        .session_timeout(session_timeout)
        .connect()
        .await
        .expect("connect")
}

/// A fresh, empty base path for one test.
pub async fn base(client: &Client, name: &str) -> String {
    let path = format!("/own-{name}");
    client.deleteall(&path).await.expect("clean");
    client.ensure_path(&path).await.expect("base path");
    path
}

/// The children of `path`, sorted by name.
pub async fn children(client: &Client, path: &str) -> Vec<String> {
    let mut c = client.get_children(path).await.expect("get_children");
    c.sort();
    c
}

/// Waits (with a children watch, no polling) until `pred` holds for the children of
/// `path`, at most `secs` seconds; returns them.
pub async fn wait_children(
    client: &Client,
    path: &str,
    secs: u64,
    pred: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    within(secs, async {
        loop {
            let (mut c, _, watcher) = client
                .get_children_watched(path)
                .await
                .expect("get_children_watched");
            c.sort();
            if pred(&c) {
                return c;
            }
            watcher.await;
        }
    })
    .await
}

/// Waits for `fut` at most `secs` seconds.
pub async fn within<T>(secs: u64, fut: impl IntoFuture<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out waiting")
}

/// Milliseconds since `t`.
pub fn ms_since(t: Instant) -> u128 {
    t.elapsed().as_millis()
}

/// True for `<label>-<32 hex digits>-<10 digits>`, aiozk's node name.
pub fn is_aiozk_name(name: &str, label: &str) -> bool {
    let Some(rest) = name.strip_prefix(label).and_then(|r| r.strip_prefix('-')) else {
        return false;
    };
    let Some((guid, seq)) = rest.split_once('-') else {
        return false;
    };
    guid.len() == 32
        && guid.bytes().all(|b| b.is_ascii_hexdigit())
        && seq.len() == 10
        && seq.bytes().all(|b| b.is_ascii_digit())
}

/// How much later than asked a timeout may fire in these tests: scheduling noise on a
/// busy machine (several test binaries and servers share it). Typical values are 0-5 ms.
pub const TIMER_SLACK_MS: u128 = 250;
