//! A counting semaphore: at most N holders, served in arrival order.

use std::sync::Arc;
use std::time::Duration;

use aiozk::{Client, Error, Result};
use tokio::time::Instant;

use super::guard::OwnershipGuard;
use super::lock::{normalize, Lock};
use super::node::{Core, ReleaseOnDrop};
use super::waiting::{wait_in_line, Turn};
use crate::support::in_session::{retrying, transient, wait_connected};
use crate::support::naming::new_guid;
use crate::Layout;

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
/// # Foreign layouts
/// With [`Semaphore::with_layout`] the semaphore shares its permits with a foreign
/// library's semaphore on the same path:
/// * [`Layout::Curator`] (`InterProcessSemaphoreV2` without a `SharedCount`): a contender
///   takes the `InterProcessMutex` at `<path>/locks`, creates `<path>/leases/_c_<uuid>-lease-<seq>`
///   (data: the local address) and waits, still holding the mutex, until at most `permits`
///   leases exist; then it releases the mutex and holds its lease.
/// * [`Layout::Kazoo`] (`Semaphore`): `<path>` holds the number of permits as decimal text
///   (a different number there fails with [`Error::InvalidArgument`], as kazoo raises
///   `ValueError`); a contender takes kazoo's `Lock` at `<path>-__lock__`, waits until fewer
///   than `permits` children of `<path>` exist, creates the ephemeral `<path>/<uuid hex>`
///   (data: [`Semaphore::with_data`], kazoo's identifier) and releases the lock.
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
    layout: Layout,
    data: Option<Vec<u8>>,
}

impl Semaphore {
    /// A semaphore on `path` with `permits` permits.
    pub fn new(client: &Client, path: &str, permits: u32) -> Self {
        Self {
            client: client.clone(),
            base: normalize(path),
            permits,
            layout: Layout::Aiozk,
            data: None,
        }
    }

    /// Uses `layout`'s nodes and rules (see [Foreign layouts](#foreign-layouts)); by
    /// default aiozk's.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Writes `data` into the lease nodes (kazoo's identifier); by default the layout's:
    /// nothing, or for Curator the local address.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = Some(data.into());
        self
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
    /// [`Error::InvalidArgument`] for a semaphore of zero permits, and in kazoo's layout
    /// when the path holds another number of permits; otherwise as for
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
        let queued = async {
            match self.layout {
                Layout::Curator => self.acquire_curator().await,
                Layout::Kazoo => self.acquire_kazoo().await,
                _ => self.acquire_aiozk().await,
            }
        };
        let core = match deadline {
            Some(at) => tokio::time::timeout_at(at, queued)
                .await
                .map_err(|_| Error::Timeout)??,
            None => queued.await?,
        };
        core.hold(None);
        Ok(OwnershipGuard::new(core, None))
    }

    fn permits_usize(&self) -> usize {
        usize::try_from(self.permits).unwrap_or(usize::MAX)
    }

    async fn acquire_aiozk(&self) -> Result<Arc<Core>> {
        let permits = self.permits_usize();
        let armed = wait_in_line(
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
        )
        .await?;
        Ok(armed.disarm())
    }

    async fn acquire_curator(&self) -> Result<Arc<Core>> {
        let layout = Layout::Curator;
        let mutex = Lock::new(&self.client, &aiozk::path::join(&self.base, "locks"))
            .with_layout(layout)
            .acquire(None)
            .await?;
        let leases = aiozk::path::join(&self.base, "leases");
        let data = self.data.clone().unwrap_or_else(|| layout.default_data());
        let permits = self.permits_usize();
        let lease = wait_in_line(
            || layout.core(&self.client, &leases, layout.prefix("lease-")),
            &data,
            &leases,
            // Curator counts every lease, ours included, while holding the mutex.
            move |siblings, _| {
                if siblings.len() <= permits {
                    Turn::Granted
                } else {
                    Turn::WaitChildren
                }
            },
        )
        .await;
        // Also on failure: the mutex only guards the way to a lease. A failed release is
        // retried in the background when the guard drops.
        let _ = mutex.release().await;
        Ok(lease?.disarm())
    }

    async fn acquire_kazoo(&self) -> Result<Arc<Core>> {
        self.kazoo_limit().await?;
        let data = self.data.clone().unwrap_or_default();
        let mutex = Lock::new(&self.client, &format!("{}-__lock__", self.base))
            .with_layout(Layout::Kazoo)
            .with_data(data.clone())
            .acquire(None)
            .await?;
        let lease = self.kazoo_lease(&data).await;
        let _ = mutex.release().await;
        lease
    }

    /// kazoo's check of the number of permits in the semaphore node's data.
    async fn kazoo_limit(&self) -> Result<()> {
        let text = self.permits.to_string();
        loop {
            match self.client.create(&self.base, text.as_bytes()).await {
                Ok(_) => return Ok(()),
                Err(Error::NoNode) => {
                    if let Some(parent) = aiozk::path::parent(&self.base) {
                        retrying(&self.client, || self.client.ensure_path(parent)).await?;
                    }
                }
                Err(Error::NodeExists) => {
                    let (data, _) =
                        retrying(&self.client, || self.client.get_data(&self.base)).await?;
                    // Data that is not a number is someone else's: ignored, as kazoo does.
                    let stored = std::str::from_utf8(&data)
                        .ok()
                        .and_then(|t| t.trim().parse::<u64>().ok());
                    return match stored {
                        Some(n) if n != u64::from(self.permits) => {
                            Err(Error::InvalidArgument(format!(
                                "semaphore {} has {n} permits, not {}",
                                self.base, self.permits
                            )))
                        }
                        _ => Ok(()),
                    };
                }
                Err(e) if transient(&e) => wait_connected(&self.client).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Waits (holding kazoo's lock) until fewer than `permits` leases exist, then creates
    /// ours.
    async fn kazoo_lease(&self, data: &[u8]) -> Result<Arc<Core>> {
        let permits = self.permits_usize();
        loop {
            let (children, _, watcher) = retrying(&self.client, || {
                self.client.get_children_watched(&self.base)
            })
            .await?;
            if children.len() < permits {
                let core = Core::with_prefix(&self.client, &self.base, new_guid());
                let armed = ReleaseOnDrop(Some(Arc::clone(&core)));
                core.create_plain(data).await?;
                return Ok(armed.disarm());
            }
            let _ = watcher.await;
        }
    }
}
