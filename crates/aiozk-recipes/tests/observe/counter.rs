//! Counter on a real server.

use std::time::{Duration, Instant};

use aiozk::Error;
use aiozk_recipes::Counter;

use crate::common::{base, connect, connect_via, proxy, within};

#[tokio::test]
async fn int_counter_basics_and_text_format() {
    let zk = connect().await;
    let b = base(&zk, "counter-int").await;
    let path = format!("{b}/nested/c");
    let c = Counter::new(&zk, &path, 0i64);
    assert_eq!(c.value(), None);
    assert_eq!(c.start().await.unwrap(), 0);
    for _ in 0..4 {
        c.incr(1).await.unwrap();
    }
    assert_eq!(c.value(), Some(4));
    assert_eq!(c.decr(10).await.unwrap(), -6);
    let (data, stat) = zk.get_data(&path).await.unwrap();
    assert_eq!(&data[..], b"-6");
    assert_eq!(stat.version, 5);
    c.set(42).await.unwrap();
    assert_eq!(c.get().await.unwrap(), 42);
    // A second instance finds the existing value instead of resetting it.
    let again = Counter::new(&zk, &path, 7i64);
    assert_eq!(again.start().await.unwrap(), 42);
    // Data written by aiozk (Python's str()) or by hand is read back.
    zk.set_data(&path, b"100", None).await.unwrap();
    assert_eq!(c.incr(1).await.unwrap(), 101);
    zk.set_data(&path, b"not a number", None).await.unwrap();
    assert!(matches!(c.get().await, Err(Error::InvalidArgument(_))));
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn float_counter_uses_python_text() {
    let zk = connect().await;
    let b = base(&zk, "counter-float").await;
    let path = format!("{b}/f");
    let c = Counter::new(&zk, &path, 0.0f64);
    c.start().await.unwrap();
    assert_eq!(&zk.get_data(&path).await.unwrap().0[..], b"0.0");
    c.incr(1.5).await.unwrap();
    c.incr(0.5).await.unwrap();
    assert_eq!(&zk.get_data(&path).await.unwrap().0[..], b"2.0");
    assert_eq!(c.decr(0.25).await.unwrap(), 1.75);
    assert_eq!(&zk.get_data(&path).await.unwrap().0[..], b"1.75");
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn incr_without_start_starts() {
    let zk = connect().await;
    let b = base(&zk, "counter-lazy").await;
    let path = format!("{b}/c");
    assert_eq!(Counter::new(&zk, &path, 10i64).incr(1).await.unwrap(), 11);
    assert_eq!(Counter::new(&zk, &path, 10i64).incr(1).await.unwrap(), 12);
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn five_clients_fifty_concurrent_increments_each() {
    let zk = connect().await;
    let b = base(&zk, "counter-race").await;
    let path = format!("{b}/c");
    Counter::new(&zk, &path, 0i64).start().await.unwrap();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let client = connect().await;
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            // 50 increments in flight at once per client, through 50 counter instances
            // sharing the client.
            let mut handles = Vec::new();
            for _ in 0..50 {
                let counter = Counter::new(&client, &path, 0i64);
                handles.push(tokio::spawn(async move { counter.incr(1).await.unwrap() }));
            }
            for h in handles {
                h.await.unwrap();
            }
            client.close().await;
        }));
    }
    for t in tasks {
        within(120, t).await.unwrap();
    }
    println!("250 contended increments took {:?}", start.elapsed());
    let (data, stat) = zk.get_data(&path).await.unwrap();
    assert_eq!(&data[..], b"250");
    assert_eq!(stat.version, 250, "one write per increment");
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn increments_across_connection_cuts_are_never_double_counted() {
    let zk = connect().await;
    let b = base(&zk, "counter-cut").await;
    let path = format!("{b}/c");
    Counter::new(&zk, &path, 0i64).start().await.unwrap();
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(10)).await;
    let worker = {
        let path = path.clone();
        tokio::spawn(async move {
            let counter = Counter::new(&proxied, &path, 0i64);
            let (mut ok, mut unknown) = (0u32, 0u32);
            for _ in 0..200 {
                match counter.incr(1).await {
                    Ok(_) => ok += 1,
                    Err(Error::ConnectionLoss) => unknown += 1,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            (ok, unknown)
        })
    };
    // A competing writer, and cuts in the middle of the worker's increments.
    let competitor = Counter::new(&zk, &path, 0i64);
    for _ in 0..5 {
        for _ in 0..10 {
            competitor.incr(1).await.unwrap();
        }
        proxy.cut_after_requests(3);
    }
    let (ok, unknown) = within(120, worker).await.unwrap();
    let total: i64 = std::str::from_utf8(&zk.get_data(&path).await.unwrap().0)
        .unwrap()
        .parse()
        .unwrap();
    println!("worker: {ok} applied, {unknown} outcome unknown; total {total}");
    let ours = total - 50;
    assert!(
        ours >= i64::from(ok) && ours <= i64::from(ok + unknown),
        "{ours} increments counted for {ok} successes and {unknown} unknown outcomes"
    );
    zk.deleteall(&b).await.unwrap();
}
