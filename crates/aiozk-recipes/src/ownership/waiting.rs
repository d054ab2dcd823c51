//! Waiting in line: the loop shared by locks, semaphores and elections.

use std::sync::Arc;

use aiozk::{Error, Result};

use super::loss::LossReason;
use super::node::{Core, ReleaseOnDrop};
use crate::support::in_session::retrying;
use crate::support::naming::{sorted_siblings, Sibling};

/// What a recipe decides from the sorted siblings and the index of its own node.
pub(crate) enum Turn {
    /// Our turn: the ownership is granted.
    Granted,
    /// Wait until this sibling (a name) is gone, then look again.
    WaitFor(String),
    /// Wait until the children change, then look again.
    WaitChildren,
}

/// Creates a node `<base>/<label>-<guid>-<seq>` and waits until `turn` grants it.
///
/// If the node is lost while waiting (session expiry, deletion by someone else), a new
/// node is created, at the back of the line, as aiozk does. The returned node is still in
/// the waiting phase; the caller starts holding it.
///
/// # Errors
/// [`Error::Closed`] when the client is closed; lasting errors of the create or the reads;
/// [`Error::SessionExpired`] when the session expired and the client opens no new one.
///
/// # Cancellation safety
/// Dropping the future deletes the node, also when the create is still in flight (the
/// node is then found by its guid).
pub(crate) async fn wait_in_line(
    core_for: impl Fn() -> Arc<Core>,
    data: &[u8],
    base: &str,
    turn: impl Fn(&[Sibling], usize) -> Turn,
) -> Result<ReleaseOnDrop> {
    loop {
        let core = core_for();
        let armed = ReleaseOnDrop(Some(Arc::clone(&core)));
        core.create(data).await?;
        if line(&core, base, &turn).await? {
            return Ok(armed);
        }
        // `armed` drops here: the lost node is deleted if it lingers.
    }
}

/// Waits for the turn of one node. Returns false when the node was lost meanwhile.
pub(crate) async fn line(
    core: &Arc<Core>,
    base: &str,
    turn: &impl Fn(&[Sibling], usize) -> Turn,
) -> Result<bool> {
    let client = core.client();
    let mut lost = core.signal().receiver();
    let mut child_watch = false;
    loop {
        match *lost.borrow_and_update() {
            Some(LossReason::ClientClosed) => return Err(Error::Closed),
            Some(_) => return Ok(false),
            None => {}
        }
        let listed = if child_watch {
            retrying(client, || client.get_children_watched(base))
                .await
                .map(|(children, _, w)| (children, Some(w)))
        } else {
            retrying(client, || client.get_children(base))
                .await
                .map(|children| (children, None))
        };
        let (children, children_watcher) = match listed {
            Ok(listed) => listed,
            // Our node died with the session, or with the base node.
            Err(Error::SessionExpired | Error::NoNode) => return Ok(false),
            Err(e) => return Err(e),
        };
        let siblings = sorted_siblings(&children);
        let Some(position) = siblings.iter().position(|s| s.name == core.name()) else {
            return Ok(false);
        };
        match turn(&siblings, position) {
            Turn::Granted => return Ok(true),
            Turn::WaitChildren => match children_watcher {
                Some(watcher) => {
                    tokio::select! {
                        _ = watcher => {}
                        _ = lost.changed() => {}
                    }
                }
                // List again, this time with a watch.
                None => child_watch = true,
            },
            Turn::WaitFor(name) => {
                child_watch = false;
                let path = aiozk::path::join(base, &name);
                let watcher = match retrying(client, || client.exists_watched(&path)).await {
                    Ok((None, _)) => continue,
                    Ok((Some(_), watcher)) => watcher,
                    Err(Error::SessionExpired) => return Ok(false),
                    Err(e) => return Err(e),
                };
                tokio::select! {
                    _ = watcher => {
                        if crate::mutant("lock-no-recheck") {
                            return Ok(true);
                        }
                    }
                    _ = lost.changed() => {}
                }
            }
        }
    }
}
