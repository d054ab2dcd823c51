//! Leases: up to N holders at a time, each for a limited duration.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aiozk::{Client, Error, Result};
use tokio::time::Instant;

use super::guard::OwnershipGuard;
use super::lock::normalize;
use super::node::Core;
use crate::support::in_session::retrying;
use crate::support::naming::sorted_siblings;

/// Proof that a [`Lease`] is held; ends at its expiry or when dropped. See
/// [`OwnershipGuard`].
pub type LeaseGuard = OwnershipGuard;

/// A lease (aiozk's `Lease`): at most `limit` holders at a time, each for a duration.
/// Obtaining never waits: it succeeds or reports that the lease is taken.
///
/// # Layout
/// A holder owns an ephemeral sequential node `<path>/lease-<guid>-<10-digit sequence>`
/// whose data is its expiry as Unix seconds in decimal (`str(time.time() + duration)`
/// in aiozk). When the duration has passed, the holder deletes its node and its
/// [`OwnershipGuard::lost`] signal fires with [`super::LossReason::LeaseExpired`].
///
/// # Differences from aiozk
/// aiozk counts the children and then creates its node, so two processes can both see
/// room for one more and both obtain the lease. Here the node is created first and the
/// lease is granted only when fewer than `limit` nodes precede it (otherwise the node is
/// deleted again), so there are never more than `limit` holders. A missing `<path>` is
/// created instead of failing with `NoNode`. Like aiozk, nobody but the holder enforces
/// the expiry written in the node: a holder that dies keeps its node until its session
/// expires.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use std::time::Duration;
/// use aiozk_recipes::Lease;
///
/// // One process a minute sends the digest mail; the lease is not released early.
/// let lease = Lease::new(&zk, "/leases/digest-mail", 1);
/// match lease.obtain(Duration::from_secs(60)).await? {
///     Some(_guard) => println!("ours for a minute: send the mail"),
///     None => println!("someone else has it"),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Lease {
    client: Client,
    base: String,
    limit: u32,
}

impl Lease {
    /// A lease on `path` for at most `limit` holders at a time.
    pub fn new(client: &Client, path: &str, limit: u32) -> Self {
        Self {
            client: client.clone(),
            base: normalize(path),
            limit,
        }
    }

    /// The lease's path.
    pub fn path(&self) -> &str {
        &self.base
    }

    /// The maximum number of holders.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Tries to obtain the lease for `duration`. Returns `None` when `limit` holders
    /// already have it (aiozk returns `False`).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero duration or limit; [`Error::Closed`];
    /// [`Error::SessionExpired`] when the session expired and the client opens no new
    /// one; lasting server errors such as [`Error::NoAuth`].
    ///
    /// # Cancellation safety
    /// Dropping the future deletes the node it may have created.
    pub async fn obtain(&self, duration: Duration) -> Result<Option<LeaseGuard>> {
        if duration.is_zero() || self.limit == 0 {
            return Err(Error::InvalidArgument(
                "a lease needs a positive duration and limit".into(),
            ));
        }
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let client = &self.client;
        // Cheap early answer, as aiozk: no node is created when the lease is clearly full.
        match retrying(client, || client.get_children(&self.base)).await {
            Ok(children) if sorted_siblings(&children).len() >= limit => return Ok(None),
            Ok(_) | Err(Error::NoNode) => {}
            Err(e) => return Err(e),
        }
        loop {
            let until = Instant::now() + duration;
            let expiry = (SystemTime::now() + duration)
                .duration_since(UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let core = Core::new(client, &self.base, "lease");
            let armed = super::node::ReleaseOnDrop(Some(core.clone()));
            core.create(expiry.to_string().as_bytes()).await?;
            let children = match retrying(client, || client.get_children(&self.base)).await {
                Ok(children) => children,
                // The node went with the session or the base node: try again.
                Err(Error::SessionExpired | Error::NoNode) => continue,
                Err(e) => return Err(e),
            };
            let siblings = sorted_siblings(&children);
            let Some(position) = siblings.iter().position(|s| s.name == core.name()) else {
                continue;
            };
            let core = armed.disarm();
            if position < limit && core.lost_reason().is_none() {
                core.hold(Some(until));
                return Ok(Some(OwnershipGuard::new(core, Some(until))));
            }
            core.release().await?;
            return Ok(None);
        }
    }
}
