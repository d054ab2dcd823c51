//! `Barrier` and `DoubleBarrier`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use aiozk::path::join;
use aiozk::{Client, Error, EventType, Result, SessionState};
use tokio::time::Instant;

use crate::layout::canonical_uuid;
use crate::support::across_expiry::{
    create_plain, create_unique, delete_quietly, is_transient, persist, reclaim, wait_usable,
    OrphanGuard, SessionWatch,
};
use crate::support::naming::{new_guid, sorted_sequential};
use crate::support::task::{deadline_after, sleep_until, until};
use crate::Layout;

/// A barrier: processes [`wait`](Barrier::wait) while the barrier node exists, and go on
/// once it is deleted ([`lift`](Barrier::lift)).
///
/// # Znode layout
/// One persistent node at `path`, with no data. Its presence is the barrier. Missing
/// parents are created (persistent) by [`create`](Barrier::create).
///
/// # Guarantees
/// `wait` returns only after it has seen the node missing; a barrier that does not exist
/// does not block (as in aiozk).
///
/// # Connection loss and session expiry
/// The barrier node is persistent and does not depend on any session. A waiter survives
/// reconnects and new sessions: its watch is re-registered by the client, and it checks
/// the node again after every reconnect, so a lift during an outage is seen once the
/// client is back.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Barrier;
///
/// let barrier = Barrier::new(&zk, "/barriers/deploy");
/// barrier.create().await?;
/// // Workers elsewhere block in `Barrier::new(&zk, "/barriers/deploy").wait(None)`.
/// /* get ready */
/// barrier.lift().await?; // every waiter goes on
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Barrier {
    client: Client,
    path: String,
}

impl Barrier {
    /// A barrier at `path`.
    pub fn new(client: &Client, path: &str) -> Self {
        Self {
            client: client.clone(),
            path: path.to_owned(),
        }
    }

