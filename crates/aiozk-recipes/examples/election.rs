//! A leader election: three candidates volunteer; the leader resigns and the next one in
//! line takes over, until every candidate has led once.
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

use aiozk::Client;
use aiozk_recipes::LeaderElection;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let path = format!("/election-example-{:x}", std::process::id());

    let mut candidates = Vec::new();
    for name in ["ana", "ben", "cyd"] {
        let zk = Client::connect(&servers).await?;
        let path = path.clone();
        candidates.push(tokio::spawn(async move {
            let election = LeaderElection::new(&zk, &path);
            election.volunteer().await?;
            let leadership = election.wait_for_leadership(None).await?;
            println!("{name} leads (node {})", leadership.node());
            // A leader works until its leadership is lost; this one just hands over.
            election.resign().await?;
            println!("{name} resigned");
            zk.close().await;
            Ok::<_, aiozk::Error>(())
        }));
    }
    for candidate in candidates {
        candidate
            .await
            .expect("the candidate task does not panic")?;
    }

    let zk = Client::connect(&servers).await?;
    zk.deleteall(&path).await?;
    zk.close().await;
    Ok(())
}
