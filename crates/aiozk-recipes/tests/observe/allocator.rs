//! Allocator on a real server.

use std::collections::BTreeSet;
use std::time::Duration;

use aiozk_recipes::{Allocator, RendezvousHash};

use crate::common::{base, children, connect, connect_via, eventually, proxy, within};

fn items(range: std::ops::Range<u32>) -> BTreeSet<String> {
    range.map(|i| format!("part-{i:02}")).collect()
}

/// True when the allocators agree on one allocation that covers `want` exactly once.
fn settled(allocators: &[&Allocator], want: &BTreeSet<String>) -> bool {
    let mut all = Vec::new();
    for a in allocators {
        if a.items() != *want || a.members().len() != allocators.len() {
            return false;
        }
        all.extend(a.allocation());
    }
    let unique: BTreeSet<&String> = all.iter().collect();
    all.len() == want.len() && unique.len() == want.len()
}

#[tokio::test]
async fn items_are_spread_and_rebalanced() {
    let zk = connect().await;
    let b = base(&zk, "alloc").await;
    let clients = [connect().await, connect().await, connect().await];
    let a = Allocator::new(&clients[0], &b, "a").unwrap();
    let bb = Allocator::new(&clients[1], &b, "b").unwrap();
    let c = Allocator::new(&clients[2], &b, "c").unwrap();
    for x in [&a, &bb, &c] {
        x.start().await.unwrap();
    }
    a.update(items(0..10)).await.unwrap();
    eventually(10, "three-way split", || async {
        settled(&[&a, &bb, &c], &items(0..10))
    })
    .await;
    let sizes: Vec<usize> = [&a, &bb, &c].iter().map(|x| x.allocation().len()).collect();
    assert_eq!(sizes, vec![4, 3, 3], "round robin deals evenly");
    // The stored set is aiozk's JSON list.
    let (data, _) = zk.get_data(&b).await.unwrap();
    assert!(data.starts_with(b"[\"part-00\", \"part-01\""));

    // A member leaves: the others take over its items.
    let change = a.wait_for_change();
    let (changed, stopped) = tokio::join!(within(10, change), c.stop());
    stopped.unwrap();
    changed.unwrap();
    eventually(10, "two-way split", || async {
        settled(&[&a, &bb], &items(0..10))
    })
    .await;

    // Items added and removed from another client are seen by all.
    let writer = Allocator::new(&zk, &b, "writer-not-started").unwrap();
    writer.add("part-10").await.unwrap();
    writer.add("part-10").await.unwrap(); // idempotent
    writer.remove("part-00").await.unwrap();
    eventually(10, "set change applied", || async {
        settled(&[&a, &bb], &items(1..11))
    })
    .await;
    a.stop().await.unwrap();
    bb.stop().await.unwrap();
    assert_eq!(
        children(&zk, &format!("{b}/members")).await,
        Vec::<String>::new()
    );
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn concurrent_updates_are_not_lost() {
    let zk = connect().await;
    let b = base(&zk, "alloc-cas").await;
    let mut tasks = Vec::new();
    for w in 0..4 {
        let client = connect().await;
        let b = b.clone();
        tasks.push(tokio::spawn(async move {
            let alloc = Allocator::new(&client, &b, &format!("w{w}")).unwrap();
            for i in 0..10 {
                alloc.add(&format!("w{w}-{i}")).await.unwrap();
            }
        }));
    }
    for t in tasks {
        within(60, t).await.unwrap();
    }
    let observer = Allocator::new(&zk, &b, "observer").unwrap();
    observer.start().await.unwrap();
    assert_eq!(observer.items().len(), 40);
    assert_eq!(
        observer.allocation().len(),
        40,
        "the only member gets everything"
    );
    observer.stop().await.unwrap();
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn rendezvous_strategy_and_reconnect() {
    let zk = connect().await;
    let b = base(&zk, "alloc-hash").await;
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(10)).await;
    let other = connect().await;
    let x = Allocator::with_strategy(&proxied, &b, "x", RendezvousHash).unwrap();
    let y = Allocator::with_strategy(&other, &b, "y", RendezvousHash).unwrap();
    x.start().await.unwrap();
    y.start().await.unwrap();
    y.update(items(0..30)).await.unwrap();
    eventually(10, "split", || async { settled(&[&x, &y], &items(0..30)) }).await;
    let y_before = y.allocation();

    // A third member joins while x's connection is stalled; x learns of it after the cut.
    proxy.stall();
    let third_client = connect().await;
    let z = Allocator::with_strategy(&third_client, &b, "z", RendezvousHash).unwrap();
    z.start().await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    eventually(30, "three-way split after reconnect", || async {
        settled(&[&x, &y, &z], &items(0..30))
    })
    .await;
    // With rendezvous hashing, y only lost items (to z), never gained any.
    assert!(y.allocation().is_subset(&y_before));
    for a in [&x, &y, &z] {
        a.stop().await.unwrap();
    }
    zk.deleteall(&b).await.unwrap();
}
