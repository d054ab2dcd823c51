//! Ensemble operations against real ensembles: replacing the server list at run time
//! (ZOOKEEPER-1355 rebalancing) and dynamic reconfiguration.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aiozk::{Client, Error};
use aiozk_testkit::{Ensemble, ServerConfig};
use common::load::{load, watch_session, within, Tally};

/// Waits until every client is connected; returns how many are on each server.
async fn distribution(clients: &[Client]) -> BTreeMap<String, usize> {
    within(60, "every client to be connected", async {
        loop {
            let servers: Vec<Option<String>> = clients
                .iter()
                .map(|c| {
                    c.state()
                        .is_connected()
                        .then(|| c.connected_server())
                        .flatten()
                })
                .collect();
            if servers.iter().all(Option::is_some) {
                let mut load = BTreeMap::new();
                for s in servers.into_iter().flatten() {
                    *load.entry(s).or_insert(0) += 1;
                }
                return load;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_servers_rebalances_without_losing_sessions() {
    let zk = Ensemble::start_async(
        3,
        ServerConfig::new().startup_timeout(Duration::from_secs(90)),
    )
    .await
    .expect("start ZooKeeper (scripts/install-zookeeper.sh installs it)");
    let addr = |i: usize| zk.member_addr(i).to_string();
    let list = |members: &[usize]| {
        members
            .iter()
            .map(|&i| addr(i))
            .collect::<Vec<_>>()
            .join(",")
    };
    const CLIENTS: usize = 60;
    let admin = Client::connect(&zk.connect_string())
        .await
        .expect("connect");
    admin.ensure_path("/rebalance").await.expect("base");
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let c = Client::builder(&list(&[0, 1]))
            .session_timeout(Duration::from_secs(10))
            .connect()
            .await
            .expect("connect");
        let path = format!("/rebalance/c{i}");
        c.create(&path, b"").await.expect("create");
        watch_session(&c, tally.clone());
        load(c.clone(), path, stop.clone(), tally.clone());
        clients.push(c);
    }
    let sessions: Vec<i64> = clients.iter().map(Client::session_id).collect();
    let before = distribution(&clients).await;
    println!("on servers 0 and 1: {before:?}");
    assert!(!before.contains_key(&addr(2)));

    // Grow the list to 3: about a third move, all to the added server.
    let placed: Vec<Option<String>> = clients.iter().map(Client::connected_server).collect();
    let mut moved = 0;
    let mut movers = Vec::new();
    let mut is_mover = Vec::new();
    for c in &clients {
        let moves = c.update_servers(&list(&[0, 1, 2])).await.expect("update");
        if moves {
            moved += 1;
            movers.push(c.clone());
        }
        is_mover.push(moves);
    }
    // A move waits for the replies on its connection: wait until the movers are across.
    // A server behind the zxid a client has seen refuses it (the client must go elsewhere,
    // as ZooKeeper's servers say), and a refused mover goes back to a server of the old
    // list: under a heavy write load a few may.
    within(60, "the movers to reconnect", async {
        while !movers
            .iter()
            .all(|c| c.state().is_connected() && c.stats().reconnects >= 1)
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let arrived = movers
        .iter()
        .filter(|c| c.connected_server() == Some(addr(2)))
        .count();
    println!(
        "{arrived} of {} movers on the new server, {} refused by it",
        movers.len(),
        movers.len() - arrived
    );
    assert!(
        arrived * 2 >= movers.len(),
        "{arrived} of {} movers arrived",
        movers.len()
    );
    let grown = distribution(&clients).await;
    println!("after growing to 3 servers ({moved} moved): {grown:?}");
    // Expected 20 of 60; a binomial spread of 3.7, so this bound is 3.8 of them.
    assert!((6..=34).contains(&moved), "{moved} of {CLIENTS} moved");
    assert_eq!(
        grown.get(&addr(2)).copied().unwrap_or(0),
        arrived,
        "only movers go to the new server"
    );
    for ((c, was), mover) in clients.iter().zip(&placed).zip(&is_mover) {
        if !mover {
            assert_eq!(
                &c.connected_server(),
                was,
                "a client that did not move kept its server"
            );
        }
    }

    // Shrink to servers 1 and 2: exactly the clients of server 0 move.
    let on_0 = grown.get(&addr(0)).copied().unwrap_or(0);
    let mut moved = 0;
    for c in &clients {
        if c.update_servers(&list(&[1, 2])).await.expect("update") {
            moved += 1;
        }
    }
    within(60, "every client to leave the removed server", async {
        while clients
            .iter()
            .any(|c| !c.state().is_connected() || c.connected_server() == Some(addr(0)))
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let shrunk = distribution(&clients).await;
    println!("after shrinking to servers 1 and 2 ({moved} moved): {shrunk:?}");
    assert_eq!(moved, on_0);
    assert!(
        !shrunk.contains_key(&addr(0)),
        "nobody stays on a removed server"
    );
    assert_eq!(clients[0].servers(), list(&[1, 2]));

    // The load went on throughout; let it run a little on the final placement.
    let ok_before = tally.ok.load(Ordering::Relaxed);
    within(30, "requests after the moves", async {
        while tally.ok.load(Ordering::Relaxed) < ok_before + 2 * CLIENTS as u64 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    stop.store(true, Ordering::Relaxed);
    let now: Vec<i64> = clients.iter().map(Client::session_id).collect();
    assert_eq!(now, sessions, "every client kept its session");
    for c in &clients {
        assert_eq!(c.stats().sessions, 1);
    }
    let bad = tally.bad.lock().unwrap().clone();
    assert!(
        bad.is_empty(),
        "failures other than connection losses: {bad:?}"
    );
    println!(
        "requests: {} ok, {} connection losses",
        tally.ok.load(Ordering::Relaxed),
        tally.connection_losses.load(Ordering::Relaxed)
    );
    // A move waits for the replies on its connection: no request failed at all.
    assert_eq!(tally.connection_losses.load(Ordering::Relaxed), 0);

    // Bad input is refused without touching the connection.
    let c = &clients[0];
    let on = c.connected_server();
    assert!(matches!(
        c.update_servers("").await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.update_servers(&format!("{}/elsewhere", list(&[1]))).await,
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.update_servers(&format!("tls://{}", addr(1))).await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(c.connected_server(), on);
    for c in clients {
        c.close().await;
    }
    admin.close().await;
}
