//! The machinery every ownership recipe shares: one ephemeral sequential node, the task
//! that watches it, the loss signal, fenced writes and the guard that releases it.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aiozk::{
    Client, CreateOptions, Error, EventType, OpResult, Result, SessionEvent, SessionState, Stat,
    Transaction,
};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::util::{create_unique, delete_by_prefix, finish_delete, transient, wait_connected};

/// Why an ownership (a lock, a permit, a lease, a leadership) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossReason {
    /// This process released it (a `release` call or a dropped guard).
    Released,
    /// The session that owned the node expired: the server deleted the node, or will
    /// delete it shortly (the client may notice the expiry before the server does).
    SessionExpired,
    /// The node was deleted by someone else (an administrator, a bug).
    NodeDeleted,
    /// The connection has been down long enough that the server may already have expired
    /// the session (see the module documentation). The node is deleted as soon as the
    /// client can reach the server again.
    Suspended,
    /// The lease's duration has passed.
    LeaseExpired,
    /// The client was closed or stopped (authentication failure).
    ClientClosed,
}

impl LossReason {
    /// True for every reason except [`LossReason::Released`].
    pub fn is_involuntary(self) -> bool {
        self != Self::Released
    }
}

/// Fires when an ownership ends, for any [`LossReason`].
///
/// It is a cheap, cloneable view of a [`watch`] channel. Await it directly
/// (`guard.lost().await` yields the reason), poll [`LostSignal::reason`], or take the raw
/// [`LostSignal::receiver`] for a `select!`.
///
/// The signal is set **before** the recipe deletes its node on an involuntary loss, and
/// for [`LossReason::Suspended`] it is set before the session can have expired on the
/// server. So once it has fired, no write fenced by this ownership (see [`Fence`]) that
/// is issued afterwards can succeed, and no other process can have been granted the same
/// ownership before it fired (see the module documentation for the assumption this
/// rests on).
#[derive(Debug, Clone)]
pub struct LostSignal {
    rx: watch::Receiver<Option<LossReason>>,
}

impl LostSignal {
    /// True once the ownership has ended.
    pub fn is_lost(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Why the ownership ended, or `None` while it lasts.
    pub fn reason(&self) -> Option<LossReason> {
        *self.rx.borrow()
    }

    /// Waits until the ownership ends and returns why.
    ///
    /// # Cancellation safety
    /// Cancel-safe: nothing is consumed.
    pub async fn wait(&self) -> LossReason {
        let mut rx = self.rx.clone();
        loop {
            if let Some(reason) = *rx.borrow_and_update() {
                return reason;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as the ownership's shared state, which every
                // guard and the watching task keep; gone means ended.
                return rx.borrow().unwrap_or(LossReason::Released);
            }
        }
    }

    /// The underlying receiver: `None` while the ownership lasts, then the reason.
    pub fn receiver(&self) -> watch::Receiver<Option<LossReason>> {
        self.rx.clone()
    }
}

impl IntoFuture for LostSignal {
    type Output = LossReason;
    type IntoFuture = Pin<Box<dyn Future<Output = LossReason> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.wait().await })
    }
}

/// Writes that succeed only while an ownership node exists.
///
/// Each write is sent as a transaction (multi) whose first operation checks that the
/// ownership node exists (`check_version(node, -1)`). ZooKeeper applies the transaction
/// atomically, so a fenced write is applied only while this process still owned the lock
/// (or permit, lease, leadership) **at the server**, whatever the process believes. That
/// holds even for a process that was paused past its session timeout: nobody else can be
/// granted the ownership while the node exists.
///
/// Once the [`LostSignal`] has fired, the writes fail without a round trip, and a
/// [`Fence::transaction`] built afterwards can never succeed.
///
/// Like the client's own calls, every method queues its request when it is called.
#[derive(Debug, Clone)]
pub struct Fence {
    client: Client,
    node: String,
    lost: watch::Receiver<Option<LossReason>>,
}

