//! Exclusive and shared (read/write) locks.

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use aiozk::{Client, Error, Result};
use tokio::time::Instant;

use super::guard::OwnershipGuard;
use super::node::Core;
use super::waiting::{wait_in_line, Turn};
use crate::Layout;

/// Proof that a [`Lock`] is held; releases it when dropped. See [`OwnershipGuard`].
pub type LockGuard = OwnershipGuard;

/// A fair, exclusive lock (aiozk's `Lock`).
///
/// # Layout
/// Each contender creates an ephemeral sequential node
/// `<path>/<label>-<guid>-<10-digit sequence>` (label `lock` by default, guid a fresh
/// uuid4 in hex for every acquisition). Contenders are served in sequence order: a
/// contender holds the lock when no earlier node is *blocking* it, that is, no earlier
/// node at all, or with [`Lock::blocked_by`], no earlier node with one of those labels.
/// It waits for the deletion of the closest earlier blocking node only (no herd effect).
/// This is aiozk's layout and rule, so Python aiozk processes and this crate exclude each
/// other on the same path.
///
/// With [`Lock::with_layout`] the lock uses a foreign library's layout instead, and
/// excludes that library's lock on the same path:
///
/// | layout | node | data | blocked by earlier |
/// |---|---|---|---|
/// | [`Layout::Aiozk`] | `<label>-<guid>-<seq>` | empty | any node |
/// | [`Layout::Curator`] (`InterProcessMutex`) | `_c_<uuid>-lock-<seq>` | the local address | any node |
/// | [`Layout::Kazoo`] (`Lock`) | `<uuid hex>__lock__<seq>` | the identifier ([`Lock::with_data`]) | `__lock__` node |
///
/// # Connection loss and session expiry
/// Reads are retried after a connection loss. The sequential create is not repeated
/// blindly: after a lost reply we look for our guid among the children first, so no
/// duplicate node can block us. If the session expires while waiting, the acquisition
/// starts again with a new node. Once held, see [`OwnershipGuard::lost`].
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use std::time::Duration;
/// use aiozk_recipes::Lock;
///
/// let lock = Lock::new(&zk, "/locks/nightly-report");
/// let guard = lock.acquire(Some(Duration::from_secs(10))).await?;
/// // Writes fenced by the lock fail once it is lost, whatever this process believes.
/// guard.fence().set_data("/reports/state", b"running", None).await?;
/// tokio::select! {
///     reason = guard.lost() => eprintln!("lock lost ({reason:?}): stop"),
///     () = async { /* the work */ } => {}
/// }
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Lock {
    client: Client,
    base: String,
    layout: Layout,
    label: Option<String>,
    data: Option<Vec<u8>>,
    blocked_by: Option<Vec<String>>,
    held: Arc<Mutex<Vec<Weak<Core>>>>,
}

impl Lock {
    /// A lock on `path` (the parent of the contenders' nodes; created when missing).
    pub fn new(client: &Client, path: &str) -> Self {
        Self {
            client: client.clone(),
            base: normalize(path),
            layout: Layout::Aiozk,
            label: None,
            data: None,
            blocked_by: None,
            held: Arc::default(),
        }
    }

    /// Uses `layout`'s node names and rules (see the table above); by default aiozk's.
    pub fn with_layout(mut self, layout: Layout) -> Self {
        self.layout = layout;
        self
    }

