//! The ownership node every ownership recipe shares: one ephemeral sequential node, its
//! creation and release, and the task that watches it and signals its loss.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aiozk::{Client, Error, EventType, Result, SessionEvent, SessionState};
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::fence::Fence;
use super::loss::{LossReason, LostSignal};
use crate::support::in_session::{
    create_unique, delete_by_prefix, finish_delete, transient, wait_connected,
};
use crate::support::task::sleep_until;

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

/// How long the server may go unheard from before an ownership counts as lost: when the
/// loss signal fires for a connection that went silent (the client drops it after 2/3 of the
/// session timeout, then [`suspension_grace`] passes). Measured from
/// [`Client::last_heard`], so a process that was paused, or whose server stopped answering,
/// is past it even before its client has noticed anything.
pub(crate) fn silence_limit(session_timeout: Duration) -> Duration {
    session_timeout * 2 / 3 + suspension_grace(session_timeout)
}

/// True while the server has been heard from within [`silence_limit`].
fn heard_recently(client: &Client) -> bool {
    let limit = silence_limit(client.session_timeout());
    client.last_heard().is_some_and(|heard| {
        Instant::now().saturating_duration_since(Instant::from_std(heard)) < limit
    })
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
    /// The zxid of the node's creation.
    czxid: AtomicI64,
    lost_tx: watch::Sender<Option<LossReason>>,
    phase_tx: watch::Sender<Phase>,
    ended: AtomicBool,
}

impl Core {
    pub(crate) fn new(client: &Client, base: &str, label: &str) -> Arc<Self> {
        Arc::new(Self {
            client: client.clone(),
            base: base.to_owned(),
            prefix: format!("{label}-{}-", crate::support::naming::new_guid()),
            node: OnceLock::new(),
            owner: AtomicI64::new(0),
            czxid: AtomicI64::new(0),
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
    pub(crate) fn czxid(&self) -> i64 {
        self.czxid.load(Ordering::Acquire)
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
        self.czxid.store(stat.czxid, Ordering::Release);
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
        LostSignal::new(self.lost_tx.subscribe())
    }

    pub(crate) fn lost_reason(&self) -> Option<LossReason> {
        *self.lost_tx.borrow()
    }

    pub(crate) fn fence(&self) -> Fence {
        Fence::new(
            self.client.clone(),
            self.node().to_owned(),
            self.lost_tx.subscribe(),
        )
    }

    /// True while the ownership lasts as far as this process can tell right now: the clock
    /// is read too, so that a process resumed after a pause never sees a stale true.
    pub(crate) fn is_held(&self) -> bool {
        self.lost_reason().is_none()
            && !self.ended.load(Ordering::Acquire)
            && self.client.state() != SessionState::Expired
            && self.client.session_id() == self.owner.load(Ordering::Acquire)
            && heard_recently(&self.client)
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
    let silence = silence_limit(client.session_timeout());
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
        // Also when the connection looks up: after a pause of this process, this fires
        // before the client has read a byte.
        let silence_deadline = client
            .last_heard()
            .filter(|_| holding && !crate::mutant("lock-no-suspend-loss"))
            .map(|heard| Instant::from_std(heard) + silence);
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
            () = sleep_until(silence_deadline) => {
                // Pings may have moved it on meanwhile: look again.
                if !heard_recently(&client) {
                    break LossReason::Suspended;
                }
            }
            () = sleep_until(until) => break LossReason::LeaseExpired,
        }
    };
    core.declare_lost(reason);
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
    fn silence_limit_is_when_a_silent_connection_counts_as_lost() {
        // 4 s: dropped at 2667 ms of silence, then 933 ms of grace (less a nanosecond of
        // rounding).
        let ms = |t| silence_limit(Duration::from_secs(t)).as_secs_f64() * 1000.0;
        assert!((ms(4) - 3600.0).abs() < 0.01, "{}", ms(4));
        assert!((ms(30) - 27_000.0).abs() < 0.01, "{}", ms(30));
        // Never longer than the session timeout: the server may expire it then.
        for ms in [300, 1000, 2000, 10_000] {
            let t = Duration::from_millis(ms);
            assert!(silence_limit(t) < t, "{ms}");
        }
    }
}