    /// The barrier node's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Raises the barrier: creates its node (and missing parents). Raising a raised barrier
    /// is not an error.
    ///
    /// # Errors
    /// [`Error::NoAuth`], connection errors that outlast the client's retries.
    pub async fn create(&self) -> Result<()> {
        if let Some(parent) = aiozk::path::parent(&self.path) {
            persist(&self.client, || self.client.ensure_path(parent)).await?;
        }
        match self.client.create(&self.path, b"").await {
            Ok(_) | Err(Error::NodeExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Lifts the barrier: deletes its node, releasing every waiter. Lifting a barrier that
    /// does not exist is not an error.
    ///
    /// # Errors
    /// [`Error::NotEmpty`] when someone created children under the node; [`Error::NoAuth`];
    /// [`Error::Closed`].
    pub async fn lift(&self) -> Result<()> {
        delete_quietly(&self.client, &self.path).await
    }

    /// Waits until the barrier does not exist, at most `timeout` (`None`: no limit).
    ///
    /// # Errors
    /// [`Error::Timeout`] when the timeout passes first; [`Error::Closed`] and other errors
    /// that end the session.
    ///
    /// # Cancellation safety
    /// Cancel safe: a wait creates nothing, and dropping it drops its watch.
    pub async fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        let deadline = deadline_after(timeout);
        let mut session = SessionWatch::new(&self.client);
        loop {
            let (stat, watcher) = until(
                deadline,
                persist(&self.client, || self.client.exists_watched(&self.path)),
            )
            .await?;
            if stat.is_none() {
                return Ok(());
            }
            tokio::select! {
                ev = watcher => {
                    if ev.event_type == EventType::None && ev.state == SessionState::Closed {
                        return Err(Error::Closed);
                    }
                }
                _ = session.next() => {}
                () = sleep_until(deadline) => return Err(Error::Timeout),
            }
        }
    }
}

/// The name of a double barrier's sentinel node.
const SENTINEL: &str = "sentinel";
/// The sentinel of Curator's and kazoo's double barriers.
const READY: &str = "ready";
/// The label of a double barrier's participant nodes.
const WORKER: &str = "worker";

/// A double barrier (aiozk's `DoubleBarrier`): participants [`enter`](Self::enter)
/// together once at least `min_participants` have arrived, and [`leave`](Self::leave)
/// together once all have finished.
///
/// # Znode layout (the same as aiozk, so both libraries can share a barrier)
/// * `<base>/worker-<guid>-<10-digit sequence>`: one ephemeral sequential node per
///   participant (`guid`: 32 hex digits, one per `DoubleBarrier` value).
/// * `<base>/sentinel`: a persistent node created by the participant that completes the
///   quorum; its existence means "entered". The last participant to leave deletes it.
///
/// # Curator's and kazoo's layout
/// With [`DoubleBarrier::with_layout`] the barrier is Curator's `DistributedDoubleBarrier`
/// or kazoo's `DoubleBarrier`: each participant owns the ephemeral node `<base>/<uuid>`
/// (Curator: the 36-character form, data the local address; kazoo: 32 hex digits, data
/// `<host name>-<pid>` or [`DoubleBarrier::with_data`]), and `<base>/ready` takes the
/// sentinel's part. Participants are ordered by node name. A participant deletes `ready`
/// when it starts leaving (kazoo) or once it has left (Curator), as those libraries do.
///
/// kazoo's early deletion has a gap that kazoo's own participants share: one that was cut
/// off from the server when the barrier opened, and is back only after the first
/// participant started leaving, finds no `ready` (no watch fires for a node created and
/// deleted while the connection was down), so it waits in `enter` until its timeout while
/// the others wait in `leave` for its node. In kazoo's layout give `enter` a timeout, or let
/// participants leave only once all have passed `enter`. Curator's and aiozk's layouts keep
/// the sentinel until every participant has left, so a late participant still finds it.
///
/// # Guarantees
/// `enter` returns once `<base>/sentinel` exists; it is created only when at least
/// `min_participants` worker nodes exist. `leave` follows ZooKeeper's recipe: it returns
/// once every worker node that existed is gone. A participant arriving while the sentinel
/// exists enters at once (as in aiozk).
///
/// # Connection loss and session expiry
/// Waits survive reconnects (watches are re-registered and the state is re-checked after
/// every reconnect). The participant node is ephemeral: if the session expires while
/// `enter` waits, the node is created again in the new session; after `enter` returned, a
/// lost node simply counts as having left.
///
/// # Cancellation safety
/// `enter` and `leave` are cancel safe in the sense that dropping them, or a timeout,
/// leaves no node of this participant behind (the cleanup of a dropped call runs in a
/// spawned task). A dropped or timed-out `leave` has left: it only stopped waiting for the
/// others.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::DoubleBarrier;
///
/// // Start together once four workers are there, and leave together.
/// let barrier = DoubleBarrier::new(&zk, "/barriers/batch", 4);
/// barrier.enter(None).await?;
/// /* the batch */
/// barrier.leave(None).await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DoubleBarrier {
    client: Client,
    base: String,
    min_participants: usize,
    guid: String,
    layout: Layout,
    data: Option<Vec<u8>>,
    own: Arc<Mutex<Option<String>>>,
}

impl DoubleBarrier {
    /// A double barrier under `base_path` that opens once `min_participants` have entered.
    pub fn new(client: &Client, base_path: &str, min_participants: usize) -> Self {
        Self {
            client: client.clone(),
            base: base_path.to_owned(),
            min_participants,
            guid: new_guid(),
            layout: Layout::Aiozk,
            data: None,
            own: Arc::new(Mutex::new(None)),
        }
    }

    /// Uses `layout`'s nodes (see [Curator's and kazoo's layout](#curators-and-kazoos-layout));
    /// by default aiozk's.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Writes `data` into this participant's node (kazoo's identifier) in a foreign layout.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The start of this participant's node name (its whole name in a foreign layout).
    fn own_prefix(&self) -> String {
        match self.layout {
            Layout::Curator => canonical_uuid(&self.guid),
            Layout::Kazoo => self.guid.clone(),
            _ => format!("{WORKER}-{}-", self.guid),
        }
    }

