//! TreeCache on a real server, with connection cuts and session expiry.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aiozk::{Client, Stat};
use aiozk_recipes::{CacheWatchMode, TreeCache, TreeCacheOptions, TreeEvent, TreeEvents};
use bytes::Bytes;

use crate::common::{
    base, connect, connect_via, eventually, expire_session, proxy, read_tree, within,
};

fn as_map(cache: &TreeCache) -> BTreeMap<String, (Bytes, Stat)> {
    cache
        .snapshot()
        .into_iter()
        .map(|(p, e)| (p, (e.data, e.stat)))
        .collect()
}

/// Waits until the cache equals a fresh read of the server's subtree.
async fn converged(cache: &TreeCache, zk: &Client, root: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let server = read_tree(zk, root).await;
        let mine = as_map(cache);
        if server == mine {
            return;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = server.keys().filter(|k| !mine.contains_key(*k)).collect();
            let extra: Vec<_> = mine.keys().filter(|k| !server.contains_key(*k)).collect();
            let differ: Vec<_> = server
                .iter()
                .filter(|(k, v)| mine.get(*k).is_some_and(|m| m != *v))
                .map(|(k, _)| k)
                .collect();
            panic!(
                "cache never converged: missing {missing:?}, extra {extra:?}, differ {differ:?}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits for the next `Resynced` event.
async fn resynced(events: &mut TreeEvents) -> aiozk_recipes::ResyncReport {
    within(60, async {
        loop {
            match events.next().await {
                Some(TreeEvent::Resynced(r)) => return r,
                Some(TreeEvent::Stopped(e)) => panic!("cache stopped: {e}"),
                Some(_) => {}
                None => panic!("cache gone"),
            }
        }
    })
    .await
}

/// Creates `root/d{0..dirs}/n{0..per_dir}` (pipelined).
async fn build_tree(zk: &Client, root: &str, dirs: usize, per_dir: usize) {
    let dir_creates: Vec<_> = (0..dirs)
        .map(|d| zk.create(&format!("{root}/d{d}"), format!("dir {d}").as_bytes()))
        .collect();
    for c in dir_creates {
        c.await.unwrap();
    }
    let creates: Vec<_> = (0..dirs)
        .flat_map(|d| (0..per_dir).map(move |n| (d, n)))
        .map(|(d, n)| zk.create(&format!("{root}/d{d}/n{n}"), format!("{d}:{n}").as_bytes()))
        .collect();
    for c in creates {
        c.await.unwrap();
    }
}

#[tokio::test]
async fn mirrors_a_tree_and_reports_changes() {
    let zk = connect().await;
    let b = base(&zk, "tc-basic").await;
    let root = format!("{b}/root");
    zk.create(&root, b"r").await.unwrap();
    build_tree(&zk, &root, 2, 2).await;
    let cache = TreeCache::start(&zk, &root).await.unwrap();
    assert_eq!(cache.mode(), CacheWatchMode::PersistentRecursive);
    assert_eq!(as_map(&cache), read_tree(&zk, &root).await);
    assert_eq!(cache.len(), 7);
    assert_eq!(
        cache.children(&root),
        vec!["d0".to_owned(), "d1".to_owned()]
    );
    let mut events = cache.events();

    let node = format!("{root}/d0/n0");
    zk.set_data(&node, b"changed", None).await.unwrap();
    let created = format!("{root}/d1/new");
    zk.create(&created, b"fresh").await.unwrap();
    zk.delete(&format!("{root}/d0/n1"), None).await.unwrap();
    let mut seen = Vec::new();
    within(10, async {
        while seen.len() < 3 {
            match events.next().await.unwrap() {
                TreeEvent::Updated(p) if p == node => seen.push("updated"),
                TreeEvent::Added(p) if p == created => seen.push("added"),
                TreeEvent::Removed(p) if p.ends_with("d0/n1") => seen.push("removed"),
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(cache.data(&node).as_deref(), Some(&b"changed"[..]));
    converged(&cache, &zk, &root).await;

    // The whole tree goes away and comes back.
    zk.deleteall(&root).await.unwrap();
    eventually(10, "cache emptied", || async { cache.is_empty() }).await;
    zk.create(&root, b"again").await.unwrap();
    zk.create(&format!("{root}/x"), b"").await.unwrap();
    converged(&cache, &zk, &root).await;

    // Stopping removes the watch.
    let before = zk.stats().live_watches;
    cache.stop();
    eventually(10, "watch removed", || async {
        zk.stats().live_watches < before
    })
    .await;
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn cached_entries_tell_null_data_from_empty_data() {
    let zk = connect().await;
    let root = base(&zk, "tc-null").await;
    let null = format!("{root}/null");
    let empty = format!("{root}/empty");
    zk.create_opt(&null, None, &aiozk::CreateOptions::new())
        .await
        .unwrap();
    zk.create(&empty, b"").await.unwrap();
    let cache = TreeCache::start(&zk, &root).await.unwrap();
    let entry = cache.get(&null).expect("cached");
    assert!(entry.null_data && entry.data.is_empty());
    let entry = cache.get(&empty).expect("cached");
    assert!(!entry.null_data && entry.data.is_empty());
    // A change from empty to null data is seen.
    zk.set_data_opt(&empty, None, None).await.unwrap();
    eventually(10, "null data cached", || async {
        cache.get(&empty).is_some_and(|e| e.null_data)
    })
    .await;
    zk.create_opt(&format!("{root}/later"), None, &aiozk::CreateOptions::new())
        .await
        .unwrap();
    eventually(10, "new null node cached", || async {
        cache
            .get(&format!("{root}/later"))
            .is_some_and(|e| e.null_data)
    })
    .await;
    drop(cache);
    zk.deleteall(&root).await.unwrap();
}

#[tokio::test]
async fn thousand_nodes_little_changed_during_a_cut_costs_few_reads() {
    let zk = connect().await;
    let b = base(&zk, "tc-thousand").await;
    let root = format!("{b}/root");
    zk.create(&root, b"").await.unwrap();
    build_tree(&zk, &root, 10, 100).await;
    let proxy = proxy().await;
    let client = connect_via(&proxy, Duration::from_secs(10)).await;
    let started = Instant::now();
    let cache = TreeCache::start(&client, &root).await.unwrap();
    let load = cache.stats();
    println!(
        "initial load of {} nodes: {:?}, {} data reads, {} children reads",
        cache.len(),
        started.elapsed(),
        load.data_reads,
        load.children_reads
    );
    assert_eq!(cache.len(), 1011);
    assert_eq!(as_map(&cache), read_tree(&zk, &root).await);
    let mut events = cache.events();

    // While the cache's connection is stalled: 5 data changes, 3 creates, 2 deletes.
    proxy.stall();
    for i in 0..5 {
        zk.set_data(&format!("{root}/d{i}/n{i}"), b"changed", None)
            .await
            .unwrap();
    }
    for i in 0..3 {
        zk.create(&format!("{root}/d9/extra{i}"), b"new")
            .await
            .unwrap();
    }
    zk.delete(&format!("{root}/d8/n0"), None).await.unwrap();
    zk.delete(&format!("{root}/d8/n1"), None).await.unwrap();
    let before = cache.stats();
    proxy.cut_rst().await;
    proxy.resume();
    let report = resynced(&mut events).await;
    converged(&cache, &zk, &root).await;
    let after = cache.stats();
    let data_and_children =
        (after.data_reads - before.data_reads) + (after.children_reads - before.children_reads);
    println!(
        "resync after the cut: {report:?}; reads after reconnect: {} stat (exists), {} data, {} children",
        after.stat_reads - before.stat_reads,
        after.data_reads - before.data_reads,
        after.children_reads - before.children_reads,
    );
    println!(
        "a full reload would have made {} data + {} children reads",
        load.data_reads, load.children_reads
    );
    assert_eq!(
        report.changed,
        5 + 3 + 2 + 2,
        "5 data, 3 new, 2 gone, 2 parents' Stats"
    );
    // A data read per changed or new node, a listing per parent whose children changed.
    assert!(
        data_and_children <= 10,
        "{data_and_children} data/children reads for 10 changes"
    );
    assert!(data_and_children * 50 < load.data_reads + load.children_reads);
    // No Stat read per node (the server reports what changed): one read of the root, after
    // which the report is known to be complete.
    assert_eq!(after.stat_reads - before.stat_reads, 1);
    drop(cache);
    zk.deleteall(&b).await.unwrap();
}

/// A 10,000-node cache resynchronised after three cuts, with 0, 10 and 1,000 nodes changed
/// while its connection was stalled: each resync makes at most (changed nodes + 1) reads and
/// no Stat read per unchanged node (the server reports which nodes changed). Prints the reads
/// and the time of each resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_nodes_resync_with_reads_only_for_what_changed() {
    let zk = connect().await;
    let b = base(&zk, "tc-10k").await;
    let root = format!("{b}/root");
    zk.create(&root, b"").await.unwrap();
    build_tree(&zk, &root, 99, 100).await;
    let proxy = proxy().await;
    let client = connect_via(&proxy, Duration::from_secs(20)).await;
    let cache = TreeCache::start(&client, &root).await.unwrap();
    assert_eq!(cache.len(), 10_000);
    let mut events = cache.events();
    for (round, changed) in [0usize, 10, 1000].into_iter().enumerate() {
        proxy.stall();
        let writes: Vec<_> = (0..changed)
            .map(|i| {
                let node = format!("{root}/d{}/n{}", i % 99, (i / 99 + round * 13) % 100);
                zk.set_data(&node, format!("round {round}").as_bytes(), None)
            })
            .collect();
        for w in writes {
            w.await.unwrap();
        }
        let before = cache.stats();
        let batches = client.stats().set_watches_batches;
        proxy.cut_rst().await;
        proxy.resume();
        let report = resynced(&mut events).await;
        converged(&cache, &zk, &root).await;
        let after = cache.stats();
        let reads = after.reads() - before.reads();
        // Each catch-up pass reads the root once (its reply proves the catch-up events are
        // all in); a loaded machine can see a second reconnect, and so a second pass,
        // before the cache has converged.
        let passes = after.resyncs - before.resyncs;
        println!(
            "10,000 nodes, {changed} changed during the cut: {reads} reads in {passes} \
             resync pass(es) (the first: {} data, {} children, {} stat, {:?}); the \
             re-registration asking the server took {} SetWatches requests",
            report.data_reads,
            report.children_reads,
            report.stat_reads,
            report.took,
            client.stats().set_watches_batches - batches
        );
        assert_eq!(report.known, 10_000);
        assert_eq!(report.changed, changed as u64, "{report:?}");
        assert!((1..=2).contains(&passes), "{passes} passes: {report:?}");
        assert!(
            reads <= changed as u64 + passes,
            "{reads} reads in {passes} passes: {report:?}"
        );
        assert!(report.stat_reads <= 1, "{report:?}");
    }
    drop(cache);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn thousand_nodes_with_a_busy_writer_and_repeated_cuts_converges() {
    let zk = connect().await;
    let b = base(&zk, "tc-busy").await;
    let root = format!("{b}/root");
    zk.create(&root, b"").await.unwrap();
    build_tree(&zk, &root, 10, 100).await;
    let proxy = proxy().await;
    let client = connect_via(&proxy, Duration::from_secs(10)).await;
    let cache = TreeCache::start(&client, &root).await.unwrap();
    let mut events = cache.events();

    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let zk = zk.clone();
        let root = root.clone();
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut i: u64 = 0;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let d = i % 10;
                let n = (i * 7) % 100;
                let _ = zk
                    .set_data(
                        &format!("{root}/d{d}/n{n}"),
                        format!("w{i}").as_bytes(),
                        None,
                    )
                    .await;
                match i % 5 {
                    0 => {
                        let _ = zk.create(&format!("{root}/d{d}/w{i}"), b"new").await;
                    }
                    1 if i > 10 => {
                        let _ = zk
                            .delete(&format!("{root}/d{}/w{}", (i - 6) % 10, i - 6), None)
                            .await;
                    }
                    2 => {
                        let _ = zk.create(&format!("{root}/d{d}/w{i}"), b"").await;
                        let _ = zk.create(&format!("{root}/d{d}/w{i}/deep"), b"deep").await;
                    }
                    // Remove the two-level subtree made one round earlier, most of the time,
                    // so the tree stays around a thousand nodes.
                    3 if i % 3 != 0 => {
                        let dir = format!("{root}/d{}/w{}", (i - 1) % 10, i - 1);
                        let _ = zk.delete(&format!("{dir}/deep"), None).await;
                        let _ = zk.delete(&dir, None).await;
                    }
                    _ => {}
                }
            }
            i
        })
    };
    // Cuts: some plain, some after a stall (changes pile up unseen).
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        if round % 2 == 0 {
            proxy.stall();
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        proxy.cut_rst().await;
        proxy.resume();
        resynced(&mut events).await;
    }
    stop.store(true, Ordering::SeqCst);
    let writes = writer.await.unwrap();
    let before = cache.stats();
    converged(&cache, &zk, &root).await;
    let after = cache.stats();
    println!(
        "writer made {writes} rounds; cache converged to {} nodes; {} resyncs; last resync: {:?}; reads after the writer stopped: {}",
        cache.len(),
        after.resyncs,
        after.last_resync,
        after.reads() - before.reads()
    );
    assert!(after.resyncs >= 6);
    drop(cache);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn survives_a_new_session() {
    let zk = connect().await;
    let b = base(&zk, "tc-expire").await;
    let root = format!("{b}/root");
    zk.create(&root, b"").await.unwrap();
    build_tree(&zk, &root, 5, 20).await;
    let proxy = proxy().await;
    let client = connect_via(&proxy, Duration::from_secs(2)).await;
    let cache = TreeCache::start(&client, &root).await.unwrap();
    let mut events = cache.events();
    let changer = {
        let zk = zk.clone();
        let root = root.clone();
        async move {
            zk.set_data(&format!("{root}/d0/n0"), b"while expired", None)
                .await
                .unwrap();
            zk.create(&format!("{root}/d1/born"), b"").await.unwrap();
            zk.delete(&format!("{root}/d2/n2"), None).await.unwrap();
        }
    };
    tokio::join!(expire_session(&client, &proxy), changer);
    let report = resynced(&mut events).await;
    println!("resync after a new session: {report:?}");
    converged(&cache, &zk, &root).await;
    // The watch carried over to the new session and was caught up like after a reconnect:
    // no Stat read per node.
    assert!(report.stat_reads <= 1, "{report:?}");
    assert_eq!(report.changed, 5, "{report:?}");
    // And the new watch works: a later change arrives as an event.
    zk.set_data(&format!("{root}/d4/n4"), b"later", None)
        .await
        .unwrap();
    eventually(10, "later change seen", || async {
        cache.data(&format!("{root}/d4/n4")).as_deref() == Some(&b"later"[..])
    })
    .await;
    drop(cache);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn missing_root_is_mirrored_once_created() {
    let zk = connect().await;
    let b = base(&zk, "tc-missing").await;
    let root = format!("{b}/later");
    let cache = TreeCache::start(&zk, &root).await.unwrap();
    assert!(cache.is_empty());
    zk.create(&root, b"now").await.unwrap();
    zk.create(&format!("{root}/child"), b"c").await.unwrap();
    converged(&cache, &zk, &root).await;
    assert_eq!(cache.len(), 2);
    drop(cache);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn oneshot_fallback_follows_changes_cuts_and_expiry() {
    let zk = connect().await;
    let b = base(&zk, "tc-oneshot").await;
    let root = format!("{b}/root");
    zk.create(&root, b"").await.unwrap();
    build_tree(&zk, &root, 5, 20).await;
    let proxy = proxy().await;
    let client = connect_via(&proxy, Duration::from_secs(2)).await;
    let options = TreeCacheOptions {
        force_oneshot_watches: true,
    };
    let cache = TreeCache::start_with(&client, &root, options)
        .await
        .unwrap();
    assert_eq!(cache.mode(), CacheWatchMode::OneShot);
    assert_eq!(as_map(&cache), read_tree(&zk, &root).await);

    zk.set_data(&format!("{root}/d0/n0"), b"x", None)
        .await
        .unwrap();
    zk.create(&format!("{root}/d0/new"), b"y").await.unwrap();
    zk.create(&format!("{root}/d0/new/deeper"), b"z")
        .await
        .unwrap();
    zk.delete(&format!("{root}/d1/n1"), None).await.unwrap();
    converged(&cache, &zk, &root).await;

    // Changes during a stalled connection arrive through the client's watch
    // re-registration.
    proxy.stall();
    zk.set_data(&format!("{root}/d2/n2"), b"during cut", None)
        .await
        .unwrap();
    zk.create(&format!("{root}/d3/cut"), b"").await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    converged(&cache, &zk, &root).await;

    // And after a new session, everything is read and watched again.
    let changer = {
        let zk = zk.clone();
        let root = root.clone();
        async move {
            zk.delete(&format!("{root}/d3/cut"), None).await.unwrap();
            zk.set_data(&format!("{root}/d4/n4"), b"expired", None)
                .await
                .unwrap();
        }
    };
    tokio::join!(expire_session(&client, &proxy), changer);
    converged(&cache, &zk, &root).await;
    zk.create(&format!("{root}/d4/after"), b"").await.unwrap();
    converged(&cache, &zk, &root).await;
    drop(cache);
    zk.deleteall(&b).await.unwrap();
}

/// A node the cache's client may not read is left out, in both watch modes and on every
/// release: from 3.8.4 and 3.9.2 `exists` answers NoAuth for it (ZOOKEEPER-2590) and its
/// notifications are dropped (ZOOKEEPER-4799); before, its data reads fail. The readable
/// rest of the tree is mirrored and followed as usual.
#[tokio::test]
async fn leaves_out_nodes_it_may_not_read() {
    let owner = connect().await;
    owner.add_auth("digest", b"owner:pw").await.unwrap();
    let b = base(&owner, "tc-acl").await;
    for force_oneshot_watches in [false, true] {
        let root = format!("{b}/root-{force_oneshot_watches}");
        let open = format!("{root}/open");
        let secret = format!("{root}/secret");
        owner.create(&root, b"r").await.unwrap();
        owner.create(&open, b"o").await.unwrap();
        owner
            .create_with(
                &secret,
                b"s",
                &aiozk::CreateOptions::new().acl(aiozk::acl::creator_all_acl()),
            )
            .await
            .unwrap();

        let reader = connect().await;
        let options = TreeCacheOptions {
            force_oneshot_watches,
        };
        let cache = TreeCache::start_with(&reader, &root, options)
            .await
            .unwrap();
        let mut events = cache.events();
        let paths: Vec<String> = cache.snapshot().into_keys().collect();
        assert_eq!(paths, vec![root.clone(), open.clone()], "{options:?}");

        owner.set_data(&secret, b"s2", None).await.unwrap();
        owner.set_data(&open, b"o2", None).await.unwrap();
        let first = within(10, async {
            loop {
                match events.next().await {
                    Some(TreeEvent::Updated(p) | TreeEvent::Added(p) | TreeEvent::Removed(p)) => {
                        return p
                    }
                    Some(TreeEvent::Stopped(e)) => panic!("cache stopped: {e}"),
                    Some(_) => {}
                    None => panic!("cache gone"),
                }
            }
        })
        .await;
        assert_eq!(first, open, "{options:?}");
        assert_eq!(cache.data(&open).as_deref(), Some(&b"o2"[..]));
        assert!(cache.get(&secret).is_none());
        cache.stop();
        reader.close().await;
    }
    owner.deleteall(&b).await.unwrap();
}
