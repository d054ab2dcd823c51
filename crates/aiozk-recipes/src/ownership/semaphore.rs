//! A counting semaphore: at most N holders, served in arrival order.

use std::time::Duration;

use aiozk::{Client, Error, Result};
use tokio::time::Instant;

use super::guard::OwnershipGuard;
use super::lock::normalize;
use super::node::Core;
use super::waiting::{wait_in_line, Turn};

/// Proof that a [`Semaphore`] permit is held; releases it when dropped. See
/// [`OwnershipGuard`].
pub type SemaphorePermit = OwnershipGuard;

/// A fair distributed semaphore with a fixed number of permits.
///
/// # Layout
/// Each contender creates an ephemeral sequential node
/// `<path>/permit-<guid>-<10-digit sequence>`. A contender holds a permit when fewer than
/// `permits` nodes precede it, so permits are granted in arrival order and a later
/// contender never overtakes an earlier one. Waiting contenders watch the children of
/// `<path>` (every change wakes every waiter; keep the number of waiters moderate).
///
/// Every process must use the same number of permits on a path: the count is not stored
/// in ZooKeeper (as with Curator's `InterProcessSemaphoreV2` without a `SharedCount`).
/// Do not mix other recipes' nodes into `<path>`: every child ending in ten digits counts.
///
/// Connection loss and session expiry are handled as for [`super::Lock`].
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Semaphore;
///
/// // At most three processes run the import at once.
/// let slots = Semaphore::new(&zk, "/semaphores/import", 3);
/// let permit = slots.acquire(None).await?;
/// /* the import */
/// permit.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Semaphore {
    client: Client,
    base: String,
    permits: u32,
}

impl Semaphore {
    /// A semaphore on `path` with `permits` permits.
    pub fn new(client: &Client, path: &str, permits: u32) -> Self {
        Self {
            client: client.clone(),
            base: normalize(path),
            permits,
        }
    }

    /// The number of permits.
    pub fn permits(&self) -> u32 {
        self.permits
    }

    /// The semaphore's path.
    pub fn path(&self) -> &str {
        &self.base
    }

    /// Waits for a permit, at most `timeout` (`None`: no limit).
    ///
    /// # Errors
    /// [`Error::Timeout`] when the timeout passed first (our node is deleted);
    /// [`Error::InvalidArgument`] for a semaphore of zero permits; otherwise as for
    /// [`super::Lock::acquire`].
    ///
    /// # Cancellation safety
    /// Dropping the future withdraws from the line and deletes our node.
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<SemaphorePermit> {
        if self.permits == 0 {
            return Err(Error::InvalidArgument(
                "a semaphore needs at least one permit".into(),
            ));
        }
        let deadline = timeout.map(|t| Instant::now() + t);
        let permits = usize::try_from(self.permits).unwrap_or(usize::MAX);
        let queued = wait_in_line(
            || Core::new(&self.client, &self.base, "permit"),
            &[],
            &self.base,
            move |_, position| {
                if position < permits {
                    Turn::Granted
                } else {
                    Turn::WaitChildren
                }
            },
        );
        let armed = match deadline {
            Some(at) => tokio::time::timeout_at(at, queued)
                .await
                .map_err(|_| Error::Timeout)??,
            None => queued.await?,
        };
        let core = armed.disarm();
        core.hold(None);
        Ok(OwnershipGuard::new(core, None))
    }
}
