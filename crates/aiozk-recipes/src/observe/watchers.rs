//! `DataWatcher` and `ChildrenWatcher`: streams of a node's current data or children.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use aiozk::{Client, Error, EventType, OneshotWatcher, Result, SessionState, Stat};
use bytes::Bytes;
use tokio::sync::mpsc;

use crate::support::across_expiry::{persist, SessionWatch};
use crate::support::task::TaskGuard;

/// How many states may wait in a watcher's stream before the watcher pauses. While it is
/// paused it does not read; once there is room it reads the then current state, so a slow
/// consumer sees fewer intermediate states but always the latest one.
const BUFFER: usize = 16;

/// Options of [`DataWatcher`] and [`ChildrenWatcher`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WatcherOptions {
    /// Keep watching while the node does not exist, and report it when it is created
    /// (aiozk's `wait_for_create`). When false (the default, as in aiozk), the stream ends
    /// right after reporting that the node does not exist.
    pub wait_for_create: bool,
}

/// A node's data as reported by [`DataWatcher`]: both fields are `None` when the node does
/// not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeData {
    /// The data (empty for null data, see `null_data`), or `None` if the node is missing.
    pub data: Option<Bytes>,
    /// The node's Stat, or `None` if the node is missing.
    pub stat: Option<Stat>,
    /// True when the node exists and holds null data (it was created or set without data,
    /// see [`aiozk::Client::get_data_opt`]); `data` is then empty.
    pub null_data: bool,
}

impl NodeData {
    /// True when the node exists.
    pub fn exists(&self) -> bool {
        self.stat.is_some()
    }
}

/// A node's children as reported by [`ChildrenWatcher`]: both fields are `None` when the
/// node does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeChildren {
    /// The children's names, sorted, or `None` if the node is missing.
    pub children: Option<Vec<String>>,
    /// The node's Stat as of the read, or `None` if the node is missing.
    pub stat: Option<Stat>,
}

impl NodeChildren {
    /// True when the node exists.
    pub fn exists(&self) -> bool {
        self.stat.is_some()
    }
}

/// Watches one node's data: yields its data at start and after every change.
///
/// # Znode layout
/// None: it only reads `path`.
///
/// # Guarantees
/// * The first item is the state at start; then an item follows every observed change
///   (data set, node deleted, node created when [`WatcherOptions::wait_for_create`]).
/// * Consecutive items always differ: the same version of the node (same creation and
///   modification zxid) is never reported twice in a row, whatever caused the re-read.
/// * Changes that follow each other quickly may be coalesced (ZooKeeper watches fire once;
///   the watcher then reads the current state), but the last state is always delivered.
///
/// # Connection loss and session expiry
/// The watch survives reconnects (the client re-registers it and the server reports
/// changes missed meanwhile); in addition the watcher re-reads the node after every
/// reconnect and after a new session, and reports the state if it differs from the last
/// one reported. So the final state reached during an outage is delivered once the client
/// is back. Errors that persist (no read permission, client closed) are yielded once, and
/// the stream then ends.
///
/// # Cancellation safety
/// [`DataWatcher::next`] is cancel safe. Dropping the watcher stops it.
///
/// # Examples
/// ```no_run
/// # async fn f(client: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::{DataWatcher, WatcherOptions};
/// let options = WatcherOptions { wait_for_create: true };
/// let mut watcher = DataWatcher::with_options(&client, "/config", options);
/// while let Some(state) = watcher.next().await {
///     println!("config is now {:?}", state?.data);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct DataWatcher {
    path: String,
    rx: mpsc::Receiver<Result<NodeData>>,
    _task: TaskGuard,
}

impl DataWatcher {
    /// Starts watching `path` with default options (the stream ends once the node is
    /// missing). Must be called within a tokio runtime.
    pub fn new(client: &Client, path: &str) -> Self {
        Self::with_options(client, path, WatcherOptions::default())
    }

