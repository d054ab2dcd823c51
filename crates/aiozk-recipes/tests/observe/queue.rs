//! Queue on a real server.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiozk::Error;
use aiozk_recipes::Queue;

use crate::common::{base, children, connect, connect_via, eventually, proxy, within};

#[tokio::test]
async fn fifo_put_take_complete() {
    let zk = connect().await;
    let b = base(&zk, "queue").await;
    let path = format!("{b}/q");
    let q = Queue::new(&zk, &path);
    assert!(q.try_take().await.unwrap().is_none());
    for i in 0..5 {
        q.put(format!("item {i}").as_bytes()).await.unwrap();
    }
    assert_eq!(q.len().await.unwrap(), 5);
    for i in 0..5 {
        let item = q.take(None).await.unwrap();
        assert_eq!(&item.data()[..], format!("item {i}").as_bytes());
        item.complete().await.unwrap();
    }
    assert!(q.is_empty().await.unwrap());
    assert_eq!(children(&zk, &path).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn claimed_items_are_skipped_and_released_items_come_back() {
    let zk = connect().await;
    let b = base(&zk, "queue-claim").await;
    let q = Queue::new(&zk, &b);
    q.put(b"first").await.unwrap();
    q.put(b"second").await.unwrap();
    let first = q.take(None).await.unwrap();
    assert_eq!(&first.data()[..], b"first");
    // Another consumer skips the claimed item.
    let other = Queue::new(&connect().await, &b);
    let second = other.take(None).await.unwrap();
    assert_eq!(&second.data()[..], b"second");
    assert!(other.try_take().await.unwrap().is_none());
    first.release().await.unwrap();
    let again = other.take(Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(&again.data()[..], b"first");
    // Dropping an item without completing it gives it back too.
    drop(again);
    let again = q.take(Some(Duration::from_secs(10))).await.unwrap();
    assert_eq!(&again.data()[..], b"first");
    again.complete().await.unwrap();
    second.complete().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn concurrent_consumers_process_every_item_once() {
    let zk = connect().await;
    let b = base(&zk, "queue-many").await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut consumers = Vec::new();
    for _ in 0..4 {
        let client = connect().await;
        let q = Queue::new(&client, &b);
        let seen = seen.clone();
        consumers.push(tokio::spawn(async move {
            loop {
                match q.take(Some(Duration::from_secs(2))).await {
                    Ok(item) => {
                        let data = String::from_utf8(item.data().to_vec()).unwrap();
                        item.complete().await.unwrap();
                        if data == "stop" {
                            // Pass the stop marker on to the next consumer.
                            q.put(b"stop").await.unwrap();
                            return;
                        }
                        seen.lock().unwrap().push(data);
                    }
                    Err(Error::Timeout) => {}
                    Err(e) => panic!("{e}"),
                }
            }
        }));
    }
    let producer = Queue::new(&zk, &b);
    for i in 0..100 {
        producer.put(format!("{i:03}").as_bytes()).await.unwrap();
    }
    producer.put(b"stop").await.unwrap();
    for c in consumers {
        within(60, c).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(seen.len(), 100, "no item processed twice without a failure");
    assert_eq!(unique.len(), 100);
    // Clean up the last stop marker.
    let last = producer.take(None).await.unwrap();
    assert_eq!(&last.data()[..], b"stop");
    last.complete().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn a_dead_consumers_item_goes_to_another() {
    let zk = connect().await;
    let b = base(&zk, "queue-dead").await;
    Queue::new(&zk, &b).put(b"job").await.unwrap();
    let doomed = connect().await;
    let item = Queue::new(&doomed, &b).take(None).await.unwrap();
    let survivor = Queue::new(&zk, &b);
    assert!(survivor.try_take().await.unwrap().is_none(), "claimed");
    // The consumer dies (its session ends) without completing.
    std::mem::forget(item);
    doomed.close().await;
    let again = within(30, survivor.take(None)).await.unwrap();
    assert_eq!(&again.data()[..], b"job");
    again.complete().await.unwrap();
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn take_timeout_is_accurate_and_cancellation_leaves_no_claim() {
    let zk = connect().await;
    let b = base(&zk, "queue-timeout").await;
    let q = Queue::new(&zk, &b);
    let start = Instant::now();
    let err = q.take(Some(Duration::from_millis(300))).await.unwrap_err();
    let took = start.elapsed();
    println!("Queue::take(300 ms) timed out after {took:?}");
    assert_eq!(err, Error::Timeout);
    assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1000));
    // Dropping take at every possible point never leaves a claim behind.
    for i in 0..20 {
        q.put(format!("{i}").as_bytes()).await.unwrap();
        let _ = tokio::time::timeout(Duration::from_micros(50 * i), q.take(None)).await;
    }
    eventually(10, "no claim left", || async {
        !children(&zk, &b).await.iter().any(|c| c.ends_with(".lock"))
    })
    .await;
    let mut n = 0;
    while let Some(item) = q.try_take().await.unwrap() {
        item.complete().await.unwrap();
        n += 1;
    }
    assert_eq!(n, 20, "every item is still there");
    zk.deleteall(&b).await.unwrap();
}

#[tokio::test]
async fn take_waits_through_a_connection_cut() {
    let zk = connect().await;
    let b = base(&zk, "queue-cut").await;
    let proxy = proxy().await;
    let proxied = connect_via(&proxy, Duration::from_secs(10)).await;
    let consumer = Queue::new(&proxied, &b);
    let task = tokio::spawn(async move {
        let item = consumer.take(None).await?;
        let data = item.data().clone();
        item.complete().await?;
        Ok::<_, Error>(data)
    });
    eventually(10, "consumer waiting", || async {
        proxied.stats().live_watches >= 1
    })
    .await;
    proxy.stall();
    Queue::new(&zk, &b).put(b"while away").await.unwrap();
    proxy.cut_rst().await;
    proxy.resume();
    let data = within(30, task).await.unwrap().unwrap();
    assert_eq!(&data[..], b"while away");
    assert_eq!(children(&zk, &b).await, Vec::<String>::new());
    zk.deleteall(&b).await.unwrap();
}
