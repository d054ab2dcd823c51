//! A lock: three workers take turns incrementing a counter; each write is fenced by the
//! lock, so it can only succeed while the writer still holds it.
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

use aiozk::Client;
use aiozk_recipes::Lock;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let zk = Client::connect(&servers).await?;
    let base = format!("/lock-example-{:x}", std::process::id());
    let counter = format!("{base}/counter");
    zk.ensure_path(&base).await?;
    zk.create(&counter, b"0").await?;

    let mut workers = Vec::new();
    for id in 0..3 {
        // Each worker has its own session, as separate processes would.
        let zk = Client::connect(&servers).await?;
        let (lock_path, counter) = (format!("{base}/lock"), counter.clone());
        workers.push(tokio::spawn(async move {
            let lock = Lock::new(&zk, &lock_path);
            for _ in 0..3 {
                let guard = lock.acquire(None).await?;
                let (data, _stat) = zk.get_data(&counter).await?;
                let next: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(0) + 1;
                guard
                    .fence()
                    .set_data(&counter, next.to_string().as_bytes(), None)
                    .await?;
                println!("worker {id} set the counter to {next}");
                guard.release().await?;
            }
            zk.close().await;
            Ok::<_, aiozk::Error>(())
        }));
    }
    for worker in workers {
        worker.await.expect("the worker task does not panic")?;
    }

    let (data, _stat) = zk.get_data(&counter).await?;
    println!("final count: {}", String::from_utf8_lossy(&data)); // 9: no update was lost
    zk.deleteall(&base).await?;
    zk.close().await;
    Ok(())
}