    /// Starts watching `path`. Must be called within a tokio runtime.
    pub fn with_options(client: &Client, path: &str, options: WatcherOptions) -> Self {
        let (tx, rx) = mpsc::channel(BUFFER);
        let task = tokio::spawn(watch_loop(
            client.clone(),
            path.to_owned(),
            options,
            tx,
            read_data,
            |d: &NodeData| d.stat.map(|s| (s.czxid, s.mzxid)),
        ));
        Self {
            path: path.to_owned(),
            rx,
            _task: TaskGuard(task),
        }
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next state, or `None` once the watcher has stopped.
    ///
    /// # Errors
    /// A read that failed for good ([`Error::NoAuth`], [`Error::Closed`], an invalid path,
    /// [`Error::SessionExpired`] when the client does not reconnect after expiry); the
    /// stream ends after it.
    ///
    /// # Cancellation safety
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<Result<NodeData>> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for DataWatcher {
    type Item = Result<NodeData>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Watches one node's children: yields the sorted list at start and after every change.
///
/// # Znode layout
/// None: it only reads `path`.
///
/// # Guarantees
/// As for [`DataWatcher`]; two consecutive items never have the same children (a child
/// added and removed again between two reads is not reported).
///
/// # Connection loss and session expiry
/// As for [`DataWatcher`]: the children are re-read after every reconnect and new session.
///
/// # Cancellation safety
/// [`ChildrenWatcher::next`] is cancel safe. Dropping the watcher stops it.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::ChildrenWatcher;
///
/// let mut watcher = ChildrenWatcher::new(&zk, "/workers");
/// while let Some(state) = watcher.next().await {
///     let workers = state?.children.unwrap_or_default();
///     println!("{} workers: {workers:?}", workers.len());
/// }
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct ChildrenWatcher {
    path: String,
    rx: mpsc::Receiver<Result<NodeChildren>>,
    _task: TaskGuard,
}

impl ChildrenWatcher {
    /// Starts watching the children of `path` with default options (the stream ends once
    /// the node is missing). Must be called within a tokio runtime.
    pub fn new(client: &Client, path: &str) -> Self {
        Self::with_options(client, path, WatcherOptions::default())
    }

    /// Starts watching the children of `path`. Must be called within a tokio runtime.
    pub fn with_options(client: &Client, path: &str, options: WatcherOptions) -> Self {
        let (tx, rx) = mpsc::channel(BUFFER);
        let task = tokio::spawn(watch_loop(
            client.clone(),
            path.to_owned(),
            options,
            tx,
            read_children,
            |c: &NodeChildren| c.children.clone(),
        ));
        Self {
            path: path.to_owned(),
            rx,
            _task: TaskGuard(task),
        }
    }

    /// The watched path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The next children list, or `None` once the watcher has stopped.
    ///
    /// # Errors
    /// As for [`DataWatcher::next`].
    ///
    /// # Cancellation safety
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<Result<NodeChildren>> {
        self.rx.recv().await
    }
}

impl futures_core::Stream for ChildrenWatcher {
    type Item = Result<NodeChildren>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

/// Something a watcher reports: whether it says the node is missing.
trait Observed {
    fn missing(&self) -> bool;
}

impl Observed for NodeData {
    fn missing(&self) -> bool {
        !self.exists()
    }
}

impl Observed for NodeChildren {
    fn missing(&self) -> bool {
        !self.exists()
    }
}

/// The loop shared by both watchers: read and arm a one-shot watch, report the state if it
/// differs from the last one, then wait for the watch or a reconnect.
async fn watch_loop<I, K, F, Fut>(
    client: Client,
    path: String,
    options: WatcherOptions,
    tx: mpsc::Sender<Result<I>>,
    read: F,
    key: impl Fn(&I) -> K + Send,
) where
    I: Observed + Send,
    K: PartialEq + Send,
    F: Fn(Client, String) -> Fut + Send,
    Fut: Future<Output = Result<(I, OneshotWatcher)>> + Send,
{
    // Subscribed before the first read, so no reconnect after it goes unnoticed.
    let mut session = SessionWatch::new(&client);
    let mut last: Option<K> = None;
    loop {
        let (item, watcher) = match persist(&client, || read(client.clone(), path.clone())).await {
            Ok(v) => v,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let missing = item.missing();
        let k = key(&item);
        if last.as_ref() != Some(&k) {
            last = Some(k);
            if tx.send(Ok(item)).await.is_err() {
                return;
            }
        }
        if missing && !options.wait_for_create {
            return;
        }
        tokio::select! {
            ev = watcher => {
                if ev.event_type == EventType::None && ev.state == SessionState::Closed {
                    let _ = tx.send(Err(Error::Closed)).await;
                    return;
                }
            }
            r = session.next() => {
                if r.is_none() {
                    // The client stopped; the next read reports why.
                    continue;
                }
            }
            () = tx.closed() => return,
        }
    }
}

/// The node's data with a data watch, or its absence with an exist watch.
async fn read_data(client: Client, path: String) -> Result<(NodeData, OneshotWatcher)> {
    loop {
        match client.get_data_opt_watched(&path).await {
            Ok((data, stat, w)) => {
                return Ok((
                    NodeData {
                        null_data: data.is_none(),
                        data: Some(data.unwrap_or_default()),
                        stat: Some(stat),
                    },
                    w,
                ))
            }
            Err(Error::NoNode) => match client.exists_watched(&path).await? {
                (None, w) => {
                    return Ok((
                        NodeData {
                            data: None,
                            stat: None,
                            null_data: false,
                        },
                        w,
                    ))
                }
                // Created between the two reads: read it.
                (Some(_), _) => continue,
            },
            Err(e) => return Err(e),
        }
    }
}

/// The node's sorted children with a child watch, or its absence with an exist watch.
async fn read_children(client: Client, path: String) -> Result<(NodeChildren, OneshotWatcher)> {
    loop {
        match client.get_children_watched(&path).await {
            Ok((mut children, stat, w)) => {
                children.sort();
                return Ok((
                    NodeChildren {
                        children: Some(children),
                        stat: Some(stat),
                    },
                    w,
                ));
            }
            Err(Error::NoNode) => match client.exists_watched(&path).await? {
                (None, w) => {
                    return Ok((
                        NodeChildren {
                            children: None,
                            stat: None,
                        },
                        w,
                    ))
                }
                (Some(_), _) => continue,
            },
            Err(e) => return Err(e),
        }
    }
}
