//! aiozk's "Getting Started", line by line: connect, make sure a path exists, create a node,
//! read it back, delete it, close.
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let zk = aiozk::Client::connect(&servers).await?;
    zk.ensure_path("/greeting/to").await?;
    zk.create("/greeting/to/world", b"hello world").await?;
    let (data, _stat) = zk.get_data("/greeting/to/world").await?;
    println!("{}", String::from_utf8_lossy(&data));
    zk.delete("/greeting/to/world", None).await?;
    zk.close().await;
    Ok(())
}
