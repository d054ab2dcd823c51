//! `TreeCache`: a live, in-memory mirror of a subtree.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::task::Poll;
use std::time::{Duration, Instant};

use aiozk::{
    Client, Error, EventKind, EventType, KnownNodes, OneshotWatcher, PersistentWatcher, Result,
    SessionState, Stat, WatchedEvent,
};
use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::util::{
    is_transient, join, parent_of, persist, wait_usable, Reconnect, SessionWatch, TaskGuard,
};

/// How many reads are in flight at once during a load or a resynchronisation.
const PIPELINE: usize = 512;
/// Capacity of the event channel; a subscriber that falls further behind gets
/// [`TreeEvent::Lagged`].
const EVENT_CAPACITY: usize = 4096;

/// One cached node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEntry {
    /// The node's data (empty for null data).
    pub data: Bytes,
    /// The node's Stat.
    pub stat: Stat,
    /// True when the node holds null data (it was created or set without data, see
    /// [`aiozk::Client::get_data_opt`]); `data` is then empty.
    pub null_data: bool,
}

/// A change of a [`TreeCache`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TreeEvent {
    /// The initial load finished.
    Initialized,
    /// A node appeared in the cache.
    Added(String),
    /// A node's data or Stat changed.
    Updated(String),
    /// A node left the cache.
    Removed(String),
    /// The cache compared itself with the server after a reconnect or a new session.
    Resynced(ResyncReport),
    /// This subscriber missed this many events; read the cache again.
    Lagged(u64),
    /// The cache stopped following the server (client closed, authentication failed, …).
    Stopped(Error),
}

/// How a [`TreeCache`] learns about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWatchMode {
    /// One persistent recursive watch on the root (ZooKeeper 3.6+).
    PersistentRecursive,
    /// A one-shot data watch and child watch per node (older servers).
    OneShot,
}

/// Options of [`TreeCache::start_with`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeCacheOptions {
    /// Use one-shot watches even when the server supports persistent ones.
    pub force_oneshot_watches: bool,
}

/// What one resynchronisation cost and found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResyncReport {
    /// Nodes in the cache when it started.
    pub known: u64,
    /// `exists` calls (Stat only, no data).
    pub stat_reads: u64,
    /// `get_data` calls.
    pub data_reads: u64,
    /// `get_children` calls.
    pub children_reads: u64,
    /// Nodes added, updated and removed.
    pub changed: u64,
    /// How long it took.
    pub took: Duration,
}

/// Counters of a [`TreeCache`], for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TreeCacheStats {
    /// `get_data` calls made so far.
    pub data_reads: u64,
    /// `get_children` calls made so far.
    pub children_reads: u64,
    /// `exists` calls made so far.
    pub stat_reads: u64,
    /// Watch events received.
    pub events: u64,
    /// Resynchronisations done.
    pub resyncs: u64,
    /// The last resynchronisation, if any.
    pub last_resync: Option<ResyncReport>,
}

impl TreeCacheStats {
    /// Every read request made: data, children and Stat reads.
    pub fn reads(&self) -> u64 {
        self.data_reads + self.children_reads + self.stat_reads
    }
}

