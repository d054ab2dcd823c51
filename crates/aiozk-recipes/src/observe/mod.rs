//! Watchers, barriers, parties, counters, caches and queues.
//!
//! Every recipe here uses only the public [`aiozk::Client`] API and documents its znode
//! layout, its guarantees, and what it does on connection loss and session expiry. Common
//! rules:
//!
//! * Reads are repeated after a lost connection once the client is connected again; writes
//!   whose outcome a lost connection makes unknown are resolved by reading back (or, for
//!   sequential nodes, by looking for this instance's unique id in the name).
//! * Anything that mirrors server state re-reads it after every reconnect and every new
//!   session, because a persistent watch is re-armed by the server without reporting what
//!   was missed, and a new session has lost every watch.
//! * Waits take an optional timeout and fail with [`aiozk::Error::Timeout`]; a wait that is
//!   dropped or times out leaves no node behind.
//! * Names follow aiozk (`DataWatcher`, `Barrier::lift`, `Party::wait_for_change`,
//!   `Counter::incr`, …) so that a Python layer can map onto them.

mod allocator;
mod barrier;
mod counter;
mod json_list;
mod party;
mod queue;
mod tree_cache;
mod watchers;

pub use allocator::{Allocation, AllocationStrategy, Allocator, RendezvousHash, RoundRobin};
pub use barrier::{Barrier, DoubleBarrier};
pub use counter::{Counter, CounterValue, Int32Be, Int64Be};
pub use party::Party;
pub use queue::{Queue, QueueItem};
pub use tree_cache::{
    CacheWatchMode, NodeEntry, ResyncReport, TreeCache, TreeCacheOptions, TreeCacheStats,
    TreeEvent, TreeEvents,
};
pub use watchers::{ChildrenWatcher, DataWatcher, NodeChildren, NodeData, WatcherOptions};
