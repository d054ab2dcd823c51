//! Ensemble tracking: a task that watches `/zookeeper/config` and applies the membership it
//! lists with [`Client::update_servers`], as Curator's EnsembleTracker does. It holds the
//! session only while a request is out, so dropping the last handle still closes it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use super::handle::{Client, Inner};
use crate::error::Error;
use crate::hosts::DynamicConfig;
use crate::retry::RetryPolicy;

/// The pause before reading the configuration again after a failed read.
const RETRY_PAUSE: Duration = Duration::from_secs(1);

/// Starts tracking the ensemble for `client`.
pub(super) fn spawn(client: &Client) {
    let weak = Arc::downgrade(&client.inner);
    let retry = client.retry.clone();
    let connect_timeout = client.connect_timeout;
    tokio::spawn(run(weak, retry, connect_timeout));
}

async fn run(weak: Weak<Inner>, retry: RetryPolicy, connect_timeout: Duration) {
    let mut applied: Option<String> = None;
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let client = Client {
            inner,
            retry: retry.clone(),
            call_timeout: None,
            connect_timeout,
        };
        let watcher = match client.get_config_watched().await {
            Ok((data, _, watcher)) => {
                apply(&client, &data, &mut applied).await;
                watcher
            }
            Err(Error::Closed | Error::AuthFailed) => return,
            // A client that stopped for good, whatever the call said.
            Err(_) if client.state().is_terminal() => return,
            Err(err) => {
                tracing::debug!(%err, "reading the ensemble configuration failed");
                drop(client);
                tokio::time::sleep(RETRY_PAUSE).await;
                continue;
            }
        };
        // Only the watcher is held while waiting: the session can close meanwhile.
        drop(client);
        let _ = watcher.await;
    }
}

/// Applies the membership in `data` unless it is the one applied last.
async fn apply(client: &Client, data: &[u8], applied: &mut Option<String>) {
    let text = String::from_utf8_lossy(data);
    let config = match DynamicConfig::parse(&text) {
        Ok(config) => config,
        // A standalone server, or an ensemble without a dynamic configuration.
        Err(_) => return,
    };
    let servers = config.connect_string();
    if applied.as_deref() == Some(servers.as_str()) {
        return;
    }
    match client.update_servers(&servers).await {
        Ok(moved) => {
            tracing::info!(%servers, moved, version = ?config.version, "ensemble membership applied");
            *applied = Some(servers);
        }
        Err(err) => tracing::warn!(%err, %servers, "ensemble membership not applied"),
    }
}