/// A live mirror of the subtree under a root path: a map from path to data and Stat, with
/// a stream of changes (aiozk's `TreeCache`).
///
/// # Znode layout
/// None of its own: it only reads the subtree (the root included). The root need not
/// exist; it is mirrored when it appears.
///
/// # How it follows the server
/// With ZooKeeper 3.6+ it adds **one persistent recursive watch** on the root, then loads
/// the subtree (get_data for every node, get_children only for nodes that have children).
/// Each event triggers a read of the node concerned (and of its parent, whose Stat changes
/// when a child comes or goes). When `add_watch` fails with [`Error::Unimplemented`] (an
/// older server), or when asked to, it falls back to one-shot data and child watches on
/// every node.
///
/// # Guarantees
/// Once the server stops changing and the client is connected, the cache converges to the
/// server's subtree: same paths, same data, same Stats. Reads are applied in the order
/// they were answered, each after the events that caused it, so a stale read never
/// overwrites a newer one. The cache is eventually consistent, not a snapshot: while
/// changes are being applied, parts of it may be newer than others.
///
/// # Connection loss and session expiry
/// The watch knows the cached nodes ([`Client::add_watch_with_known_nodes`]): after every
/// reconnect, and after a new session (the client carries the watch over), the client's
/// re-registration asks the server which of them changed since the last zxid seen, and the
/// server reports only those. The cache then re-reads the data of the nodes that changed,
/// lists the children of the nodes whose children were created or deleted, drops the nodes
/// deleted and loads the subtrees that appeared: no read per unchanged node, and one read
/// of the root to learn that the report is complete. A 10,000-node cache with 10 nodes
/// changed during a cut resynchronises with 11 reads ([`TreeCache::stats`] counts them;
/// [`TreeEvent::Resynced`] reports each pass). Only when its event stream lagged, or the
/// watch had to be added again, does it compare the Stat of every node. In one-shot mode
/// the client's own watch re-registration reports missed changes after a reconnect; after
/// a new session every node is read again.
///
/// # Caveat (servers before 3.9)
/// A one-shot watch set by the same client on the root path itself (for example a
/// [`DataWatcher`](crate::DataWatcher) on the root, sharing this client) replaces the
/// server's recursive watch mode for that path (ZOOKEEPER-4466), and the cache stops
/// receiving events. Use another client for such watchers.
///
/// # Cancellation safety
/// Dropping [`TreeCache::start`] before it returns leaves nothing behind. Dropping the
/// cache stops it and removes its watch.
#[derive(Debug)]
pub struct TreeCache {
    root: String,
    shared: Arc<Shared>,
    events: broadcast::Sender<TreeEvent>,
    mode: CacheWatchMode,
    _task: TaskGuard,
}

/// A subscription to a [`TreeCache`]'s changes.
#[derive(Debug)]
pub struct TreeEvents {
    rx: broadcast::Receiver<TreeEvent>,
}

