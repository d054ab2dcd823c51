//! Leader election.

use std::sync::{Arc, Weak};
use std::time::Duration;

use aiozk::{Client, Error, Result, Transaction};
use tokio::sync::{watch, Mutex};
use tokio::task::JoinHandle;

use super::fence::Fence;
use super::lock::normalize;
use super::loss::{LossReason, LostSignal};
use super::node::{Core, ReleaseOnDrop};
use super::waiting::{line, Turn};
use crate::Layout;

/// A leader election (aiozk's `LeaderElection`).
///
/// # Layout
/// Each candidate owns an ephemeral sequential node
/// `<path>/candidate-<guid>-<10-digit sequence>`. The candidate with the lowest sequence
/// number among all children ending in ten digits is the leader; every other candidate
/// waits for the deletion of the node just before its own. This is aiozk's layout, so
/// Python aiozk candidates and these take part in the same election.
///
/// With [`LeaderElection::with_layout`], the candidates take part in a foreign library's
/// election on the same path instead:
///
/// | layout | node | data | waits for the earlier |
/// |---|---|---|---|
/// | [`Layout::Aiozk`] | `candidate-<guid>-<seq>` | empty | node |
/// | [`Layout::Curator`] (`LeaderLatch`) | `_c_<uuid>-latch-<seq>` | the id ([`LeaderElection::with_data`]) | node |
/// | [`Layout::Kazoo`] (`Election`, a `Lock`) | `<uuid hex>__lock__<seq>` | the identifier | `__lock__` node |
///
/// # Losing leadership
/// Leadership ends when the leader resigns, when its session expires or its connection
/// is down for too long (see the module documentation), or when its node is deleted.
/// [`Leadership::lost`] then fires and [`LeaderElection::has_leadership`] turns false. A
/// candidate whose node is lost (leader or not) leaves the election; call
/// [`LeaderElection::volunteer`] again to rejoin, at the back of the line.
///
/// Dropping the `LeaderElection` resigns in the background.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::LeaderElection;
///
/// let election = LeaderElection::new(&zk, "/elections/scheduler");
/// election.volunteer().await?;
/// let leadership = election.wait_for_leadership(None).await?;
/// println!("leading as {}", leadership.node());
/// tokio::select! {
///     reason = leadership.lost() => eprintln!("no longer leader ({reason:?})"),
///     () = async { /* lead */ } => election.resign().await?,
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct LeaderElection {
    client: Client,
    base: String,
    layout: Layout,
    data: Vec<u8>,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    status: watch::Sender<Status>,
    candidacy: Mutex<Option<Candidacy>>,
}

#[derive(Debug)]
struct Candidacy {
    core: Arc<Core>,
    task: JoinHandle<()>,
}

#[derive(Debug, Clone)]
enum Status {
    Idle,
    Candidate(Arc<Core>),
    Leader(Arc<Core>),
}

impl LeaderElection {
    /// An election on `path`. Nothing happens until [`LeaderElection::volunteer`].
    pub fn new(client: &Client, path: &str) -> Self {
        Self {
            client: client.clone(),
            base: normalize(path),
            layout: Layout::Aiozk,
            data: Vec::new(),
            shared: Arc::new(Shared {
                status: watch::channel(Status::Idle).0,
                candidacy: Mutex::new(None),
            }),
        }
    }

