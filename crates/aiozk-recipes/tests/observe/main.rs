//! The observation recipes (watchers, barriers, parties, counters, caches, queues,
//! allocators) on a real server, one module per recipe, sharing the server and helpers of
//! `common`.

mod common;

mod allocator;
mod barrier;
mod counter;
mod foreign;
mod party;
mod queue;
mod tree_cache;
mod watchers;