impl TreeEvents {
    /// The next change, or `None` once the cache is gone.
    ///
    /// # Cancellation safety
    /// Cancel safe.
    pub async fn next(&mut self) -> Option<TreeEvent> {
        match self.rx.recv().await {
            Ok(ev) => Some(ev),
            Err(broadcast::error::RecvError::Lagged(n)) => Some(TreeEvent::Lagged(n)),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    nodes: RwLock<BTreeMap<String, NodeEntry>>,
    data_reads: AtomicU64,
    children_reads: AtomicU64,
    stat_reads: AtomicU64,
    events: AtomicU64,
    resyncs: AtomicU64,
    last_resync: Mutex<Option<ResyncReport>>,
}

impl TreeCache {
    /// Starts mirroring the subtree at `root` and returns once the initial load is done.
    /// Must be called within a tokio runtime.
    ///
    /// # Errors
    /// Errors of the initial load that end the session ([`Error::Closed`], …).
    pub async fn start(client: &Client, root: &str) -> Result<TreeCache> {
        Self::start_with(client, root, TreeCacheOptions::default()).await
    }

    /// [`TreeCache::start`] with options.
    ///
    /// # Errors
    /// As for [`TreeCache::start`].
    pub async fn start_with(
        client: &Client,
        root: &str,
        options: TreeCacheOptions,
    ) -> Result<TreeCache> {
        let shared = Arc::new(Shared::default());
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let mut state = Follower {
            client: client.clone(),
            root: root.to_owned(),
            shared: shared.clone(),
            events: events.clone(),
            session: SessionWatch::new(client),
            watch: None,
            synced: Mutex::new(HashMap::new()),
            oneshots: JoinSet::new(),
            data_armed: HashSet::new(),
            child_armed: HashSet::new(),
        };
        let mode = if options.force_oneshot_watches {
            CacheWatchMode::OneShot
        } else {
            match state.add_watch().await {
                Ok(()) => CacheWatchMode::PersistentRecursive,
                Err(Error::Unimplemented) => CacheWatchMode::OneShot,
                Err(e) => return Err(e),
            }
        };
        match mode {
            CacheWatchMode::PersistentRecursive => {
                state.load(vec![root.to_owned()]).await?;
            }
            CacheWatchMode::OneShot => state.load_oneshot(vec![root.to_owned()]).await?,
        }
        let _ = events.send(TreeEvent::Initialized);
        let task = tokio::spawn(async move {
            let result = match mode {
                CacheWatchMode::PersistentRecursive => state.follow_persistent().await,
                CacheWatchMode::OneShot => state.follow_oneshot().await,
            };
            if let Err(e) = result {
                let _ = state.events.send(TreeEvent::Stopped(e));
            }
        });
        Ok(TreeCache {
            root: root.to_owned(),
            shared,
            events,
            mode,
            _task: TaskGuard(task),
        })
    }

    /// The mirrored root path.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// How the cache follows the server.
    pub fn mode(&self) -> CacheWatchMode {
        self.mode
    }

    /// The cached node at `path`.
    pub fn get(&self, path: &str) -> Option<NodeEntry> {
        self.shared.read().get(path).cloned()
    }

    /// The cached data of `path`.
    pub fn data(&self, path: &str) -> Option<Bytes> {
        self.shared.read().get(path).map(|e| e.data.clone())
    }

    /// The names of the cached children of `path`, sorted.
    pub fn children(&self, path: &str) -> Vec<String> {
        let nodes = self.shared.read();
        let prefix = join(path, "");
        nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| !p[prefix.len()..].contains('/') && p.len() > prefix.len())
            .map(|(p, _)| p[prefix.len()..].to_owned())
            .collect()
    }

    /// A copy of the whole cache, by path.
    pub fn snapshot(&self) -> BTreeMap<String, NodeEntry> {
        self.shared.read().clone()
    }

    /// The number of cached nodes.
    pub fn len(&self) -> usize {
        self.shared.read().len()
    }

    /// True when no node is cached (the root does not exist).
    pub fn is_empty(&self) -> bool {
        self.shared.read().is_empty()
    }

    /// Subscribes to the changes made from now on.
    pub fn events(&self) -> TreeEvents {
        TreeEvents {
            rx: self.events.subscribe(),
        }
    }

    /// Read counters.
    pub fn stats(&self) -> TreeCacheStats {
        let s = &self.shared;
        TreeCacheStats {
            data_reads: s.data_reads.load(Ordering::Relaxed),
            children_reads: s.children_reads.load(Ordering::Relaxed),
            stat_reads: s.stat_reads.load(Ordering::Relaxed),
            events: s.events.load(Ordering::Relaxed),
            resyncs: s.resyncs.load(Ordering::Relaxed),
            last_resync: *s.last_resync.lock().unwrap_or_else(|e| e.into_inner()),
        }
    }

    /// Stops following the server and drops its watch.
    pub fn stop(self) {}
}

impl Shared {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, NodeEntry>> {
        self.nodes.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, NodeEntry>> {
        self.nodes.write().unwrap_or_else(|e| e.into_inner())
    }
}

type Read<T> = Pin<Box<dyn Future<Output = Result<Option<T>>> + Send>>;

/// Which one-shot watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Data,
    Child,
    /// An exist watch on the missing root.
    Exist,
}

/// The task that keeps the cache in step with the server.
struct Follower {
    client: Client,
    root: String,
    shared: Arc<Shared>,
    events: broadcast::Sender<TreeEvent>,
    session: SessionWatch,
    /// The persistent recursive watch (persistent mode), `None` when it must be added again.
    watch: Option<PersistentWatcher>,
    /// Persistent mode: for each node, the child zxid (pzxid) as of which its cached
    /// children are known to be complete. A Stat read alone does not prove that: the
    /// events of children created while the connection was down are never sent.
    synced: Mutex<HashMap<String, i64>>,
    /// One-shot mode: the armed watches.
    oneshots: JoinSet<(Kind, String, WatchedEvent)>,
    data_armed: HashSet<String>,
    child_armed: HashSet<String>,
}

impl Follower {
    // ---------------------------------------------------------------- reads

    /// get_data, queued now; `None` for a missing (or unreadable) node.
    fn data(&self, path: &str) -> Read<(Option<Bytes>, Stat)> {
        self.shared.data_reads.fetch_add(1, Ordering::Relaxed);
        let first = self.client.get_data_opt(path);
        let (client, shared, path) = (self.client.clone(), self.shared.clone(), path.to_owned());
        Box::pin(async move {
            let r = match first.await {
                Err(e) if is_transient(&e) => {
                    persist(&client, || {
                        shared.data_reads.fetch_add(1, Ordering::Relaxed);
                        client.get_data_opt(&path)
                    })
                    .await
                }
                r => r,
            };
            missing_is_none(r)
        })
    }