    /// Uses `layout`'s node names and rules (see the table above); by default aiozk's.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Writes `data` into our candidate node (Curator's participant id, kazoo's
    /// identifier); by default nothing.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = data.into();
        self
    }

    /// The election's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The election's path.
    pub fn path(&self) -> &str {
        &self.base
    }

    /// Joins the election: creates our candidate node and starts following the line in
    /// the background. Returns once the node exists (not when leadership is won; see
    /// [`LeaderElection::wait_for_leadership`]).
    ///
    /// # Errors
    /// [`Error::NodeExists`] when this election already has a live candidacy (as aiozk);
    /// [`Error::Closed`]; lasting errors of the create.
    ///
    /// # Cancellation safety
    /// Dropping the future before it completes leaves the election (the node, if created,
    /// is deleted).
    pub async fn volunteer(&self) -> Result<()> {
        let mut candidacy = self.shared.candidacy.lock().await;
        if let Some(current) = candidacy.as_ref() {
            if current.core.lost_reason().is_none() {
                return Err(Error::NodeExists);
            }
        }
        if let Some(old) = candidacy.take() {
            old.task.abort();
            old.core.release_in_background();
        }
        let core = self.layout.core(
            &self.client,
            &self.base,
            self.layout.prefix(candidate_name(self.layout)),
        );
        let armed = ReleaseOnDrop(Some(Arc::clone(&core)));
        core.create(&self.data).await?;
        let core = armed.disarm();
        self.shared
            .status
            .send_replace(Status::Candidate(Arc::clone(&core)));
        let task = tokio::spawn(campaign(
            Arc::clone(&core),
            self.base.clone(),
            self.layout,
            Arc::downgrade(&self.shared),
        ));
        *candidacy = Some(Candidacy { core, task });
        Ok(())
    }

    /// Waits until this process is the leader, at most `timeout` (`None`: no limit), and
    /// returns the leadership. It may be called before volunteering: it then waits for a
    /// later volunteer to win. Returns at once when already leader.
    ///
    /// # Errors
    /// [`Error::Timeout`] when the timeout passed first (the candidacy continues).
    ///
    /// # Cancellation safety
    /// Cancel-safe: the candidacy is not affected.
    pub async fn wait_for_leadership(&self, timeout: Option<Duration>) -> Result<Leadership> {
        let mut rx = self.shared.status.subscribe();
        let wait = async move {
            loop {
                if let Status::Leader(core) = &*rx.borrow_and_update() {
                    if core.lost_reason().is_none() {
                        return Leadership {
                            core: Arc::clone(core),
                        };
                    }
                }
                // The sender lives in `self.shared`, which outlives this borrow of self.
                if rx.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        match timeout {
            Some(t) => tokio::time::timeout(t, wait)
                .await
                .map_err(|_| Error::Timeout),
            None => Ok(wait.await),
        }
    }

    /// Leaves the election: stops following the line and deletes our node, waiting for
    /// the delete. Leadership, if held, ends with [`LossReason::Released`]. Does nothing
    /// when not a candidate.
    ///
    /// # Errors
    /// Lasting errors of the delete, such as [`Error::NoAuth`].
    ///
    /// # Cancellation safety
    /// Once the future has taken the candidacy (its first poll, unless a concurrent
    /// `volunteer` holds it), the candidacy is over and the delete is queued; dropping the
    /// future then only abandons the retries after a connection loss.
    pub async fn resign(&self) -> Result<()> {
        let Some(candidacy) = self.shared.candidacy.lock().await.take() else {
            return Ok(());
        };
        candidacy.task.abort();
        set_idle_if(&self.shared, &candidacy.core);
        candidacy.core.release().await
    }

    /// True while this process is the leader, as far as it can tell right now.
    pub fn has_leadership(&self) -> bool {
        matches!(&*self.shared.status.borrow(), Status::Leader(core) if core.is_held())
    }

    /// The current leadership, if this process is the leader.
    pub fn leadership(&self) -> Option<Leadership> {
        match &*self.shared.status.borrow() {
            Status::Leader(core) if core.is_held() => Some(Leadership {
                core: Arc::clone(core),
            }),
            _ => None,
        }
    }

    /// True while this process has a live candidate node (leader or waiting).
    pub fn is_candidate(&self) -> bool {
        matches!(
            &*self.shared.status.borrow(),
            Status::Candidate(core) | Status::Leader(core) if core.lost_reason().is_none()
        )
    }
}

impl Drop for LeaderElection {
    fn drop(&mut self) {
        // No future borrowing `self` is alive, so the mutex is free.
        if let Ok(mut candidacy) = self.shared.candidacy.try_lock() {
            if let Some(c) = candidacy.take() {
                c.task.abort();
                c.core.release_in_background();
            }
        }
    }
}

/// Follows the line until our node is first, then holds until the leadership ends.
async fn campaign(core: Arc<Core>, base: String, layout: Layout, shared: Weak<Shared>) {
    let won = line(
        &core,
        &base,
        &|siblings: &[crate::support::naming::Sibling], position: usize| {
            let before = siblings[..position].iter().rev().find(|s| {
                // kazoo's Election is its Lock: only `__lock__` nodes count.
                layout != Layout::Kazoo || layout.is_named(&s.name, candidate_name(layout))
            });
            match before {
                None => Turn::Granted,
                Some(s) => Turn::WaitFor(s.name.clone()),
            }
        },
    )
    .await;
    if matches!(won, Ok(true)) && core.lost_reason().is_none() {
        core.hold(None);
        if let Some(shared) = shared.upgrade() {
            shared.status.send_if_modified(|s| match s {
                Status::Candidate(c) if Arc::ptr_eq(c, &core) => {
                    *s = Status::Leader(Arc::clone(&core));
                    true
                }
                _ => false,
            });
        }
        core.signal().wait().await;
    } else {
        // Lost while waiting, or the client stopped: leave the election.
        core.release_in_background();
    }
    if let Some(shared) = shared.upgrade() {
        set_idle_if(&shared, &core);
    }
}

/// The recipe's part of a candidate node's name in `layout`.
fn candidate_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Curator => "latch-",
        Layout::Kazoo => "__lock__",
        Layout::Aiozk => "candidate",
    }
}

fn set_idle_if(shared: &Shared, core: &Arc<Core>) {
    shared.status.send_if_modified(|s| match s {
        Status::Candidate(c) | Status::Leader(c) if Arc::ptr_eq(c, core) => {
            *s = Status::Idle;
            true
        }
        _ => false,
    });
}

/// The leadership of a [`LeaderElection`], from [`LeaderElection::wait_for_leadership`].
///
/// A view: dropping it does not resign (use [`LeaderElection::resign`]).
#[derive(Debug, Clone)]
pub struct Leadership {
    core: Arc<Core>,
}

impl Leadership {
    /// The path of our candidate node.
    pub fn node(&self) -> &str {
        self.core.node()
    }

    /// The zxid that created our candidate node: larger for every later leader, a
    /// fencing token (see [`crate::OwnershipGuard::czxid`]).
    pub fn czxid(&self) -> i64 {
        self.core.czxid()
    }

    /// Fires when the leadership ends; see [`LostSignal`].
    pub fn lost(&self) -> LostSignal {
        self.core.signal()
    }

    /// Why the leadership ended, or `None` while it lasts.
    pub fn lost_reason(&self) -> Option<LossReason> {
        self.core.lost_reason()
    }

    /// True while the leadership lasts, as far as this process can tell right now.
    pub fn is_held(&self) -> bool {
        self.core.is_held()
    }

    /// Writes that succeed only while our candidate node exists; see [`Fence`].
    pub fn fence(&self) -> Fence {
        self.core.fence()
    }

    /// Same as `self.fence().transaction()`.
    pub fn transaction(&self) -> Transaction {
        self.core.fence().transaction()
    }
}
