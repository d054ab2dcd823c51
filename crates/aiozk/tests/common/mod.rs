//! Shared helpers for the integration tests: one real ZooKeeper server per test binary.

#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::Duration;

use aiozk::Client;
use aiozk_testkit::{Ensemble, ServerConfig};

/// A standalone server shared by the tests of one binary (TTL nodes enabled, short
/// sessions allowed). It is stopped when the test process exits.
pub fn server() -> &'static Ensemble {
    static SERVER: OnceLock<Ensemble> = OnceLock::new();
    SERVER.get_or_init(|| {
        Ensemble::start(
            1,
            ServerConfig::new()
                .extended_types(true)
                .min_session_timeout_ms(1000),
        )
        .expect("start ZooKeeper (apt-get install -y zookeeper)")
    })
}

/// Connects to the shared server with `suffix` appended to the connect string (a chroot).
pub async fn connect(suffix: &str) -> Client {
    Client::builder(&format!("{}{}", server().connect_string(), suffix))
        .session_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect")
}

/// A fresh, empty base path for one test.
pub async fn base(client: &Client, name: &str) -> String {
    let path = format!("/t-{name}");
    client.deleteall(&path).await.expect("clean");
    client.ensure_path(&path).await.expect("base path");
    path
}

/// Waits for `fut` at most `secs` seconds.
pub async fn within<T>(secs: u64, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .expect("timed out waiting")
}