    /// get_children with the parent's Stat (one atomic read), queued now.
    fn children(&self, path: &str) -> Read<(Vec<String>, Stat)> {
        self.shared.children_reads.fetch_add(1, Ordering::Relaxed);
        let first = self.client.get_children_stat(path);
        let (client, shared, path) = (self.client.clone(), self.shared.clone(), path.to_owned());
        Box::pin(async move {
            let r = match first.await {
                Err(e) if is_transient(&e) => {
                    persist(&client, || {
                        shared.children_reads.fetch_add(1, Ordering::Relaxed);
                        client.get_children_stat(&path)
                    })
                    .await
                }
                r => r,
            };
            missing_is_none(r)
        })
    }

    /// exists, queued now.
    fn stat(&self, path: &str) -> Read<Stat> {
        self.shared.stat_reads.fetch_add(1, Ordering::Relaxed);
        let first = self.client.exists(path);
        let (client, shared, path) = (self.client.clone(), self.shared.clone(), path.to_owned());
        Box::pin(async move {
            let r = match first.await {
                Err(e) if is_transient(&e) => {
                    persist(&client, || {
                        shared.stat_reads.fetch_add(1, Ordering::Relaxed);
                        client.exists(&path)
                    })
                    .await
                }
                r => r,
            };
            match r {
                Ok(s) => Ok(s),
                Err(Error::NoAuth) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Issues `read` for every path, at most [`PIPELINE`] at a time, and returns the results
    /// in order.
    async fn pipelined<T>(
        &self,
        paths: &[String],
        read: impl Fn(&Self, &str) -> Read<T>,
    ) -> Result<Vec<Option<T>>> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(PIPELINE) {
            let futs: Vec<_> = chunk.iter().map(|p| read(self, p)).collect();
            for f in futs {
                out.push(f.await?);
            }
        }
        Ok(out)
    }

    // ---------------------------------------------------------------- cache updates

    fn emit(&self, ev: TreeEvent) {
        let _ = self.events.send(ev);
    }

    /// Stores a node (`None`: null data); returns whether anything changed.
    fn upsert(&self, path: &str, data: Option<Bytes>, stat: Stat) -> bool {
        let entry = NodeEntry {
            null_data: data.is_none(),
            data: data.unwrap_or_default(),
            stat,
        };
        let previous = self.shared.write().insert(path.to_owned(), entry.clone());
        match previous {
            None => {
                self.emit(TreeEvent::Added(path.to_owned()));
                true
            }
            Some(p) if p != entry => {
                self.emit(TreeEvent::Updated(path.to_owned()));
                true
            }
            Some(_) => false,
        }
    }

    /// Replaces a cached node's Stat, keeping its data.
    fn update_stat(&self, path: &str, stat: Stat) -> bool {
        let changed = {
            let mut nodes = self.shared.write();
            match nodes.get_mut(path) {
                Some(e) if e.stat != stat => {
                    e.stat = stat;
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.emit(TreeEvent::Updated(path.to_owned()));
        }
        changed
    }

    /// Removes a node and everything below it; returns how many nodes went.
    fn remove_subtree(&self, path: &str) -> u64 {
        let removed: Vec<String> = {
            let mut nodes = self.shared.write();
            let prefix = join(path, "");
            let mut gone: Vec<String> = nodes
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .filter(|(p, _)| p.as_str() != path)
                .map(|(p, _)| p.clone())
                .collect();
            if nodes.contains_key(path) {
                gone.push(path.to_owned());
            }
            for p in &gone {
                nodes.remove(p);
            }
            gone
        };
        {
            let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
            for p in &removed {
                synced.remove(p);
            }
        }
        // Deepest first, the order in which the server deletes.
        for p in removed.iter().rev() {
            self.emit(TreeEvent::Removed(p.clone()));
        }
        removed.len() as u64
    }

    fn cached_stat(&self, path: &str) -> Option<Stat> {
        self.shared.read().get(path).map(|e| e.stat)
    }

    fn cached_children(&self, path: &str) -> BTreeSet<String> {
        let nodes = self.shared.read();
        let prefix = join(path, "");
        nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, _)| p[prefix.len()..].to_owned())
            .collect()
    }

    /// The parent of `path` if it is inside the mirrored subtree.
    fn parent_inside(&self, path: &str) -> Option<String> {
        if path == self.root {
            return None;
        }
        parent_of(path).map(str::to_owned)
    }

    // ---------------------------------------------------------------- persistent mode

    async fn add_watch(&mut self) -> Result<()> {
        let client = self.client.clone();
        let root = self.root.clone();
        let known: Arc<dyn KnownNodes> = self.shared.clone();
        let watch = persist(&client, || {
            client.add_watch_with_known_nodes(&root, known.clone())
        })
        .await?;
        self.watch = Some(watch);
        Ok(())
    }

    /// Loads the subtrees at `roots` level by level: data of every node, children of the
    /// nodes that have some. Returns the number of nodes added or changed.
    async fn load(&self, roots: Vec<String>) -> Result<u64> {
        let mut changed = 0;
        let mut level = roots;
        while !level.is_empty() {
            let datas = self.pipelined(&level, Self::data).await?;
            let mut parents = Vec::new();
            for (path, read) in level.iter().zip(datas) {
                match read {
                    Some((data, stat)) => {
                        changed += u64::from(self.upsert(path, data, stat));
                        if !self.children_known(path, &stat) {
                            parents.push(path.clone());
                        }
                    }
                    None => changed += self.remove_subtree(path),
                }
            }
            let (more, new) = self.list_children(&parents).await?;
            changed += more;
            level = new;
        }
        Ok(changed)
    }

    /// What a Stat read tells about a node's children: with none, the cached children are
    /// complete as of its pzxid (any cached ones are gone). Returns true when the cached
    /// children are known to be complete.
    fn children_known(&self, path: &str, stat: &Stat) -> bool {
        if stat.num_children == 0 {
            for gone in self.cached_children(path) {
                self.remove_subtree(&join(path, &gone));
            }
            self.set_synced(path, stat.pzxid);
            return true;
        }
        self.synced_at(path) == Some(stat.pzxid)
    }

    fn synced_at(&self, path: &str) -> Option<i64> {
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .copied()
    }

    fn set_synced(&self, path: &str, pzxid: i64) {
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), pzxid);
    }

    /// Lists the children of `parents` (with their Stat, atomically), drops cached children
    /// that are gone, and returns (changes, paths of children not cached yet).
    async fn list_children(&self, parents: &[String]) -> Result<(u64, Vec<String>)> {
        let mut changed = 0;
        let mut new = Vec::new();
        let lists = self.pipelined(parents, Self::children).await?;
        for (parent, list) in parents.iter().zip(lists) {
            let Some((list, stat)) = list else {
                changed += self.remove_subtree(parent);
                continue;
            };
            let now: BTreeSet<String> = list.into_iter().collect();
            let was = self.cached_children(parent);
            for gone in was.difference(&now) {
                changed += self.remove_subtree(&join(parent, gone));
            }
            new.extend(now.difference(&was).map(|c| join(parent, c)));
            self.set_synced(parent, stat.pzxid);
            // The listing's Stat is newer than the cached one; take it unless the data
            // changed too (then a data read is due anyway).
            if self
                .cached_stat(parent)
                .is_some_and(|c| c.mzxid == stat.mzxid)
            {
                changed += u64::from(self.update_stat(parent, stat));
            }
        }
        Ok((changed, new))
    }

    async fn follow_persistent(&mut self) -> Result<()> {
        loop {
            if self.watch.is_none() {
                wait_usable(&self.client).await?;
                self.add_watch().await?;
                self.resync().await?;
            }
            let Some(watch) = self.watch.as_mut() else {
                continue;
            };
            // A reconnection first: its catch-up events are already in the stream once the
            // session reports it, and they belong to the catch-up pass.
            tokio::select! {
                biased;
                r = self.session.next() => match r {
                    Some(Reconnect::Connected { .. }) => self.catch_up().await?,
                    Some(Reconnect::Unknown) => self.resync().await?,
                    None => return Err(stopped(&self.client)),
                },
                ev = watch.next() => match ev {
                    Some(ev) => {
                        let mut batch = vec![ev];
                        drain(watch, &mut batch);
                        if self.apply_events(batch).await?.resync {
                            self.resync().await?;
                        }
                    }
                    None => self.watch = None,
                },
            }
        }
    }

    /// After a reconnect (or a new session): applies what the client's re-registration
    /// reported. Its catch-up events are all in the stream once a request sent after it is
    /// answered: a read of the root.
    async fn catch_up(&mut self) -> Result<()> {
        let started = Instant::now();
        let before = self.counters();
        let known = self.shared.read().len() as u64;
        self.stat(&self.root).await?;
        let mut batch = Vec::new();
        if let Some(watch) = self.watch.as_mut() {
            drain(watch, &mut batch);
        }
        let applied = self.apply_events(batch).await?;
        if applied.resync {
            return self.resync().await;
        }
        self.report(started, before, known, applied.changed);
        Ok(())
    }

    /// Applies a batch of events from the recursive watch.
    async fn apply_events(&mut self, batch: Vec<WatchedEvent>) -> Result<Applied> {
        self.shared
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut applied = Applied::default();
        let mut refresh = BTreeSet::new();
        let mut list = BTreeSet::new();
        let mut roots = Vec::new();
        for ev in batch {
            let catch_up = ev.kind == EventKind::CatchUp;
            match (ev.kind, ev.event_type) {
                (EventKind::Ended, _) => match ev.state {
                    SessionState::Closed => return Err(Error::Closed),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    // Expired for good: the stream ends next.
                    _ => {}
                },
                (EventKind::Resync, _) => applied.resync = true,
                (_, EventType::None) => {}
                (_, EventType::NodeDeleted) => {
                    applied.changed += self.remove_subtree(&ev.path);
                    refresh.remove(&ev.path);
                    list.remove(&ev.path);
                    // A catch-up reports the parent's children change on its own.
                    if !catch_up {
                        refresh.extend(self.parent_inside(&ev.path));
                    }
                }
                (_, EventType::NodeCreated) if catch_up => roots.push(ev.path),
                (_, EventType::NodeCreated) => {
                    refresh.extend(self.parent_inside(&ev.path));
                    refresh.insert(ev.path);
                }
                // Children of a known node were created or deleted while disconnected.
                (_, EventType::NodeChildrenChanged) => {
                    list.insert(ev.path);
                }
                _ => {
                    refresh.insert(ev.path);
                }
            }
        }
        let paths: Vec<String> = refresh.into_iter().collect();
        let reads = self.pipelined(&paths, Self::data).await?;
        for (path, read) in paths.iter().zip(reads) {
            match read {
                Some((data, stat)) => {
                    applied.changed += u64::from(self.upsert(path, data, stat));
                    // Children normally arrive through their own events; a count that
                    // disagrees means some were created or deleted unseen: list them.
                    if !self.children_known(path, &stat)
                        && self.cached_children(path).len() != stat.num_children as usize
                    {
                        list.insert(path.clone());
                    }
                }
                None => {
                    applied.changed += self.remove_subtree(path);
                    list.remove(path);
                }
            }
        }
        let list: Vec<String> = list.into_iter().collect();
        let (more, new) = self.list_children(&list).await?;
        applied.changed += more;
        roots.extend(new);
        applied.changed += self.load(roots).await?;
        Ok(applied)
    }

    /// Brings the cache in line with the server after events may have been missed.
    async fn resync(&mut self) -> Result<()> {
        let started = Instant::now();
        let before = self.counters();
        let mut known: Vec<String> = self.shared.read().keys().cloned().collect();
        let report_known = known.len() as u64;
        if !known.contains(&self.root) {
            known.insert(0, self.root.clone());
        }
        let mut changed = 0;
        let mut data_refresh = Vec::new();
        let mut children_check = Vec::new();
        let mut new_roots = Vec::new();
        let stats = self.pipelined(&known, Self::stat).await?;
        for (path, stat) in known.iter().zip(stats) {
            let cached = self.cached_stat(path);
            match (stat, cached) {
                (None, _) => changed += self.remove_subtree(path),
                (Some(_), None) => {
                    // Not cached: the root appeared (descendants of removed nodes are
                    // handled by their own entries).
                    if path == &self.root {
                        new_roots.push(path.clone());
                    }
                }
                (Some(now), Some(was)) if now.czxid != was.czxid => {
                    changed += self.remove_subtree(path);
                    new_roots.push(path.clone());
                }
                (Some(now), Some(was)) => {
                    if now.mzxid != was.mzxid {
                        data_refresh.push(path.clone());
                    } else {
                        changed += u64::from(self.update_stat(path, now));
                    }
                    if !self.children_known(path, &now) {
                        children_check.push(path.clone());
                    }
                }
            }
        }
        let datas = self.pipelined(&data_refresh, Self::data).await?;
        for (path, read) in data_refresh.iter().zip(datas) {
            changed += match read {
                Some((data, stat)) => u64::from(self.upsert(path, data, stat)),
                None => self.remove_subtree(path),
            };
        }
        let (more, new) = self.list_children(&children_check).await?;
        changed += more;
        new_roots.extend(new);
        changed += self.load(new_roots).await?;
        self.report(started, before, report_known, changed);
        Ok(())
    }

    /// Records and announces a resynchronisation pass that started at `started` with the
    /// read counters `before` and `known` nodes, and changed `changed` of them.
    fn report(&self, started: Instant, before: (u64, u64, u64), known: u64, changed: u64) {
        let after = self.counters();
        let report = ResyncReport {
            known,
            stat_reads: after.0 - before.0,
            data_reads: after.1 - before.1,
            children_reads: after.2 - before.2,
            changed,
            took: started.elapsed(),
        };
        self.shared.resyncs.fetch_add(1, Ordering::Relaxed);
        *self
            .shared
            .last_resync
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(report);
        tracing::debug!(root = %self.root, ?report, "tree cache resynchronised");
        self.emit(TreeEvent::Resynced(report));
    }

    fn counters(&self) -> (u64, u64, u64) {
        let s = &self.shared;
        (
            s.stat_reads.load(Ordering::Relaxed),
            s.data_reads.load(Ordering::Relaxed),
            s.children_reads.load(Ordering::Relaxed),
        )
    }

    // ---------------------------------------------------------------- one-shot mode

    fn arm(&mut self, kind: Kind, path: &str, watcher: OneshotWatcher) {
        let path = path.to_owned();
        self.oneshots
            .spawn(async move { (kind, path, watcher.await) });
    }

    /// Reads a node's data, with a data watch unless one is armed.
    async fn data_watched(&mut self, path: &str) -> Result<Option<(Option<Bytes>, Stat)>> {
        if self.data_armed.contains(path) {
            return self.data(path).await;
        }
        self.shared.data_reads.fetch_add(1, Ordering::Relaxed);
        let client = self.client.clone();
        match persist(&client, || client.get_data_opt_watched(path)).await {
            Ok((data, stat, w)) => {
                self.data_armed.insert(path.to_owned());
                self.arm(Kind::Data, path, w);
                Ok(Some((data, stat)))
            }
            Err(Error::NoNode | Error::NoAuth) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a node's children and Stat, with a child watch unless one is armed.
    async fn children_watched(&mut self, path: &str) -> Result<Option<(Vec<String>, Stat)>> {
        self.shared.children_reads.fetch_add(1, Ordering::Relaxed);
        let client = self.client.clone();
        if self.child_armed.contains(path) {
            return missing_is_none(persist(&client, || client.get_children_stat(path)).await);
        }
        match persist(&client, || client.get_children_watched(path)).await {
            Ok((children, stat, w)) => {
                self.child_armed.insert(path.to_owned());
                self.arm(Kind::Child, path, w);
                Ok(Some((children, stat)))
            }
            Err(Error::NoNode | Error::NoAuth) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Loads subtrees with a data and a child watch on every node.
    async fn load_oneshot(&mut self, roots: Vec<String>) -> Result<()> {
        let mut stack = roots;
        while let Some(path) = stack.pop() {
            match self.data_watched(&path).await? {
                Some((data, stat)) => {
                    self.upsert(&path, data, stat);
                }
                None => {
                    self.remove_subtree(&path);
                    if path == self.root {
                        self.watch_root_creation().await?;
                    }
                    continue;
                }
            }
            if let Some(children) = self.refresh_children(&path).await? {
                stack.extend(children);
            }
        }
        Ok(())
    }

    /// Re-reads the children of `path` (re-arming its child watch); returns the paths of
    /// children that are new to the cache.
    async fn refresh_children(&mut self, path: &str) -> Result<Option<Vec<String>>> {
        let Some((list, stat)) = self.children_watched(path).await? else {
            self.remove_subtree(path);
            return Ok(None);
        };
        // The child list changed the parent's Stat (cversion, pzxid, numChildren).
        let data_changed = self
            .cached_stat(path)
            .is_some_and(|s| s.mzxid != stat.mzxid);
        if !data_changed {
            self.update_stat(path, stat);
        }
        let now: BTreeSet<String> = list.into_iter().collect();
        let was = self.cached_children(path);
        for gone in was.difference(&now) {
            self.remove_subtree(&join(path, gone));
        }
        Ok(Some(now.difference(&was).map(|c| join(path, c)).collect()))
    }

    async fn watch_root_creation(&mut self) -> Result<()> {
        let client = self.client.clone();
        let root = self.root.clone();
        let (stat, w) = persist(&client, || client.exists_watched(&root)).await?;
        self.shared.stat_reads.fetch_add(1, Ordering::Relaxed);
        self.arm(Kind::Exist, &root, w);
        if stat.is_some() {
            // Created in the meantime: the exist watch fires on its next change; load now.
            Box::pin(self.load_oneshot(vec![root])).await?;
        }
        Ok(())
    }

    async fn follow_oneshot(&mut self) -> Result<()> {
        loop {
            tokio::select! {
                Some(joined) = self.oneshots.join_next() => {
                    let Ok(first) = joined else { continue };
                    let mut batch = vec![first];
                    while let Some(Ok(more)) = self.oneshots.try_join_next() {
                        batch.push(more);
                    }
                    self.apply_oneshot(batch).await?;
                }
                r = self.session.next() => {
                    if r.is_none() {
                        return Err(stopped(&self.client));
                    }
                    // Same session: the client re-registered the watches and the server
                    // reported missed changes. New session: every watch fires with the
                    // expiry and is re-read. Nothing to do here either way.
                }
            }
        }
    }

    async fn apply_oneshot(&mut self, batch: Vec<(Kind, String, WatchedEvent)>) -> Result<()> {
        self.shared
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (kind, path, ev) in batch {
            if ev.event_type == EventType::None {
                match ev.state {
                    SessionState::Closed => return Err(Error::Closed),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    _ => {}
                }
            }
            match kind {
                Kind::Data => {
                    self.data_armed.remove(&path);
                    match self.data_watched(&path).await? {
                        Some((data, stat)) => {
                            let created = self.cached_stat(&path).is_none();
                            self.upsert(&path, data, stat);
                            if created {
                                // Re-created: its children need a watch and a read too.
                                if let Some(new) = self.refresh_children(&path).await? {
                                    self.load_oneshot(new).await?;
                                }
                            }
                        }
                        None => {
                            self.remove_subtree(&path);
                            if path == self.root {
                                self.watch_root_creation().await?;
                            }
                        }
                    }
                }
                Kind::Child => {
                    self.child_armed.remove(&path);
                    if let Some(new) = self.refresh_children(&path).await? {
                        self.load_oneshot(new).await?;
                    }
                }
                Kind::Exist => {
                    if self.cached_stat(&path).is_none() {
                        self.load_oneshot(vec![path]).await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// What a batch of events did.
#[derive(Debug, Default)]
struct Applied {
    /// Nodes added, updated and removed.
    changed: u64,
    /// A `Resync` came: changes may have been missed that no event tells.
    resync: bool,
}

/// The cached paths are the nodes the recursive watch knows, for its catch-up.
impl KnownNodes for Shared {
    fn for_each(&self, visit: &mut dyn FnMut(&str)) {
        self.read().keys().for_each(|p| visit(p));
    }
}

/// Moves the events already waiting in the stream into `batch`.
fn drain(watch: &mut PersistentWatcher, batch: &mut Vec<WatchedEvent>) {
    let waker = futures_task_noop();
    let mut cx = std::task::Context::from_waker(&waker);
    while let Poll::Ready(Some(ev)) =
        futures_core::Stream::poll_next(Pin::new(&mut *watch), &mut cx)
    {
        batch.push(ev);
    }
}

/// A waker that does nothing (the caller polls again by itself).
fn futures_task_noop() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    std::task::Waker::from(Arc::new(Noop))
}

fn missing_is_none<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NoNode | Error::NoAuth) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why the client stopped.
fn stopped(client: &Client) -> Error {
    match client.state() {
        SessionState::AuthFailed => Error::AuthFailed,
        SessionState::Expired => Error::SessionExpired,
        _ => Error::Closed,
    }
}