    async fn create_own(&self) -> Result<String> {
        if self.layout == Layout::Aiozk {
            return create_unique(&self.client, &self.base, WORKER, &self.guid, b"").await;
        }
        let data = match (&self.data, self.layout) {
            (Some(d), _) => d.clone(),
            (None, Layout::Kazoo) => {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
                format!("{}-{}", host.trim(), std::process::id()).into_bytes()
            }
            (None, layout) => layout.default_data(),
        };
        // Curator creates missing parents as containers, kazoo as persistent nodes.
        let parents = if self.layout == Layout::Curator {
            aiozk::CreateOptions::new().container()
        } else {
            aiozk::CreateOptions::new()
        };
        create_plain(
            &self.client,
            &self.base,
            &self.own_prefix(),
            &data,
            &parents,
        )
        .await
    }

    /// After a new session: our node, created again if it went with the old session.
    async fn reclaim_own(&self, node: &str) -> Result<String> {
        if self.layout == Layout::Aiozk {
            return reclaim(&self.client, &self.base, WORKER, &self.guid, node).await;
        }
        let stat = persist(&self.client, || self.client.exists(node)).await?;
        if stat.is_some_and(|s| s.ephemeral_owner == self.client.session_id()) {
            return Ok(node.to_owned());
        }
        self.create_own().await
    }

    /// The participants among `children`, in leaving order.
    fn participants(&self, children: Vec<String>) -> Vec<String> {
        if self.layout == Layout::Aiozk {
            return sorted_sequential(children);
        }
        let mut p: Vec<String> = children.into_iter().filter(|c| c != READY).collect();
        p.sort();
        p
    }

    /// The base path.
    pub fn base_path(&self) -> &str {
        &self.base
    }

