//! Coordination recipes on the public [`aiozk::Client`] API.
//!
//! Each recipe documents its znode layout, its guarantees, and what it does on connection
//! loss and session expiry. The layouts of [`Lock`], [`SharedLock`] and [`LeaderElection`]
//! match the Python library aiozk (`<label>-<guid>-<sequence>` ephemeral sequential nodes),
//! so processes using either library contend correctly on the same path.

// Ownership recipes: locks, leases, semaphores, elections.
mod ownership;

// Observation and grouping recipes: watchers, barriers, parties, counters, caches, queues.
mod observe;

// What the recipes share: naming, retries, task helpers.
mod support;

pub use observe::*;
pub use ownership::*;

/// True when the deliberate bug `name` is switched on (only in a build with the `mutants`
/// feature, for the fault-injection harness; always false otherwise).
#[inline]
pub(crate) fn mutant(name: &str) -> bool {
    #[cfg(feature = "mutants")]
    {
        aiozk_mutants::on(name)
    }
    #[cfg(not(feature = "mutants"))]
    {
        let _ = name;
        false
    }
}