    /// Uses `label` for this lock's nodes instead of the layout's: `lock` (aiozk's
    /// `znode_label`), Curator's lock name `lock-`, kazoo's node name `__lock__`.
    pub fn with_label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    /// Writes `data` into each contender's node (kazoo's `identifier`); by default the
    /// layout's: nothing, or for Curator the local address.
    pub fn with_data(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// The lock's layout.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Waits only for earlier nodes with one of these labels (aiozk's `blocked_by`);
    /// by default every earlier node blocks, or in kazoo's layout every earlier node
    /// with this lock's label.
    pub fn blocked_by<I, S>(mut self, labels: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.blocked_by = Some(labels.into_iter().map(Into::into).collect());
        self
    }

    /// The lock's path.
    pub fn path(&self) -> &str {
        &self.base
    }

    /// The label of this lock's nodes.
    pub fn label(&self) -> &str {
        match (&self.label, self.layout) {
            (Some(label), _) => label,
            (None, Layout::Curator) => "lock-",
            (None, Layout::Kazoo) => "__lock__",
            (None, _) => "lock",
        }
    }

    /// Waits until the lock is held, at most `timeout` (`None`: no limit).
    ///
    /// Each call is a separate contender, even on the same `Lock`: a second `acquire`
    /// while a guard of this `Lock` is alive waits for that guard (the lock is not
    /// re-entrant).
    ///
    /// # Errors
    /// [`Error::Timeout`] when the timeout passed first (our node is deleted);
    /// [`Error::InvalidArgument`] for a label that is empty or holds a `/`;
    /// [`Error::Closed`] when the client is closed; [`Error::SessionExpired`] when the
    /// session expired and the client opens no new one; lasting server errors such as
    /// [`Error::NoAuth`].
    ///
    /// # Cancellation safety
    /// Dropping the future before it completes withdraws from the line: our node is
    /// deleted (found by its guid if its create had not been answered yet).
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        let label = self.label();
        check_label(label)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        let layout = self.layout;
        let blocked_by = match (&self.blocked_by, layout) {
            (Some(labels), _) => Some(labels.clone()),
            (None, Layout::Kazoo) => Some(vec![label.to_owned()]),
            (None, _) => None,
        };
        let data = self.data.clone().unwrap_or_else(|| layout.default_data());
        let queued = wait_in_line(
            || layout.core(&self.client, &self.base, layout.prefix(label)),
            &data,
            &self.base,
            move |siblings, position| {
                let blocker = siblings[..position]
                    .iter()
                    .rev()
                    .find(|s| match &blocked_by {
                        Some(labels) => labels.iter().any(|l| layout.is_named(&s.name, l)),
                        None => true,
                    });
                match blocker {
                    Some(s) => Turn::WaitFor(s.name.clone()),
                    None => Turn::Granted,
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
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.retain(|w| w.upgrade().is_some_and(|c| c.lost_reason().is_none()));
        held.push(Arc::downgrade(&core));
        Ok(OwnershipGuard::new(core, None))
    }

    /// Releases every lock held through this `Lock` (and its clones) and waits for the
    /// nodes to be deleted; their guards become inert. Does nothing when none is held.
    ///
    /// # Errors
    /// The first lasting error of a delete, such as [`Error::NoAuth`].
    ///
    /// # Cancellation safety
    /// The first poll ends every such lock and queues the deletes of their nodes;
    /// dropping the future afterwards only abandons the retries after a connection loss.
    pub async fn release(&self) -> Result<()> {
        let cores: Vec<Arc<Core>> = {
            let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
            held.drain(..).filter_map(|w| w.upgrade()).collect()
        };
        // Every release is started (ended, delete queued) before any is awaited.
        let releases: Vec<_> = cores.iter().map(|c| c.release()).collect();
        let mut result = Ok(());
        for release in releases {
            if let Err(e) = release.await {
                result = result.and(Err(e));
            }
        }
        result
    }

    /// True while a guard of this `Lock` (or a clone) holds the lock, as far as this
    /// process can tell (aiozk's `locked()`).
    pub fn is_held(&self) -> bool {
        let held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        held.iter()
            .any(|w| w.upgrade().is_some_and(|c| c.is_held()))
    }
}

/// A read/write lock (aiozk's `SharedLock`): readers share it, writers are exclusive.
///
/// Two [`Lock`]s on one path: readers use the label `read` and are blocked only by earlier
/// `write` nodes; writers use `write` and are blocked by every earlier node. A reader that
/// arrives after a waiting writer queues behind it, so writers are not starved.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::SharedLock;
///
/// let lock = SharedLock::new(&zk, "/locks/catalog");
/// {
///     // Many readers at once; a writer waits for them, and they wait for an earlier writer.
///     let _reading = lock.acquire_read(None).await?;
///     let (catalog, _stat) = zk.get_data("/catalog").await?;
///     println!("{} bytes", catalog.len());
/// }
/// let writing = lock.acquire_write(None).await?;
/// writing.fence().set_data("/catalog", b"v2", None).await?;
/// writing.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SharedLock {
    reader: Lock,
    writer: Lock,
}

impl SharedLock {
    /// A read/write lock on `path`.
    pub fn new(client: &Client, path: &str) -> Self {
        Self::with_layout(client, path, Layout::Aiozk)
    }

    /// A read/write lock on `path` in `layout`:
    ///
    /// | layout | readers | writers |
    /// |---|---|---|
    /// | [`Layout::Aiozk`] | `read-<guid>-<seq>` | `write-<guid>-<seq>` |
    /// | [`Layout::Curator`] (`InterProcessReadWriteLock`) | `_c_<uuid>-__READ__<seq>` | `_c_<uuid>-__WRIT__<seq>` |
    /// | [`Layout::Kazoo`] (`ReadLock`, `WriteLock`) | `<uuid hex>__rlock__<seq>` | `<uuid hex>__lock__<seq>` |
    ///
    /// In each, readers are blocked by earlier writers, and writers by every earlier node
    /// (in kazoo's, every earlier reader or writer).
    pub fn with_layout(client: &Client, path: &str, layout: Layout) -> Self {
        let (read, write) = match layout {
            Layout::Curator => ("__READ__", "__WRIT__"),
            Layout::Kazoo => ("__rlock__", "__lock__"),
            Layout::Aiozk => ("read", "write"),
        };
        let lock = Lock::new(client, path).with_layout(layout);
        let mut writer = lock.clone().with_label(write);
        if layout == Layout::Kazoo {
            writer = writer.blocked_by([write, read]);
        }
        Self {
            reader: lock.with_label(read).blocked_by([write]),
            writer,
        }
    }

    /// The readers' lock (aiozk's `reader_lock`).
    pub fn reader_lock(&self) -> &Lock {
        &self.reader
    }

    /// The writers' lock (aiozk's `writer_lock`).
    pub fn writer_lock(&self) -> &Lock {
        &self.writer
    }

    /// Acquires a read lock; see [`Lock::acquire`].
    ///
    /// # Errors
    /// As for [`Lock::acquire`].
    ///
    /// # Cancellation safety
    /// As for [`Lock::acquire`].
    pub async fn acquire_read(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.reader.acquire(timeout).await
    }

    /// Acquires the write lock; see [`Lock::acquire`].
    ///
    /// # Errors
    /// As for [`Lock::acquire`].
    ///
    /// # Cancellation safety
    /// As for [`Lock::acquire`].
    pub async fn acquire_write(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.writer.acquire(timeout).await
    }
}

/// `path` without a trailing slash (except for the root).
pub(crate) fn normalize(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        "/".to_owned()
    } else {
        trimmed.to_owned()
    }
}

/// aiozk refuses a `/` in a label; an empty label would make names ambiguous.
pub(crate) fn check_label(label: &str) -> Result<()> {
    if label.is_empty() || label.contains('/') {
        return Err(Error::InvalidArgument(format!(
            "invalid node label {label:?}: it must be non-empty and hold no '/'"
        )));
    }
    Ok(())
}
