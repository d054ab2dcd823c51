//! A tree cache: a live, in-memory mirror of a subtree, with a stream of its changes.
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

use aiozk::Client;
use aiozk_recipes::{TreeCache, TreeEvent};

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let zk = Client::connect(&servers).await?;
    let root = format!("/cache-example-{:x}", std::process::id());
    zk.ensure_path(&format!("{root}/db")).await?;
    zk.set_data(&format!("{root}/db"), b"postgres://db1", None)
        .await?;

    let cache = TreeCache::start(&zk, &root).await?;
    println!("loaded {} nodes", cache.len());
    let mut events = cache.events();

    let (cache_node, db_node) = (format!("{root}/cache"), format!("{root}/db"));
    zk.create(&cache_node, b"redis://cache1").await?;
    zk.set_data(&db_node, b"postgres://db2", None).await?;
    // Until both changes are in (the root's Stat changes too, with the new child).
    let mut waiting = vec![cache_node, db_node];
    while !waiting.is_empty() {
        match events.next().await {
            Some(TreeEvent::Added(path) | TreeEvent::Updated(path)) => {
                let data = cache.data(&path).unwrap_or_default();
                println!("{path} = {:?}", String::from_utf8_lossy(&data));
                waiting.retain(|p| *p != path);
            }
            Some(other) => println!("{other:?}"),
            None => break,
        }
    }
    println!("children of {root}: {:?}", cache.children(&root));

    cache.stop();
    zk.deleteall(&root).await?;
    zk.close().await;
    Ok(())
}
