//! The Rust recipes (`aiozk-recipes`) as Python classes; `aiozk/recipes/*.py` gives them
//! aiozk's names and methods. Paths are normalized like the client's (chroot included).
//!
//! One file per recipe, as in `aiozk-recipes`: `ownership` (locks, semaphores, leases,
//! elections), `barrier`, `counter`, `party`, `tree_cache`, `watchers`, `allocator`,
//! `queue`; `args` holds the conversions they share.

mod allocator;
mod args;
mod barrier;
mod counter;
pub(crate) mod ownership;
mod party;
mod queue;
mod tree_cache;
mod watchers;

use pyo3::prelude::*;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<ownership::PyOwnership>()?;
    m.add_class::<ownership::PyLock>()?;
    m.add_class::<ownership::PySemaphore>()?;
    m.add_class::<ownership::PyLease>()?;
    m.add_class::<ownership::PyLeaderElection>()?;
    m.add_class::<ownership::PyLeadership>()?;
    m.add_class::<barrier::PyBarrier>()?;
    m.add_class::<barrier::PyDoubleBarrier>()?;
    m.add_class::<counter::PyCounter>()?;
    m.add_class::<party::PyParty>()?;
    m.add_class::<tree_cache::PyTreeCache>()?;
    m.add_class::<watchers::PyDataWatcher>()?;
    m.add_class::<watchers::PyChildrenWatcher>()?;
    m.add_class::<allocator::PyAllocator>()?;
    m.add_class::<queue::PyQueue>()?;
    m.add_class::<queue::PyQueueItem>()?;
    Ok(())
}
