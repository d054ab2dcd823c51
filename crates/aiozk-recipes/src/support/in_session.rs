//! Retries within one session, for the ownership recipes: a session expiry is a lasting
//! error there (the ownership died with the session), so only a lost connection or a
//! throttled request is retried; an unanswered sequential create is resolved by looking
//! for its unique prefix.

use std::future::Future;
use std::time::Duration;

use aiozk::{Client, CreateOptions, Error, Result, SessionState, Stat};

use super::naming::{sorted_siblings, Sibling};

/// Pause between retries of a read that failed with a transient error while the client
/// still looked connected (a throttled request, say), so a retry loop never spins.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// How long a client may stay in the `Expired` state before we conclude that it will not
/// open a new session (`reconnect_after_expiry(false)`). A client that reconnects leaves
/// `Expired` within the same driver step.
const EXPIRED_GRACE: Duration = Duration::from_millis(500);

/// True for errors after which the same read may succeed: a lost connection, a throttled
/// request, or the client's own retries giving up on one of those.
pub(crate) fn transient(err: &Error) -> bool {
    match err {
        Error::RetriesExhausted { last, .. } => transient(last),
        e => e.is_retryable(),
    }
}

/// Waits until the client is connected.
///
/// # Errors
/// [`Error::Closed`] or [`Error::AuthFailed`] when the client stopped for good;
/// [`Error::SessionExpired`] when the session expired and the client does not open a new
/// one.
pub(crate) async fn wait_connected(client: &Client) -> Result<()> {
    let mut rx = client.state_watch();
    loop {
        let state = *rx.borrow_and_update();
        match state {
            s if s.is_connected() => return Ok(()),
            SessionState::Closed => return Err(Error::Closed),
            SessionState::AuthFailed => return Err(Error::AuthFailed),
            SessionState::Expired => {
                match tokio::time::timeout(EXPIRED_GRACE, rx.changed()).await {
                    Err(_) => return Err(Error::SessionExpired),
                    Ok(Err(_)) => return Err(Error::Closed),
                    Ok(Ok(())) => {}
                }
            }
            _ => {
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        }
    }
}

/// Runs the idempotent operation `op` until it succeeds or fails with a lasting error;
/// after a transient error it waits for the connection and tries again.
///
/// # Errors
/// The first error that is not transient, or the error of [`wait_connected`].
pub(crate) async fn retrying<T, F, Fut>(client: &Client, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    loop {
        match op().await {
            Err(e) if transient(&e) => {
                wait_connected(client).await?;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// Deletes `path` (any version), trying again after transient errors and after a session
/// expiry (the node may outlive a session the client gave up on). A missing node is
/// success, and so is a client that has stopped: its session's ephemeral nodes are gone
/// or going.
///
/// # Errors
/// Only lasting errors such as [`Error::NoAuth`].
pub(crate) async fn delete_retrying(client: &Client, path: &str) -> Result<()> {
    let first = client.delete(path, None);
    finish_delete(client, path, first.await).await
}

/// Continues [`delete_retrying`] after a first attempt already sent.
pub(crate) async fn finish_delete(
    client: &Client,
    path: &str,
    mut outcome: Result<()>,
) -> Result<()> {
    loop {
        match outcome {
            Ok(()) | Err(Error::NoNode) => return Ok(()),
            Err(ref e) if transient(e) || *e == Error::SessionExpired => {
                if wait_connected(client).await.is_err() {
                    return Ok(());
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(Error::Closed) | Err(Error::AuthFailed) => return Ok(()),
            Err(e) => return Err(e),
        }
        outcome = client.delete(path, None).await;
    }
}

/// Deletes every sibling under `base` whose name starts with `prefix` (our
/// `<label>-<guid>-`), given a `get_children` already sent. Used when a create may have
/// happened but its reply was never seen.
pub(crate) async fn delete_by_prefix(
    client: &Client,
    base: &str,
    prefix: &str,
    children: impl Future<Output = Result<Vec<String>>>,
) -> Result<()> {
    let children = match children.await {
        Ok(c) => c,
        Err(Error::NoNode) => return Ok(()),
        Err(e) if transient(&e) || e == Error::SessionExpired => {
            if wait_connected(client).await.is_err() {
                return Ok(());
            }
            match retrying(client, || client.get_children(base)).await {
                Ok(c) => c,
                Err(Error::NoNode) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Closed) | Err(Error::AuthFailed) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in children.iter().filter(|c| c.starts_with(prefix)) {
        delete_retrying(client, &aiozk::path::join(base, name)).await?;
    }
    Ok(())
}

/// Creates the ephemeral sequential node `<base>/<prefix><sequence>` exactly once.
///
/// A plain sequential create is not retried by the client. When its reply is lost with
/// the connection, the node may or may not exist, so we look for our `prefix` (which
/// holds a fresh guid) among the children before creating again. A missing base node is
/// created (persistent) and the create repeated.
///
/// # Errors
/// Lasting errors of the create or the lookups; [`Error::SessionExpired`] when the
/// session expired and the client opens no new one.
pub(crate) async fn create_unique(
    client: &Client,
    base: &str,
    prefix: &str,
    data: &[u8],
    parents: &CreateOptions,
) -> Result<(String, Stat)> {
    let path = aiozk::path::join(base, prefix);
    let options = CreateOptions::new().ephemeral().sequential();
    loop {
        match client.create_with(&path, data, &options).await {
            Ok(created) => return Ok(created),
            Err(Error::NoNode) => {
                retrying(client, || client.ensure_path_with(base, parents)).await?;
            }
            Err(e) if transient(&e) => {
                wait_connected(client).await?;
                if let Some(found) = find_own(client, base, prefix).await? {
                    return Ok(found);
                }
            }
            Err(Error::SessionExpired) => {
                // Whatever was created died with the session; try on the next one.
                wait_connected(client).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Creates the ephemeral (not sequential) node `<base>/<name>` holding `data`; `name` must
/// be unique to this caller (it holds a fresh id). Missing parents are created. After a
/// lost reply the node is looked for: found with our session as its owner, it is ours.
///
/// # Errors
/// [`Error::NodeExists`] when another session owns the node; otherwise as for
/// [`create_unique`].
pub(crate) async fn create_named(
    client: &Client,
    base: &str,
    name: &str,
    data: &[u8],
    parents: &CreateOptions,
) -> Result<(String, Stat)> {
    let path = aiozk::path::join(base, name);
    let options = CreateOptions::new().ephemeral();
    let ours = |stat: &Stat| stat.ephemeral_owner == client.session_id();
    loop {
        match client.create_with(&path, data, &options).await {
            Ok(created) => return Ok(created),
            Err(Error::NoNode) => {
                retrying(client, || client.ensure_path_with(base, parents)).await?;
            }
            Err(Error::NodeExists) => match retrying(client, || client.exists(&path)).await? {
                Some(stat) if ours(&stat) => return Ok((path, stat)),
                Some(_) => return Err(Error::NodeExists),
                None => {}
            },
            Err(e) if transient(&e) => {
                wait_connected(client).await?;
                if let Some(stat) = retrying(client, || client.exists(&path)).await? {
                    if ours(&stat) {
                        return Ok((path, stat));
                    }
                }
            }
            Err(Error::SessionExpired) => wait_connected(client).await?,
            Err(e) => return Err(e),
        }
    }
}

/// Looks for our node (name starting with `prefix`) under `base` after an unanswered
/// create. Extra copies, which only a retried create could make, are deleted.
async fn find_own(client: &Client, base: &str, prefix: &str) -> Result<Option<(String, Stat)>> {
    let children = match retrying(client, || client.get_children(base)).await {
        Ok(c) => c,
        Err(Error::NoNode) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut ours: Vec<Sibling> = sorted_siblings(&children)
        .into_iter()
        .filter(|s| s.name.starts_with(prefix))
        .collect();
    if ours.is_empty() {
        return Ok(None);
    }
    let keep = ours.remove(0);
    for extra in ours {
        delete_retrying(client, &aiozk::path::join(base, &extra.name)).await?;
    }
    let path = aiozk::path::join(base, &keep.name);
    match retrying(client, || client.exists(&path)).await? {
        Some(stat) => Ok(Some((path, stat))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_exhausted_on_connection_loss_is_transient() {
        assert!(transient(&Error::ConnectionLoss));
        assert!(transient(&Error::RetriesExhausted {
            attempts: 3,
            last: Box::new(Error::ConnectionLoss)
        }));
        assert!(!transient(&Error::NoNode));
        assert!(!transient(&Error::SessionExpired));
    }
}
