//! [`Fence`]: writes that succeed only while an ownership node exists.

use std::future::Future;

use aiozk::{Client, CreateOptions, Error, OpResult, Result, Stat, Transaction};
use tokio::sync::watch;

use super::loss::LossReason;

/// Writes that succeed only while an ownership node exists.
///
/// Each write is sent as a transaction (multi) whose first operation checks that the
/// ownership node exists (`check_version(node, -1)`). ZooKeeper applies the transaction
/// atomically, so a fenced write is applied only while this process still owned the lock
/// (or permit, lease, leadership) **at the server**, whatever the process believes. That
/// holds even for a process that was paused past its session timeout: nobody else can be
/// granted the ownership while the node exists.
///
/// Once the [`LostSignal`](super::LostSignal) has fired, the writes fail without a round trip, and a
/// [`Fence::transaction`] built afterwards can never succeed.
///
/// Like the client's own calls, every method queues its request when it is called.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Lock;
///
/// let guard = Lock::new(&zk, "/locks/config").acquire(None).await?;
/// let fence = guard.fence();
/// // Each write is a transaction that first checks that the lock node still exists.
/// fence.set_data("/config", b"v2", None).await?;
/// fence.delete("/config/old", None).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Fence {
    client: Client,
    node: String,
    lost: watch::Receiver<Option<LossReason>>,
}

impl Fence {
    /// Writes fenced by `node`, failing at once once `lost` holds a reason.
    pub(super) fn new(
        client: Client,
        node: String,
        lost: watch::Receiver<Option<LossReason>>,
    ) -> Self {
        Self { client, node, lost }
    }

    /// The ownership node the writes are fenced by.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Why the ownership ended, or `None` while it lasts.
    pub fn lost_reason(&self) -> Option<LossReason> {
        *self.lost.borrow()
    }

    /// A transaction that already holds the fence check (operation 0); add operations
    /// and commit it. The results vector starts with [`OpResult::Checked`].
    ///
    /// The commit fails with [`Error::TransactionFailed`] at `index` 0 when the ownership
    /// node is gone (`NoNode`), or when the ownership had already ended when this
    /// transaction was built (the check then asks for an impossible version:
    /// `BadVersion`).
    pub fn transaction(&self) -> Transaction {
        // Ownership nodes are never written, so their version stays far below i32::MAX.
        let version = if self.lost_reason().is_some() {
            i32::MAX
        } else {
            -1
        };
        if crate::mutant("fence-no-check") {
            return self.client.transaction();
        }
        self.client.transaction().check_version(&self.node, version)
    }

    /// Creates a node if the ownership still holds; returns the created path.
    ///
    /// # Errors
    /// [`Error::TransactionFailed`] with `index` 0 when the ownership node is gone or the
    /// loss signal has fired (then without a round trip); the create's own error (such
    /// as [`Error::NodeExists`]) when only the create failed; connection errors (the
    /// outcome is then unknown: a transaction is never retried).
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> impl Future<Output = Result<String>> + Send + 'static {
        let commit = self.send(self.transaction().create(path, data, options));
        async move {
            match commit.await?.pop() {
                Some(OpResult::Created { path, .. }) => Ok(path),
                _ => Err(Error::ProtocolViolation("unexpected multi result".into())),
            }
        }
    }

    /// Sets a node's data if the ownership still holds (`version`: expected data
    /// version, `None` for any); returns the node's new Stat.
    ///
    /// # Errors
    /// As for [`Fence::create`]; [`Error::BadVersion`], [`Error::NoNode`] for the target.
    pub fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let commit = self.send(
            self.transaction()
                .set_data(path, data, version.unwrap_or(-1)),
        );
        async move {
            match commit.await?.pop() {
                Some(OpResult::Updated(stat)) => Ok(stat),
                _ => Err(Error::ProtocolViolation("unexpected multi result".into())),
            }
        }
    }

    /// Deletes a node if the ownership still holds (`version`: `None` for any).
    ///
    /// # Errors
    /// As for [`Fence::create`]; [`Error::NoNode`], [`Error::BadVersion`],
    /// [`Error::NotEmpty`] for the target.
    pub fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let commit = self.send(self.transaction().delete(path, version.unwrap_or(-1)));
        async move { commit.await.map(|_| ()) }
    }

    /// Commits a two-operation fenced transaction now, or fails at once when lost.
    fn send(
        &self,
        txn: Transaction,
    ) -> impl Future<Output = Result<Vec<OpResult>>> + Send + 'static {
        let commit = match self.lost_reason() {
            Some(_) if !crate::mutant("fence-no-check") => Err(Error::TransactionFailed {
                index: 0,
                error: Box::new(Error::NoNode),
                results: vec![Error::NoNode, Error::RuntimeInconsistency],
            }),
            _ => Ok(txn.commit()),
        };
        async move { commit?.await.map_err(unfence) }
    }
}

/// A failure of the single fenced operation (index 1) is reported as that operation's own
/// error; a failure of the fence check keeps the transaction error (index 0).
fn unfence(err: Error) -> Error {
    match err {
        Error::TransactionFailed {
            index: 1, error, ..
        } => *error,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fence_failures_name_the_failed_part() {
        let fence_broken = Error::TransactionFailed {
            index: 0,
            error: Box::new(Error::NoNode),
            results: vec![Error::NoNode, Error::RuntimeInconsistency],
        };
        assert_eq!(unfence(fence_broken.clone()), fence_broken);
        let op_failed = Error::TransactionFailed {
            index: 1,
            error: Box::new(Error::BadVersion),
            results: vec![Error::RolledBack, Error::BadVersion],
        };
        assert_eq!(unfence(op_failed), Error::BadVersion);
    }
}
