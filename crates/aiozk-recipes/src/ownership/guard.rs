//! [`OwnershipGuard`]: proof of ownership, released when dropped.

use std::sync::Arc;

use aiozk::{Result, Transaction};
use tokio::time::Instant;

use super::fence::Fence;
use super::loss::{LossReason, LostSignal};
use super::node::Core;

/// Proof of ownership of a lock, a semaphore permit or a lease.
///
/// Dropping the guard releases the ownership: the delete of the node is queued at once
/// (so it reaches the server before any later request of this client) and retried in the
/// background after a connection loss. [`OwnershipGuard::release`] does the same and
/// waits for the outcome.
///
/// While held, [`OwnershipGuard::lost`] tells when the ownership ends involuntarily, and
/// [`OwnershipGuard::fence`] makes writes that only succeed while it lasts.
#[derive(Debug)]
#[must_use = "the ownership is released when the guard is dropped"]
pub struct OwnershipGuard {
    core: Arc<Core>,
    until: Option<std::time::Instant>,
}

impl OwnershipGuard {
    pub(crate) fn new(core: Arc<Core>, until: Option<Instant>) -> Self {
        Self {
            core,
            until: until.map(Instant::into_std),
        }
    }

    /// The path of the ownership node.
    pub fn node(&self) -> &str {
        self.core.node()
    }

    /// The zxid that created the ownership node. Each new owner's node is created later,
    /// so it is larger for every later owner: a fencing token for systems outside
    /// ZooKeeper, which can refuse writes carrying a smaller one than they have seen.
    pub fn czxid(&self) -> i64 {
        self.core.czxid()
    }

    /// The loss signal of this ownership; see [`LostSignal`].
    pub fn lost(&self) -> LostSignal {
        self.core.signal()
    }

    /// Why the ownership ended, or `None` while it lasts.
    pub fn lost_reason(&self) -> Option<LossReason> {
        self.core.lost_reason()
    }

    /// True while the ownership lasts as far as this process can tell: not released, no
    /// loss signalled, the client's session is still the node's owner, and the server has
    /// been heard from ([`aiozk::Client::last_heard`]) within the time after which a silent
    /// connection counts as lost (2/3 of the session timeout plus the grace of
    /// [`LossReason::Suspended`]). The clock is read at each call, so a process resumed
    /// after a pause past the session timeout gets false from its very first check, before
    /// its client has noticed anything.
    ///
    /// Only a fenced write ([`OwnershipGuard::fence`]) is safe against the time between
    /// this check and the use of its answer.
    pub fn is_held(&self) -> bool {
        self.core.is_held()
    }

    /// When a lease ends (`None` for locks and permits).
    pub fn expires_at(&self) -> Option<std::time::Instant> {
        self.until
    }

    /// Writes fenced by the ownership node; see [`Fence`].
    pub fn fence(&self) -> Fence {
        self.core.fence()
    }

    /// Same as `self.fence().transaction()`: a transaction whose first operation checks
    /// that the ownership node still exists.
    pub fn transaction(&self) -> Transaction {
        self.core.fence().transaction()
    }

    /// Releases the ownership and waits until its node is deleted.
    ///
    /// Connection losses are retried until the node is gone or the session has ended
    /// (which deletes it too).
    ///
    /// # Errors
    /// Lasting errors of the delete, such as [`aiozk::Error::NoAuth`].
    ///
    /// # Cancellation safety
    /// The first poll ends the ownership and queues the delete, so dropping the future
    /// afterwards still releases; only the retries after a connection loss are abandoned
    /// (the node then stays until the session ends).
    pub async fn release(self) -> Result<()> {
        let release = self.core.release();
        release.await
    }
}

impl Drop for OwnershipGuard {
    fn drop(&mut self) {
        self.core.release_in_background();
    }
}
