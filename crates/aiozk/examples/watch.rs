//! Watches, both kinds: a one-shot watch set by a read fires once with the next change; a
//! persistent recursive watch streams every change below a path until it is dropped.
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

use aiozk::{Client, EventType};

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let zk = Client::connect(&servers).await?;
    let root = format!("/watch-example-{:x}", std::process::id());
    zk.create(&root, b"v1").await?;

    // One-shot: the read returns the data and a watcher; the watcher resolves once.
    let (data, _stat, watcher) = zk.get_data_watched(&root).await?;
    println!("{root} holds {:?}", String::from_utf8_lossy(&data));
    zk.set_data(&root, b"v2", None).await?;
    let event = watcher.await;
    assert_eq!(event.event_type, EventType::NodeDataChanged);
    println!("one-shot: {:?} {}", event.event_type, event.path);

    // Persistent and recursive: every change below the root, as a stream.
    let mut changes = zk.add_watch(&root, true).await?;
    let child = format!("{root}/child");
    zk.create(&child, b"").await?;
    zk.set_data(&child, b"x", None).await?;
    zk.delete(&child, None).await?;
    for _ in 0..3 {
        if let Some(event) = changes.next().await {
            println!("persistent: {:?} {}", event.event_type, event.path);
        }
    }
    drop(changes); // removes the server watch

    zk.delete(&root, None).await?;
    zk.close().await;
    Ok(())
}
