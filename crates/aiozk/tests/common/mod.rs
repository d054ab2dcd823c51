//! Shared helpers for the integration tests: one real ZooKeeper server per test binary.

#![allow(dead_code)]

pub mod load;

use std::sync::OnceLock;
use std::time::Duration;

use aiozk::Client;
use aiozk_testkit::{Ensemble, ServerConfig, ServerVersion};

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
        .expect("start ZooKeeper (scripts/install-zookeeper.sh installs it)")
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

/// The release the shared server runs (`ZK_VERSION`), read from `srvr` when the test kit cannot
/// tell.
pub fn version() -> ServerVersion {
    server().version().unwrap_or_else(|| {
        let srvr = server().four_letter(0, "srvr").expect("srvr");
        srvr.lines()
            .find_map(|l| l.strip_prefix("Zookeeper version: "))
            .and_then(ServerVersion::parse)
            .unwrap_or_else(|| panic!("no version in {srvr:?}"))
    })
}

/// Whether `exists` needs READ permission on the node (ZOOKEEPER-2590: from 3.8.4 and 3.9.2).
pub fn exists_needs_read(v: ServerVersion) -> bool {
    v >= ServerVersion::new(3, 9, 2) || (v.minor == 8 && v >= ServerVersion::new(3, 8, 4))
}

/// Whether a create inside a multi answers with the new node's Stat (ZOOKEEPER-4026: from
/// 3.8.2 and 3.9.0; container and TTL creates always do).
pub fn multi_create_has_stat(v: ServerVersion) -> bool {
    v >= ServerVersion::new(3, 9, 0) || (v.minor == 8 && v >= ServerVersion::new(3, 8, 2))
}
