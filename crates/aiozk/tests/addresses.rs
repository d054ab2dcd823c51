//! A server name with several addresses, the first of them black-holed: every address is
//! tried in the resolver's order, the next one after about 250 ms without an answer, and the
//! name is resolved again for every connection attempt.
//!
//! The name comes from a hosts file in a private network and mount namespace that the test
//! creates (it re-runs itself under `unshare --net --mount`, which needs root) and that
//! disappears with it: there `/etc/hosts` is bind-mounted from a file of the test, and
//! nftables drops every packet to the first address.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aiozk::Client;
use aiozk_testkit::{Ensemble, ServerConfig};

/// Set in the environment of the copy of this test that runs inside the namespaces.
const INSIDE: &str = "AIOZK_TEST_IN_PRIVATE_NETNS";
const NAME: &str = "zk-multi-address.test";
const BLACK_HOLE: &str = "127.0.0.3";
const LIVE: &str = "127.0.0.2";
const MOVED: &str = "127.0.0.4";

#[test]
fn every_resolved_address_is_tried_in_order_and_staggered() {
    if std::env::var_os(INSIDE).is_some() {
        return inside_the_namespaces();
    }
    let exe = std::env::current_exe().expect("the test binary");
    let status = Command::new("unshare")
        .args(["--net", "--mount", "--"])
        .arg(exe)
        .args([
            "--exact",
            "every_resolved_address_is_tried_in_order_and_staggered",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("run unshare (util-linux; the test needs root for its namespaces)");
    assert!(
        status.success(),
        "the test inside the private namespaces failed: {status}"
    );
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd)
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(status.success(), "{cmd} {args:?}: {status}");
}

fn write_hosts(path: &Path, lines: &str) {
    // In place: /etc/hosts is a bind mount of this very file.
    std::fs::write(path, lines).expect("write the hosts file");
}

fn inside_the_namespaces() {
    run("ip", &["link", "set", "lo", "up"]);
    // Listen on every local address, so that both names' addresses reach the server.
    let zk = Ensemble::start(1, ServerConfig::new().cfg_line("clientPortAddress=0.0.0.0"))
        .expect("start ZooKeeper inside the namespace");
    let port = zk.client_port(0);
    run("nft", &["add", "table", "ip", "aiozk_test"]);
    run(
        "nft",
        &[
            "add",
            "chain",
            "ip",
            "aiozk_test",
            "out",
            "{ type filter hook output priority 0; }",
        ],
    );
    let port_text = port.to_string();
    run(
        "nft",
        &[
            "add",
            "rule",
            "ip",
            "aiozk_test",
            "out",
            "ip",
            "daddr",
            BLACK_HOLE,
            "tcp",
            "dport",
            &port_text,
            "drop",
        ],
    );
    let hosts = zk.dir().join("hosts");
    write_hosts(
        &hosts,
        &format!("127.0.0.1 localhost\n{BLACK_HOLE} {NAME}\n{LIVE} {NAME}\n"),
    );
    run(
        "mount",
        &[
            "--bind",
            hosts.to_str().expect("a UTF-8 path"),
            "/etc/hosts",
        ],
    );

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let resolved: Vec<SocketAddr> = tokio::net::lookup_host((NAME, port))
            .await
            .expect("the name resolves")
            .collect();
        let black_hole: SocketAddr = format!("{BLACK_HOLE}:{port}").parse().unwrap();
        let live: SocketAddr = format!("{LIVE}:{port}").parse().unwrap();
        assert_eq!(resolved, [black_hole, live], "the resolver's order");
        let swallowed = tokio::time::timeout(
            Duration::from_millis(500),
            tokio::net::TcpStream::connect(black_hole),
        )
        .await;
        assert!(swallowed.is_err(), "{BLACK_HOLE} is not black-holed");

        let connect = format!("{NAME}:{port}");
        let mut times = Vec::new();
        for _ in 0..10 {
            let t0 = Instant::now();
            let client = Client::builder(&connect)
                .connect_timeout(Duration::from_secs(10))
                .connect()
                .await
                .expect("connect through the second address");
            times.push(t0.elapsed());
            assert_eq!(client.connected_server(), Some(live.to_string()));
            client.close().await;
        }
        println!("connection times through {NAME} (first address black-holed): {times:?}");
        for t in &times {
            assert!(*t < Duration::from_millis(1500), "{times:?}");
        }

        // Every attempt resolves again: after the name moves, a reconnect goes to the new
        // address.
        let client = Client::builder(&connect).connect().await.expect("connect");
        write_hosts(&hosts, &format!("127.0.0.1 localhost\n{MOVED} {NAME}\n"));
        zk.restart_async(0).await.expect("restart the server");
        let moved = format!("{MOVED}:{port}");
        let mut state = client.state_watch();
        tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                if state.borrow().is_connected()
                    && client.connected_server().as_deref() == Some(moved.as_str())
                {
                    return;
                }
                state.changed().await.expect("the client runs");
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no reconnect to {moved}: {:?}", client.connected_server()));
        client.close().await;
    });
    run("umount", &["/etc/hosts"]);
}