impl Fence {
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

/// How long an owner may stay disconnected before the ownership counts as lost.
///
/// The client declares a silent connection lost at most 2/3 of the session timeout after
/// the last reply it received, and the server cannot expire the session earlier than one
/// full timeout after it last heard from the client. So from the moment the client
/// reports `Disconnected`, at least a third of the timeout remains before the server may
/// expire the session. We keep a margin of a tenth of the timeout (at least 100 ms) for
/// the round trip and for timers that fire late on a busy machine.
pub(crate) fn suspension_grace(session_timeout: Duration) -> Duration {
    let margin = (session_timeout / 10).max(Duration::from_millis(100));
    (session_timeout / 3).saturating_sub(margin)
}

/// What the owner of a node is doing with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Queued: the node exists but grants nothing yet. Disconnections do not count.
    Waiting,
    /// Owning: disconnections count, and a lease ends at `until`.
    Holding { until: Option<Instant> },
    /// Released or lost; the watching task stops.
    Ended,
}

/// The shared state of one ownership node.
#[derive(Debug)]
pub(crate) struct Core {
    client: Client,
    base: String,
    /// `<label>-<guid>-`: the node's name without the sequence number.
    prefix: String,
    node: OnceLock<String>,
    /// The session id in the node's Stat (`ephemeralOwner`).
    owner: AtomicI64,
    lost_tx: watch::Sender<Option<LossReason>>,
    phase_tx: watch::Sender<Phase>,
    ended: AtomicBool,
}

impl Core {
    pub(crate) fn new(client: &Client, base: &str, label: &str) -> Arc<Self> {
        Arc::new(Self {
            client: client.clone(),
            base: base.to_owned(),
            prefix: format!("{label}-{}-", super::util::new_guid()),
            node: OnceLock::new(),
            owner: AtomicI64::new(0),
            lost_tx: watch::channel(None).0,
            phase_tx: watch::channel(Phase::Waiting).0,
            ended: AtomicBool::new(false),
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The node's full path; empty before [`Core::create`] succeeded.
    pub(crate) fn node(&self) -> &str {
        self.node.get().map_or("", String::as_str)
    }

    /// The node's name (last path segment).
    pub(crate) fn name(&self) -> &str {
        aiozk::path::basename(self.node())
    }

    /// Creates the node and starts the task that watches it (in [`Phase::Waiting`]).
    ///
    /// # Errors
    /// As for [`create_unique`].
    pub(crate) async fn create(self: &Arc<Self>, data: &[u8]) -> Result<()> {
        let (path, stat) = create_unique(&self.client, &self.base, &self.prefix, data).await?;
        self.owner.store(stat.ephemeral_owner, Ordering::Release);
        // Set once: a Core is created once.
        let _ = self.node.set(path);
        // Subscribed after the create: every event from here on concerns the node's
        // session or a later one (see `watch_node` for the check that closes the gap).
        let events = self.client.state_changes();
        let suspended = !self.client.state().is_connected();
        tokio::spawn(monitor(Arc::clone(self), events, suspended));
        Ok(())
    }

    /// Starts owning: from now on disconnections count, and the ownership ends at `until`.
    pub(crate) fn hold(&self, until: Option<Instant>) {
        self.phase_tx.send_if_modified(|p| {
            if *p == Phase::Waiting {
                *p = Phase::Holding { until };
                true
            } else {
                false
            }
        });
    }

    pub(crate) fn signal(&self) -> LostSignal {
        LostSignal {
            rx: self.lost_tx.subscribe(),
        }
    }

    pub(crate) fn lost_reason(&self) -> Option<LossReason> {
        *self.lost_tx.borrow()
    }

    pub(crate) fn fence(&self) -> Fence {
        Fence {
            client: self.client.clone(),
            node: self.node().to_owned(),
            lost: self.lost_tx.subscribe(),
        }
    }

    /// True while the ownership lasts as far as this process can tell right now.
    pub(crate) fn is_held(&self) -> bool {
        self.lost_reason().is_none()
            && !self.ended.load(Ordering::Acquire)
            && self.client.state() != SessionState::Expired
            && self.client.session_id() == self.owner.load(Ordering::Acquire)
    }

    /// Marks the ownership as ended by this process. Returns false when it had already
    /// been ended (so the node is being or was deleted by someone else).
    fn end(&self) -> bool {
        if self.ended.swap(true, Ordering::AcqRel) {
            return false;
        }
        self.lost_tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(LossReason::Released);
                true
            } else {
                false
            }
        });
        self.phase_tx.send_replace(Phase::Ended);
        true
    }