    /// This participant's node, while it has one.
    pub fn own_node(&self) -> Option<String> {
        self.own.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_own(&self, node: Option<String>) {
        *self.own.lock().unwrap_or_else(|e| e.into_inner()) = node;
    }

    fn sentinel(&self) -> String {
        join(
            &self.base,
            if self.layout == Layout::Aiozk {
                SENTINEL
            } else {
                READY
            },
        )
    }

    /// Enters the barrier: registers this participant and waits until at least
    /// `min_participants` have, at most `timeout`.
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::NodeExists`] when this value has already entered;
    /// [`Error::Closed`] and other errors that end the session. On every error the
    /// participant node is removed again.
    ///
    /// # Cancellation safety
    /// Dropping the future removes the participant node (see the type's documentation).
    pub async fn enter(&self, timeout: Option<Duration>) -> Result<()> {
        if self.own_node().is_some() {
            return Err(Error::NodeExists);
        }
        let deadline = deadline_after(timeout);
        let mut guard = OrphanGuard::new(&self.client, &self.base, self.own_prefix());
        match self.enter_inner(deadline).await {
            Ok(()) => {
                guard.disarm();
                Ok(())
            }
            Err(e) => {
                if let Some(node) = self.own_node() {
                    self.set_own(None);
                    let _ = delete_quietly(&self.client, &node).await;
                }
                // The guard still sweeps on drop: also covers a create cut short by `e`.
                drop(guard);
                Err(e)
            }
        }
    }

    async fn enter_inner(&self, deadline: Option<Instant>) -> Result<()> {
        let client = &self.client;
        let sentinel = self.sentinel();
        let mut session = SessionWatch::new(client);
        let mut session_id = client.session_id();
        // Watch for the sentinel before registering, so its creation cannot be missed.
        let (exists, mut watcher) = until(
            deadline,
            persist(client, || client.exists_watched(&sentinel)),
        )
        .await?;
        let node = until(deadline, self.create_own()).await?;
        self.set_own(Some(node));
        if exists.is_some() {
            return Ok(());
        }
        let mut check_count = true;
        loop {
            if check_count {
                let children = until(
                    deadline,
                    persist(client, || client.get_children(&self.base)),
                )
                .await?;
                // Curator and kazoo count every child.
                let count = if self.layout == Layout::Aiozk {
                    sorted_sequential(children).len()
                } else {
                    children.len()
                };
                if count >= self.min_participants {
                    match until(deadline, client.create(&sentinel, b"")).await {
                        Ok(_) | Err(Error::NodeExists) => return Ok(()),
                        // Nobody else may be left to create it: count and try again.
                        Err(e) if is_transient(&e) => {
                            until(deadline, wait_usable(client)).await?;
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
            tokio::select! {
                _ = &mut watcher => {}
                _ = session.next() => {}
                () = sleep_until(deadline) => return Err(Error::Timeout),
            }
            // Re-arm and look again: the sentinel may have appeared, or (after a new
            // session) our node may be gone.
            let (exists, w) = until(
                deadline,
                persist(client, || client.exists_watched(&sentinel)),
            )
            .await?;
            watcher = w;
            if exists.is_some() {
                return Ok(());
            }
            check_count = false;
            if client.session_id() != session_id {
                session_id = client.session_id();
                if let Some(node) = self.own_node() {
                    let now = until(deadline, self.reclaim_own(&node)).await?;
                    if now != node {
                        self.set_own(Some(now));
                        check_count = true;
                    }
                }
            }
        }
    }

    /// Leaves the barrier: removes this participant and waits until every participant has
    /// left, at most `timeout`. The last one out deletes the sentinel. Returns at once when
    /// this value has not entered.
    ///
    /// # Errors
    /// [`Error::Timeout`] (this participant's node is removed anyway); [`Error::Closed`] and
    /// other errors that end the session.
    ///
    /// # Cancellation safety
    /// Dropping the future removes this participant's node.
    pub async fn leave(&self, timeout: Option<Duration>) -> Result<()> {
        if self.own_node().is_none() {
            // Never entered, or already left.
            return Ok(());
        }
        let deadline = deadline_after(timeout);
        let mut guard = OrphanGuard::new(&self.client, &self.base, self.own_prefix());
        let result = async {
            if self.layout == Layout::Kazoo {
                until(deadline, delete_quietly(&self.client, &self.sentinel())).await?;
            }
            self.leave_inner(deadline).await
        }
        .await;
        if self.layout == Layout::Curator && result.is_ok() {
            delete_quietly(&self.client, &self.sentinel()).await?;
        }
        if let Some(node) = self.own_node() {
            self.set_own(None);
            let _ = delete_quietly(&self.client, &node).await;
        }
        guard.disarm();
        result
    }

    async fn leave_inner(&self, deadline: Option<Instant>) -> Result<()> {
        let client = &self.client;
        let mut session = SessionWatch::new(client);
        loop {
            let children = match until(
                deadline,
                persist(client, || client.get_children(&self.base)),
            )
            .await
            {
                Ok(children) => children,
                // Everybody left, and the server reaped Curator's container already.
                Err(Error::NoNode) => Vec::new(),
                Err(e) => return Err(e),
            };
            let participants = self.participants(children);
            let own = self
                .own_node()
                .and_then(|p| p.rsplit('/').next().map(str::to_owned));
            let own_present = own.as_ref().is_some_and(|o| participants.contains(o));
            if participants.is_empty() {
                return Ok(());
            }
            if own_present && participants.len() == 1 {
                if let Some(node) = self.own_node() {
                    self.set_own(None);
                    delete_quietly(client, &node).await?;
                }
                delete_quietly(client, &self.sentinel()).await?;
                return Ok(());
            }
            let target = if own_present && participants.first() == own.as_ref() {
                // The lowest leaves last: wait for the highest.
                participants[participants.len() - 1].clone()
            } else {
                if let Some(node) = self.own_node() {
                    self.set_own(None);
                    until(deadline, delete_quietly(client, &node)).await?;
                }
                participants[0].clone()
            };
            let target = join(&self.base, &target);
            let (stat, watcher) =
                until(deadline, persist(client, || client.exists_watched(&target))).await?;
            if stat.is_none() {
                continue;
            }
            tokio::select! {
                ev = watcher => {
                    if ev.event_type == EventType::None && ev.state == SessionState::Closed {
                        return Err(Error::Closed);
                    }
                }
                _ = session.next() => {}
                () = sleep_until(deadline) => return Err(Error::Timeout),
            }
        }
    }
}
