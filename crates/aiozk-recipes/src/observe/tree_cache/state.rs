//! What a tree cache holds and hands out: its entries, events, options and counters, and
//! the state its follower task shares with it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use aiozk::{Error, Stat};
use bytes::Bytes;

/// How many reads are in flight at once during a load or a resynchronisation.
pub(super) const PIPELINE: usize = 512;
/// Capacity of the event channel; a subscriber that falls further behind gets
/// [`TreeEvent::Lagged`].
pub(super) const EVENT_CAPACITY: usize = 4096;

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

/// A change of a [`TreeCache`](super::TreeCache).
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

/// How a [`TreeCache`](super::TreeCache) learns about changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheWatchMode {
    /// One persistent recursive watch on the root (ZooKeeper 3.6+).
    PersistentRecursive,
    /// A one-shot data watch and child watch per node (older servers).
    OneShot,
}

/// Options of [`TreeCache::start_with`](super::TreeCache::start_with).
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

/// Counters of a [`TreeCache`](super::TreeCache), for monitoring and tests.
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

/// What the cache and its follower task share: the node map and the counters.
#[derive(Debug, Default)]
pub(super) struct Shared {
    pub(super) nodes: RwLock<BTreeMap<String, NodeEntry>>,
    pub(super) data_reads: AtomicU64,
    pub(super) children_reads: AtomicU64,
    pub(super) stat_reads: AtomicU64,
    pub(super) events: AtomicU64,
    pub(super) resyncs: AtomicU64,
    pub(super) last_resync: Mutex<Option<ResyncReport>>,
}

/// The cached paths are the nodes the recursive watch knows, for its catch-up.
impl aiozk::KnownNodes for Shared {
    fn for_each(&self, visit: &mut dyn FnMut(&str)) {
        self.read().keys().for_each(|p| visit(p));
    }
}

impl Shared {
    pub(super) fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, NodeEntry>> {
        self.nodes.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, NodeEntry>> {
        self.nodes.write().unwrap_or_else(|e| e.into_inner())
    }
}