    /// Records an involuntary loss and deletes the node (unless it is known to be gone).
    fn declare_lost(&self, reason: LossReason) {
        let first = self.lost_tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        });
        if first {
            tracing::warn!(node = self.node(), ?reason, "ownership lost");
        }
        if reason != LossReason::NodeDeleted && !self.ended.swap(true, Ordering::AcqRel) {
            self.phase_tx.send_replace(Phase::Ended);
            self.delete_in_background();
        }
    }

    /// Releases: ends the ownership and queues the delete of the node **now**; the
    /// future waits for the outcome, retrying after connection losses.
    ///
    /// # Errors
    /// Lasting errors of the delete, such as [`Error::NoAuth`].
    pub(crate) fn release(&self) -> impl Future<Output = Result<()>> + Send + 'static {
        enum Work<D, C> {
            Nothing,
            Delete(D, String),
            ByPrefix(C, String, String),
        }
        let client = self.client.clone();
        let work = if !self.end() {
            Work::Nothing
        } else {
            match self.node.get() {
                Some(node) => Work::Delete(client.delete(node, None), node.clone()),
                None => Work::ByPrefix(
                    client.get_children(&self.base),
                    self.base.clone(),
                    self.prefix.clone(),
                ),
            }
        };
        async move {
            match work {
                Work::Nothing => Ok(()),
                Work::Delete(first, node) => finish_delete(&client, &node, first.await).await,
                Work::ByPrefix(children, base, prefix) => {
                    delete_by_prefix(&client, &base, &prefix, children).await
                }
            }
        }
    }

    /// Releases without waiting (for `Drop`): the delete is queued before this returns,
    /// so it reaches the server before any request made afterwards on the same client;
    /// retries run on a spawned task when a runtime is available.
    pub(crate) fn release_in_background(&self) {
        if self.end() {
            self.delete_in_background();
        }
    }

    fn delete_in_background(&self) {
        let client = self.client.clone();
        let runtime = tokio::runtime::Handle::try_current().ok();
        match self.node.get() {
            Some(node) => {
                let first = client.delete(node, None);
                let node = node.clone();
                if let Some(rt) = runtime {
                    rt.spawn(async move {
                        let outcome = first.await;
                        if let Err(e) = finish_delete(&client, &node, outcome).await {
                            tracing::warn!(%node, error = %e, "could not delete ownership node");
                        }
                    });
                }
            }
            None => {
                // The create may be on its way: list the children after it (requests are
                // answered in call order) and delete whatever carries our guid.
                let children = client.get_children(&self.base);
                let (base, prefix) = (self.base.clone(), self.prefix.clone());
                if let Some(rt) = runtime {
                    rt.spawn(async move {
                        if let Err(e) = delete_by_prefix(&client, &base, &prefix, children).await {
                            tracing::warn!(%base, %prefix, error = %e, "could not clean up");
                        }
                    });
                }
            }
        }
    }
}

/// Releases its [`Core`] on drop unless disarmed: protects nodes of acquisitions that are
/// cancelled, time out or fail.
pub(crate) struct ReleaseOnDrop(pub(crate) Option<Arc<Core>>);

impl ReleaseOnDrop {
    pub(crate) fn disarm(mut self) -> Arc<Core> {
        // Constructed with Some and only emptied here.
        self.0.take().expect("armed")
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if let Some(core) = self.0.take() {
            core.release_in_background();
        }
    }
}

