//! `TreeCache`: a live, in-memory mirror of a subtree.
//!
//! The handle is here; `state` holds what the cache hands out and shares with its
//! follower task; `follower` is that task (its reads and cache updates); `persistent` and
//! `oneshot` are its two ways of following the server.

mod follower;
mod oneshot;
mod persistent;
mod state;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use aiozk::path::join;
use aiozk::{Client, Error, Result};
use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use crate::support::across_expiry::SessionWatch;
use crate::support::task::TaskGuard;
use follower::Follower;
pub use state::{
    CacheWatchMode, NodeEntry, ResyncReport, TreeCacheOptions, TreeCacheStats, TreeEvent,
};
use state::{Shared, EVENT_CAPACITY};

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
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::{TreeCache, TreeEvent};
///
/// let cache = TreeCache::start(&zk, "/config").await?;
/// println!("{} nodes; db = {:?}", cache.len(), cache.data("/config/db"));
/// let mut events = cache.events();
/// while let Some(event) = events.next().await {
///     if let TreeEvent::Updated(path) = event {
///         println!("{path} is now {:?}", cache.data(&path));
///     }
/// }
/// # Ok(()) }
/// ```
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
