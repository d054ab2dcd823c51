//! Exports the client's metrics (see `aiozk::metrics`) in the Prometheus text format.
//!
//! Installs the recorder of `metrics-exporter-prometheus` before connecting, makes N writes
//! and N reads of one node (N from the first argument, default 10) and one read of a missing
//! node, closes the session and prints what was recorded. A service would rather serve the
//! same text on `/metrics` (the exporter's `http-listener` feature, or its `render()` in
//! the service's own HTTP handler).
//!
//! Talks to the servers named by `ZK_SERVERS` (default `127.0.0.1:2181`).

use metrics_exporter_prometheus::PrometheusBuilder;

#[tokio::main(flavor = "current_thread")]
async fn main() -> aiozk::Result<()> {
    // Before the client is built: handles registered earlier would record nothing.
    let metrics = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| aiozk::Error::InvalidArgument(format!("cannot install the recorder: {e}")))?;
    let servers = std::env::var("ZK_SERVERS").unwrap_or_else(|_| "127.0.0.1:2181".into());
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .map_err(|_| aiozk::Error::InvalidArgument(format!("{arg:?} is not a count")))?,
        None => 10,
    };

    let zk = aiozk::Client::connect(&servers).await?;
    let path = "/prometheus-example";
    if zk.exists(path).await?.is_none() {
        zk.create(path, b"").await?;
    }
    for i in 0..n {
        zk.set_data(path, i.to_string().as_bytes(), None).await?;
        zk.get_data(path).await?;
    }
    let missing = zk.get_data("/prometheus-example-missing").await;
    assert_eq!(missing.err(), Some(aiozk::Error::NoNode));
    zk.close().await;

    print!("{}", metrics.render());
    Ok(())
}