/// Watches the node and the session until the ownership ends; records involuntary losses.
async fn monitor(core: Arc<Core>, mut events: broadcast::Receiver<SessionEvent>, suspended: bool) {
    let client = core.client.clone();
    let owner = core.owner.load(Ordering::Acquire);
    let mut phase_rx = core.phase_tx.subscribe();
    let grace = suspension_grace(client.session_timeout());
    let mut suspended_since = suspended.then(Instant::now);
    let node_watch = watch_node(client.clone(), core.node().to_owned(), owner);
    tokio::pin!(node_watch);
    let reason = loop {
        let phase = *phase_rx.borrow_and_update();
        let (holding, until) = match phase {
            Phase::Ended => return,
            Phase::Waiting => (false, None),
            Phase::Holding { until } => (true, until),
        };
        let suspend_deadline = suspended_since
            .filter(|_| holding && !crate::mutant("lock-no-suspend-loss"))
            .map(|t| t + grace);
        tokio::select! {
            biased;
            changed = phase_rx.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            event = events.recv() => match event {
                Ok(SessionEvent::State(state, _)) => match state {
                    SessionState::Expired if crate::mutant("lock-no-suspend-loss") => {}
                    SessionState::Expired => break LossReason::SessionExpired,
                    SessionState::Closed | SessionState::AuthFailed => {
                        break LossReason::ClientClosed
                    }
                    SessionState::Connected | SessionState::ConnectedReadOnly => {
                        suspended_since = None;
                    }
                    _ => {
                        suspended_since.get_or_insert_with(Instant::now);
                    }
                },
                Ok(SessionEvent::NewSession { session_id }) if session_id != owner => {
                    break LossReason::SessionExpired
                }
                Ok(SessionEvent::NewSession { .. }) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    // Missed events: judge from the current state, conservatively.
                    match client.state() {
                        SessionState::Expired => break LossReason::SessionExpired,
                        s if s.is_terminal() => break LossReason::ClientClosed,
                        s if s.is_connected() => {
                            if client.session_id() != owner {
                                break LossReason::SessionExpired;
                            }
                        }
                        _ => {
                            suspended_since.get_or_insert_with(Instant::now);
                        }
                    }
                }
                Err(broadcast::error::RecvError::Closed) => break LossReason::ClientClosed,
            },
            reason = &mut node_watch => break reason,
            () = sleep_until(suspend_deadline) => break LossReason::Suspended,
            () = sleep_until(until) => break LossReason::LeaseExpired,
        }
    };
    core.declare_lost(reason);
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Watches the node until it is deleted or its session ends.
///
/// The first reply also closes the gap between the create and the subscription to session
/// events: once a reply has arrived, the client's session id is that of the session that
/// answered (or a later one), so a mismatch with the node's owner means the owning session
/// is gone.
async fn watch_node(client: Client, node: String, owner: i64) -> LossReason {
    loop {
        let (stat, watcher) = match client.exists_watched(&node).await {
            Ok(v) => v,
            Err(e) if transient(&e) => match wait_connected(&client).await {
                Ok(()) => continue,
                Err(e) => return reason_for(&e),
            },
            Err(e) => return reason_for(&e),
        };
        if client.session_id() != owner {
            return LossReason::SessionExpired;
        }
        match stat {
            None => return LossReason::NodeDeleted,
            Some(s) if s.ephemeral_owner != owner => return LossReason::NodeDeleted,
            Some(_) => {}
        }
        let event = watcher.await;
        match (event.event_type, event.state) {
            (EventType::NodeDeleted, _) => return LossReason::NodeDeleted,
            (EventType::None, SessionState::Expired) if !crate::mutant("lock-no-suspend-loss") => {
                return LossReason::SessionExpired
            }
            (EventType::None, SessionState::Closed | SessionState::AuthFailed) => {
                return LossReason::ClientClosed
            }
            // Data changed, or something we do not care about: watch again.
            _ => {}
        }
    }
}

fn reason_for(err: &Error) -> LossReason {
    match err {
        Error::SessionExpired => LossReason::SessionExpired,
        Error::Closed | Error::AuthFailed => LossReason::ClientClosed,
        // NoAuth and the like: we cannot see the node any more, so cannot vouch for it.
        _ => LossReason::NodeDeleted,
    }
}

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

    /// The loss signal of this ownership; see [`LostSignal`].
    pub fn lost(&self) -> LostSignal {
        self.core.signal()
    }

    /// Why the ownership ended, or `None` while it lasts.
    pub fn lost_reason(&self) -> Option<LossReason> {
        self.core.lost_reason()
    }

    /// True while the ownership lasts as far as this process can tell: not released, no
    /// loss signalled, and the client's session is still the node's owner.
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
    /// Lasting errors of the delete, such as [`Error::NoAuth`].
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace_leaves_a_margin_before_the_earliest_expiry() {
        // 4 s: a third is 1333 ms, minus a 400 ms margin.
        let g = suspension_grace(Duration::from_secs(4));
        assert_eq!(g.as_millis(), 933);
        // 30 s: 10 s minus 3 s.
        assert_eq!(suspension_grace(Duration::from_secs(30)).as_millis(), 7000);
        // Tiny timeouts saturate at zero: lost as soon as the connection drops.
        assert_eq!(suspension_grace(Duration::from_millis(300)), Duration::ZERO);
    }

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
