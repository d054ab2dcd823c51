//! A transaction: operations that all take effect or none does. Here, a transfer between two
//! accounts that only commits if neither balance changed since it was read.
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

use aiozk::{Client, Error};

/// Moves `amount` from `from` to `to`, or fails if either balance changed meanwhile.
async fn transfer(zk: &Client, from: &str, to: &str, amount: i64) -> aiozk::Result<()> {
    let (a, a_stat) = zk.get_data(from).await?;
    let (b, b_stat) = zk.get_data(to).await?;
    let a: i64 = String::from_utf8_lossy(&a).parse().unwrap_or(0);
    let b: i64 = String::from_utf8_lossy(&b).parse().unwrap_or(0);
    zk.transaction()
        .set_data(from, (a - amount).to_string().as_bytes(), a_stat.version)
        .set_data(to, (b + amount).to_string().as_bytes(), b_stat.version)
        .commit()
        .await?;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let zk = Client::connect(&servers).await?;
    let bank = format!("/bank-example-{:x}", std::process::id());
    let (alice, bob) = (format!("{bank}/alice"), format!("{bank}/bob"));
    zk.ensure_path(&bank).await?;
    zk.create(&alice, b"10").await?;
    zk.create(&bob, b"0").await?;

    transfer(&zk, &alice, &bob, 3).await?;
    println!(
        "after the transfer: alice {:?}, bob {:?}",
        read(&zk, &alice).await?,
        read(&zk, &bob).await?
    );

    // A transaction with a stale version fails as a whole: bob's balance is not touched.
    let failed = zk
        .transaction()
        .set_data(&bob, b"1000", 0)
        .check_version(&alice, 0)
        .commit()
        .await;
    match failed {
        Err(Error::TransactionFailed { index, error, .. }) => {
            println!("refused: operation {index} failed with {error}")
        }
        other => println!("unexpected: {other:?}"),
    }
    println!("bob still has {:?}", read(&zk, &bob).await?);

    zk.deleteall(&bank).await?;
    zk.close().await;
    Ok(())
}

async fn read(zk: &Client, path: &str) -> aiozk::Result<String> {
    let (data, _stat) = zk.get_data(path).await?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}
