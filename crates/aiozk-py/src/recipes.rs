//! The Rust recipes (`aiozk-recipes`) as Python classes; `aiozk/recipes/*.py` gives them
//! aiozk's names and methods. Paths are normalized like the client's (chroot included).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use aiozk::{Client, Error};
use aiozk_recipes::{
    Allocation, AllocationStrategy, Allocator, Barrier, ChildrenWatcher, Counter, DataWatcher,
    DoubleBarrier, Fence, LeaderElection, Leadership, Lease, Lock, LossReason, LostSignal,
    OwnershipGuard, Party, Queue, QueueItem, RendezvousHash, RoundRobin, Semaphore, TreeCache,
    TreeCacheOptions, WatcherOptions,
};
use pyo3::exceptions::{PyStopAsyncIteration, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyTuple};
use tokio::sync::{watch, Mutex};

use crate::bridge::{spawn, spawn_py, Failure};
use crate::client::PyClient;
use crate::fence::PyFence;
use crate::types;

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyOwnership>()?;
    m.add_class::<PyLock>()?;
    m.add_class::<PySemaphore>()?;
    m.add_class::<PyLease>()?;
    m.add_class::<PyLeaderElection>()?;
    m.add_class::<PyLeadership>()?;
    m.add_class::<PyBarrier>()?;
    m.add_class::<PyDoubleBarrier>()?;
    m.add_class::<PyCounter>()?;
    m.add_class::<PyParty>()?;
    m.add_class::<PyTreeCache>()?;
    m.add_class::<PyDataWatcher>()?;
    m.add_class::<PyChildrenWatcher>()?;
    m.add_class::<PyAllocator>()?;
    m.add_class::<PyQueue>()?;
    m.add_class::<PyQueueItem>()?;
    Ok(())
}

/// A wait limit in seconds (`None`: no limit); a negative limit is already over.
fn limit(timeout: Option<f64>) -> Option<Duration> {
    timeout.map(|t| Duration::from_secs_f64(if t.is_finite() && t > 0.0 { t } else { 0.0 }))
}

fn none(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}

pub(crate) fn reason_name(r: LossReason) -> &'static str {
    match r {
        LossReason::Released => "released",
        LossReason::SessionExpired => "session_expired",
        LossReason::NodeDeleted => "node_deleted",
        LossReason::Suspended => "suspended",
        LossReason::LeaseExpired => "lease_expired",
        LossReason::ClientClosed => "client_closed",
        _ => "lost",
    }
}

fn wait_lost<'py>(py: Python<'py>, lost: LostSignal) -> PyResult<Bound<'py, PyAny>> {
    spawn(py, async move { Ok(lost.wait().await) }, |py, r| {
        Ok(reason_name(r).into_pyobject(py)?.into_any().unbind())
    })
}

// ------------------------------------------------------------------ ownership

/// A held lock, semaphore permit or lease (the Rust `OwnershipGuard`).
#[pyclass(module = "aiozk._aiozk", name = "Ownership", frozen)]
pub(crate) struct PyOwnership {
    guard: Arc<StdMutex<Option<OwnershipGuard>>>,
    lost: LostSignal,
    node: String,
    /// Taken at once, so that it outlives a release (its writes then fail).
    fence: Fence,
}

impl PyOwnership {
    fn new(guard: OwnershipGuard) -> Self {
        Self {
            lost: guard.lost(),
            node: guard.node().to_owned(),
            fence: guard.fence(),
            guard: Arc::new(StdMutex::new(Some(guard))),
        }
    }

    fn py(py: Python<'_>, guard: OwnershipGuard) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, Self::new(guard))?.into_any())
    }
}

#[pymethods]
impl PyOwnership {
    /// Releases it and waits until the node is deleted (does nothing the second time).
    fn release<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let guard = self.guard.lock().unwrap_or_else(|e| e.into_inner()).take();
        spawn(
            py,
            async move {
                match guard {
                    Some(g) => g.release().await,
                    None => Ok(()),
                }
            },
            none,
        )
    }

    /// True while held as far as this process can tell.
    fn is_held(&self) -> bool {
        self.guard
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .is_some_and(OwnershipGuard::is_held)
    }

    /// Why it ended (`released`, `session_expired`, `node_deleted`, `suspended`,
    /// `lease_expired`, `client_closed`), or None while it lasts.
    #[getter]
    fn lost_reason(&self) -> Option<&'static str> {
        self.lost.reason().map(reason_name)
    }

    /// Waits until it ends; resolves to the reason.
    fn wait_lost<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wait_lost(py, self.lost.clone())
    }

    /// The server path of the ownership node.
    #[getter]
    fn node(&self) -> &str {
        &self.node
    }

    /// Writes that succeed only while this ownership lasts.
    fn fence(&self) -> PyFence {
        PyFence::new(self.fence.clone())
    }

    /// Seconds until a lease ends (0 once passed); None for locks and permits, and once
    /// released.
    fn expires_in(&self) -> Option<f64> {
        let guard = self.guard.lock().unwrap_or_else(|e| e.into_inner());
        let until = guard.as_ref()?.expires_at()?;
        Some(
            until
                .saturating_duration_since(std::time::Instant::now())
                .as_secs_f64(),
        )
    }
}

/// `aiozk_recipes::Lock`.
#[pyclass(module = "aiozk._aiozk", name = "Lock", frozen)]
pub(crate) struct PyLock {
    lock: Lock,
}

#[pymethods]
impl PyLock {
    #[new]
    #[pyo3(signature = (client, path, label="lock", blocked_by=None))]
    fn new(
        client: PyRef<'_, PyClient>,
        path: &str,
        label: &str,
        blocked_by: Option<Vec<String>>,
    ) -> Self {
        let mut lock = Lock::new(&client.client, &client.path(path)).with_label(label);
        if let Some(labels) = blocked_by {
            lock = lock.blocked_by(labels);
        }
        Self { lock }
    }

    #[pyo3(signature = (timeout=None))]
    fn acquire<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let lock = self.lock.clone();
        spawn(
            py,
            async move { lock.acquire(limit(timeout)).await },
            PyOwnership::py,
        )
    }

    fn release<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let lock = self.lock.clone();
        spawn(py, async move { lock.release().await }, none)
    }

    fn is_held(&self) -> bool {
        self.lock.is_held()
    }

    #[getter]
    fn path(&self) -> &str {
        self.lock.path()
    }
}

/// `aiozk_recipes::Semaphore`.
#[pyclass(module = "aiozk._aiozk", name = "Semaphore", frozen)]
pub(crate) struct PySemaphore {
    semaphore: Semaphore,
}

#[pymethods]
impl PySemaphore {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, permits: u32) -> Self {
        Self {
            semaphore: Semaphore::new(&client.client, &client.path(path), permits),
        }
    }

    #[pyo3(signature = (timeout=None))]
    fn acquire<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let s = self.semaphore.clone();
        spawn(
            py,
            async move { s.acquire(limit(timeout)).await },
            PyOwnership::py,
        )
    }
}

/// `aiozk_recipes::Lease`.
#[pyclass(module = "aiozk._aiozk", name = "Lease", frozen)]
pub(crate) struct PyLease {
    lease: Lease,
}

#[pymethods]
impl PyLease {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, limit: u32) -> Self {
        Self {
            lease: Lease::new(&client.client, &client.path(path), limit),
        }
    }

    /// Resolves to an `Ownership`, or None when the lease is taken.
    fn obtain<'py>(&self, py: Python<'py>, duration: f64) -> PyResult<Bound<'py, PyAny>> {
        let lease = self.lease.clone();
        let duration = limit(Some(duration)).unwrap_or_default();
        spawn(
            py,
            async move { lease.obtain(duration).await },
            |py, g| match g {
                Some(g) => PyOwnership::py(py, g),
                None => Ok(py.None()),
            },
        )
    }
}

/// `aiozk_recipes::LeaderElection`.
#[pyclass(module = "aiozk._aiozk", name = "LeaderElection", frozen)]
pub(crate) struct PyLeaderElection {
    election: Arc<LeaderElection>,
}

/// A won leadership.
#[pyclass(module = "aiozk._aiozk", name = "Leadership", frozen)]
pub(crate) struct PyLeadership {
    leadership: Leadership,
}

#[pymethods]
impl PyLeadership {
    fn is_held(&self) -> bool {
        self.leadership.is_held()
    }

    #[getter]
    fn lost_reason(&self) -> Option<&'static str> {
        self.leadership.lost_reason().map(reason_name)
    }

    fn wait_lost<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        wait_lost(py, self.leadership.lost())
    }

    #[getter]
    fn node(&self) -> &str {
        self.leadership.node()
    }

    /// Writes that succeed only while this leadership lasts.
    fn fence(&self) -> PyFence {
        PyFence::new(self.leadership.fence())
    }
}

#[pymethods]
impl PyLeaderElection {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str) -> Self {
        Self {
            election: Arc::new(LeaderElection::new(&client.client, &client.path(path))),
        }
    }

    fn volunteer<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let e = Arc::clone(&self.election);
        spawn(py, async move { e.volunteer().await }, none)
    }

    #[pyo3(signature = (timeout=None))]
    fn wait_for_leadership<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let e = Arc::clone(&self.election);
        spawn(
            py,
            async move { e.wait_for_leadership(limit(timeout)).await },
            |py, l| Ok(Py::new(py, PyLeadership { leadership: l })?.into_any()),
        )
    }

    fn resign<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let e = Arc::clone(&self.election);
        spawn(py, async move { e.resign().await }, none)
    }

    fn has_leadership(&self) -> bool {
        self.election.has_leadership()
    }

    fn is_candidate(&self) -> bool {
        self.election.is_candidate()
    }

    fn leadership(&self) -> Option<PyLeadership> {
        self.election
            .leadership()
            .map(|leadership| PyLeadership { leadership })
    }
}

// ------------------------------------------------------------------ barriers, counters, parties

/// `aiozk_recipes::Barrier`.
#[pyclass(module = "aiozk._aiozk", name = "Barrier", frozen)]
pub(crate) struct PyBarrier {
    barrier: Barrier,
}

#[pymethods]
impl PyBarrier {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str) -> Self {
        Self {
            barrier: Barrier::new(&client.client, &client.path(path)),
        }
    }

    fn create<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.barrier.clone();
        spawn(py, async move { b.create().await }, none)
    }

    fn lift<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.barrier.clone();
        spawn(py, async move { b.lift().await }, none)
    }

    #[pyo3(signature = (timeout=None))]
    fn wait<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let b = self.barrier.clone();
        spawn(py, async move { b.wait(limit(timeout)).await }, none)
    }
}

/// `aiozk_recipes::DoubleBarrier`.
#[pyclass(module = "aiozk._aiozk", name = "DoubleBarrier", frozen)]
pub(crate) struct PyDoubleBarrier {
    barrier: Arc<DoubleBarrier>,
}

#[pymethods]
impl PyDoubleBarrier {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, min_participants: usize) -> Self {
        Self {
            barrier: Arc::new(DoubleBarrier::new(
                &client.client,
                &client.path(path),
                min_participants,
            )),
        }
    }

    /// The server path of this participant's node while entered.
    fn own_node(&self) -> Option<String> {
        self.barrier.own_node()
    }

    #[pyo3(signature = (timeout=None))]
    fn enter<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let b = Arc::clone(&self.barrier);
        spawn(py, async move { b.enter(limit(timeout)).await }, none)
    }

    #[pyo3(signature = (timeout=None))]
    fn leave<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let b = Arc::clone(&self.barrier);
        spawn(py, async move { b.leave(limit(timeout)).await }, none)
    }
}

enum AnyCounter {
    Int(Counter<i64>),
    Float(Counter<f64>),
}

/// `aiozk_recipes::Counter` of integers or floats (after the type of the default).
#[pyclass(module = "aiozk._aiozk", name = "Counter", frozen)]
pub(crate) struct PyCounter {
    counter: Arc<AnyCounter>,
}

#[derive(Clone, Copy)]
enum Number {
    Int(i64),
    Float(f64),
}

fn number(py: Python<'_>, n: Number) -> PyResult<Py<PyAny>> {
    Ok(match n {
        Number::Int(i) => i.into_pyobject(py)?.into_any().unbind(),
        Number::Float(f) => f.into_pyobject(py)?.into_any().unbind(),
    })
}

impl PyCounter {
    fn run<'py, FI, FF, OI, OF>(
        &self,
        py: Python<'py>,
        int: FI,
        float: FF,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        FI: FnOnce(Arc<AnyCounter>) -> OI,
        FF: FnOnce(Arc<AnyCounter>) -> OF,
        OI: std::future::Future<Output = aiozk::Result<i64>> + Send + 'static,
        OF: std::future::Future<Output = aiozk::Result<f64>> + Send + 'static,
    {
        let c = Arc::clone(&self.counter);
        match &*self.counter {
            AnyCounter::Int(_) => {
                let fut = int(c);
                spawn(py, async move { fut.await.map(Number::Int) }, number)
            }
            AnyCounter::Float(_) => {
                let fut = float(c);
                spawn(py, async move { fut.await.map(Number::Float) }, number)
            }
        }
    }
}

macro_rules! counter_op {
    ($c:ident, $i:ident => $ie:expr, $f:ident => $fe:expr) => {
        (
            |c: Arc<AnyCounter>| async move {
                match &*c {
                    AnyCounter::Int($i) => $ie.await,
                    AnyCounter::Float(_) => {
                        Err(Error::InvalidArgument("not an integer counter".into()))
                    }
                }
            },
            |c: Arc<AnyCounter>| async move {
                match &*c {
                    AnyCounter::Float($f) => $fe.await,
                    AnyCounter::Int(_) => Err(Error::InvalidArgument("not a float counter".into())),
                }
            },
        )
    };
}

#[pymethods]
impl PyCounter {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, default: Bound<'_, PyAny>) -> PyResult<Self> {
        let path = client.path(path);
        let counter = if default.is_instance_of::<pyo3::types::PyFloat>() {
            AnyCounter::Float(Counter::new(&client.client, &path, default.extract()?))
        } else if default.is_instance_of::<pyo3::types::PyInt>() {
            AnyCounter::Int(Counter::new(&client.client, &path, default.extract()?))
        } else {
            return Err(PyTypeError::new_err(
                "a counter's default must be an int or a float",
            ));
        };
        Ok(Self {
            counter: Arc::new(counter),
        })
    }

    /// The value last read or written (None before the first).
    #[getter]
    fn value(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match &*self.counter {
            AnyCounter::Int(c) => c
                .value()
                .map_or(Ok(py.None()), |v| number(py, Number::Int(v))),
            AnyCounter::Float(c) => c
                .value()
                .map_or(Ok(py.None()), |v| number(py, Number::Float(v))),
        }
    }

    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.start(), c => c.start());
        self.run(py, i, f)
    }

    fn get<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.get(), c => c.get());
        self.run(py, i, f)
    }

    fn set<'py>(&self, py: Python<'py>, value: f64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => async { c.set(value as i64).await.map(|()| value as i64) }, c => async { c.set(value).await.map(|()| value) });
        self.run(py, i, f)
    }

    fn set_int<'py>(&self, py: Python<'py>, value: i64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => async { c.set(value).await.map(|()| value) }, c => async { c.set(value as f64).await.map(|()| value as f64) });
        self.run(py, i, f)
    }

    fn incr<'py>(&self, py: Python<'py>, by: f64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.incr(by as i64), c => c.incr(by));
        self.run(py, i, f)
    }

    fn decr<'py>(&self, py: Python<'py>, by: f64) -> PyResult<Bound<'py, PyAny>> {
        let (i, f) = counter_op!(c, c => c.decr(by as i64), c => c.decr(by));
        self.run(py, i, f)
    }
}

/// `aiozk_recipes::Party`.
#[pyclass(module = "aiozk._aiozk", name = "Party", frozen)]
pub(crate) struct PyParty {
    party: Arc<Party>,
}

#[pymethods]
impl PyParty {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str, name: &str) -> PyResult<Self> {
        let party = Party::new(&client.client, &client.path(path), name)
            .map_err(|e| crate::errors::to_py(client.py(), e))?;
        Ok(Self {
            party: Arc::new(party),
        })
    }

    fn join<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let p = Arc::clone(&self.party);
        spawn(py, async move { p.join().await }, none)
    }

    fn leave<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let p = Arc::clone(&self.party);
        spawn(py, async move { p.leave().await }, none)
    }

    fn members(&self) -> Vec<String> {
        self.party.members()
    }

    /// The server path of this member's node while joined.
    fn own_node(&self) -> Option<String> {
        self.party.own_node()
    }

    fn wait_for_change<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let p = Arc::clone(&self.party);
        spawn(py, async move { p.wait_for_change().await }, |py, m| {
            Ok(PyList::new(py, m)?.into_any().unbind())
        })
    }
}

// ------------------------------------------------------------------ caches and watchers

/// `aiozk_recipes::TreeCache`.
#[pyclass(module = "aiozk._aiozk", name = "TreeCache", frozen)]
pub(crate) struct PyTreeCache {
    cache: StdMutex<Option<TreeCache>>,
}

#[pymethods]
impl PyTreeCache {
    /// Starts a cache of the subtree at `path` (with one-shot watches per node instead of
    /// one recursive watch when `force_oneshot_watches`); resolves to the cache once loaded.
    #[staticmethod]
    #[pyo3(signature = (client, path, force_oneshot_watches=false))]
    fn start<'py>(
        py: Python<'py>,
        client: PyRef<'py, PyClient>,
        path: &str,
        force_oneshot_watches: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c: Client = client.client.clone();
        let root = client.path(path);
        let options = TreeCacheOptions {
            force_oneshot_watches,
        };
        spawn(
            py,
            async move { TreeCache::start_with(&c, &root, options).await },
            |py, cache| {
                Ok(Py::new(
                    py,
                    PyTreeCache {
                        cache: StdMutex::new(Some(cache)),
                    },
                )?
                .into_any())
            },
        )
    }

    /// Every cached node: `{server_path: (data, stat)}`; data None for null data.
    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cache) = guard.as_ref() {
            for (path, entry) in cache.snapshot() {
                out.set_item(
                    path,
                    (
                        if entry.null_data {
                            py.None()
                        } else {
                            types::bytes(py, &entry.data)
                        },
                        types::stat(py, entry.stat)?,
                    ),
                )?;
            }
        }
        Ok(out)
    }

    /// The root's server path.
    #[getter]
    fn root(&self) -> Option<String> {
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        guard.as_ref().map(|c| c.root().to_owned())
    }

    /// Stops following the server.
    fn stop(&self) {
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).take();
    }

    /// `persistent_recursive` or `oneshot` (None once stopped).
    #[getter]
    fn mode(&self) -> Option<&'static str> {
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .map(|c| crate::tree_events::mode_name(c.mode()))
    }

    /// The read counters (see [`crate::tree_events::stats`]); None once stopped.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .map(|c| crate::tree_events::stats(py, &c.stats()))
            .transpose()
    }

    /// The changes from now on (an async iterator); None once stopped.
    fn events(&self) -> Option<crate::tree_events::PyTreeEvents> {
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        guard
            .as_ref()
            .map(|c| crate::tree_events::PyTreeEvents::new(c.events()))
    }
}

/// A watcher stream with a stop flag, shared by `__anext__` futures.
struct Stream<W> {
    watcher: Mutex<Option<W>>,
    stop: watch::Sender<bool>,
}

impl<W> Stream<W> {
    fn new(watcher: W) -> Arc<Self> {
        Arc::new(Self {
            watcher: Mutex::new(Some(watcher)),
            stop: watch::channel(false).0,
        })
    }

    fn close(&self) {
        self.stop.send_replace(true);
        if let Ok(mut guard) = self.watcher.try_lock() {
            guard.take();
        }
    }
}

/// A recipe watcher whose items `__anext__` awaits.
trait Watcher: Send + 'static {
    type Item;
    fn next_item(
        &mut self,
    ) -> impl std::future::Future<Output = Option<aiozk::Result<Self::Item>>> + Send;
}

impl Watcher for DataWatcher {
    type Item = aiozk_recipes::NodeData;
    fn next_item(
        &mut self,
    ) -> impl std::future::Future<Output = Option<aiozk::Result<Self::Item>>> + Send {
        self.next()
    }
}

impl Watcher for ChildrenWatcher {
    type Item = aiozk_recipes::NodeChildren;
    fn next_item(
        &mut self,
    ) -> impl std::future::Future<Output = Option<aiozk::Result<Self::Item>>> + Send {
        self.next()
    }
}

impl<W: Watcher> Stream<W> {
    /// The next item, mapped by `map`; `None` once the watcher ended or the stream was
    /// closed (the watcher is then dropped).
    async fn next_mapped<T>(&self, map: fn(W::Item) -> T) -> Result<Option<T>, Failure> {
        let mut stop = self.stop.subscribe();
        let mut guard = self.watcher.lock().await;
        let Some(w) = guard.as_mut() else {
            return Ok(None);
        };
        let item = tokio::select! {
            item = w.next_item() => item,
            _ = stop.wait_for(|s| *s) => None,
        };
        match item {
            None => {
                *guard = None;
                Ok(None)
            }
            Some(Ok(item)) => Ok(Some(map(item))),
            Some(Err(e)) => Err(Failure::Zk(e)),
        }
    }
}

type DataItem = (Option<bytes::Bytes>, Option<aiozk::Stat>);
type ChildrenItem = (Option<Vec<String>>, Option<aiozk::Stat>);

/// `aiozk_recipes::DataWatcher`: an async iterator of `(data, stat)`: both None when the node
/// is missing; data None with a stat for null data.
#[pyclass(module = "aiozk._aiozk", name = "DataWatcher", frozen)]
pub(crate) struct PyDataWatcher {
    stream: Arc<Stream<DataWatcher>>,
}

#[pymethods]
impl PyDataWatcher {
    #[new]
    #[pyo3(signature = (client, path, wait_for_create=false))]
    fn new(client: PyRef<'_, PyClient>, path: &str, wait_for_create: bool) -> Self {
        let _guard = crate::bridge::runtime().enter();
        let w = DataWatcher::with_options(
            &client.client,
            &client.path(path),
            WatcherOptions { wait_for_create },
        );
        Self {
            stream: Stream::new(w),
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = Arc::clone(&self.stream);
        spawn_py(
            py,
            async move {
                s.next_mapped(|d| (d.data.filter(|_| !d.null_data), d.stat))
                    .await
            },
            |py, item: Option<DataItem>| match item {
                Some((data, stat)) => {
                    let data = data.map_or_else(|| py.None(), |d| types::bytes(py, &d));
                    Ok(PyTuple::new(py, [data, types::opt_stat(py, stat)?])?
                        .into_any()
                        .unbind())
                }
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }

    fn close(&self) {
        self.stream.close();
    }
}

/// `aiozk_recipes::ChildrenWatcher`: an async iterator of `(children or None, stat or None)`.
#[pyclass(module = "aiozk._aiozk", name = "ChildrenWatcher", frozen)]
pub(crate) struct PyChildrenWatcher {
    stream: Arc<Stream<ChildrenWatcher>>,
}

#[pymethods]
impl PyChildrenWatcher {
    #[new]
    #[pyo3(signature = (client, path, wait_for_create=false))]
    fn new(client: PyRef<'_, PyClient>, path: &str, wait_for_create: bool) -> Self {
        let _guard = crate::bridge::runtime().enter();
        let w = ChildrenWatcher::with_options(
            &client.client,
            &client.path(path),
            WatcherOptions { wait_for_create },
        );
        Self {
            stream: Stream::new(w),
        }
    }

    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let s = Arc::clone(&self.stream);
        spawn_py(
            py,
            async move { s.next_mapped(|c| (c.children, c.stat)).await },
            |py, item: Option<ChildrenItem>| match item {
                Some((children, stat)) => {
                    let children = match children {
                        Some(c) => PyList::new(py, c)?.into_any().unbind(),
                        None => py.None(),
                    };
                    Ok(PyTuple::new(py, [children, types::opt_stat(py, stat)?])?
                        .into_any()
                        .unbind())
                }
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }

    fn close(&self) {
        self.stream.close();
    }
}

// ------------------------------------------------------------------ allocator and queue

/// An allocation strategy written in Python: `fn(members, items) -> {member: items}`.
#[derive(Debug)]
struct PyStrategy(Py<PyAny>);

impl AllocationStrategy for PyStrategy {
    fn allocate(&self, members: &[String], items: &[String]) -> Allocation {
        Python::attach(|py| {
            let result = self
                .0
                .call1(py, (members.to_vec(), items.to_vec()))
                .and_then(|r| r.extract::<BTreeMap<String, Vec<String>>>(py));
            match result {
                Ok(map) => map
                    .into_iter()
                    .map(|(m, items)| (m, items.into_iter().collect::<BTreeSet<_>>()))
                    .collect(),
                Err(e) => {
                    e.write_unraisable(py, Some(self.0.bind(py)));
                    RoundRobin.allocate(members, items)
                }
            }
        })
    }
}

/// `aiozk_recipes::Allocator`.
#[pyclass(module = "aiozk._aiozk", name = "Allocator", frozen)]
pub(crate) struct PyAllocator {
    allocator: Arc<Allocator>,
}

fn allocation_dict(py: Python<'_>, a: Allocation) -> PyResult<Py<PyAny>> {
    let d = PyDict::new(py);
    for (member, items) in a {
        d.set_item(member, items)?;
    }
    Ok(d.into_any().unbind())
}

#[pymethods]
impl PyAllocator {
    /// `strategy`: `"round_robin"`, `"rendezvous"` or a Python callable.
    #[new]
    fn new(
        client: PyRef<'_, PyClient>,
        path: &str,
        name: &str,
        strategy: Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let path = client.path(path);
        let py = client.py();
        let built = if let Ok(s) = strategy.extract::<String>() {
            match s.as_str() {
                "round_robin" => Allocator::new(&client.client, &path, name),
                "rendezvous" => {
                    Allocator::with_strategy(&client.client, &path, name, RendezvousHash)
                }
                other => {
                    return Err(PyTypeError::new_err(format!(
                        "unknown allocation strategy {other:?}"
                    )))
                }
            }
        } else {
            Allocator::with_strategy(&client.client, &path, name, PyStrategy(strategy.unbind()))
        };
        Ok(Self {
            allocator: Arc::new(built.map_err(|e| crate::errors::to_py(py, e))?),
        })
    }

    fn start<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = Arc::clone(&self.allocator);
        spawn(py, async move { a.start().await }, none)
    }

    fn stop<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = Arc::clone(&self.allocator);
        spawn(py, async move { a.stop().await }, none)
    }

    fn add<'py>(&self, py: Python<'py>, item: String) -> PyResult<Bound<'py, PyAny>> {
        let a = Arc::clone(&self.allocator);
        spawn(py, async move { a.add(&item).await }, none)
    }

    fn remove<'py>(&self, py: Python<'py>, item: String) -> PyResult<Bound<'py, PyAny>> {
        let a = Arc::clone(&self.allocator);
        spawn(py, async move { a.remove(&item).await }, none)
    }

    fn update<'py>(&self, py: Python<'py>, items: Vec<String>) -> PyResult<Bound<'py, PyAny>> {
        let a = Arc::clone(&self.allocator);
        spawn(py, async move { a.update(items).await }, none)
    }

    fn allocation(&self) -> BTreeSet<String> {
        self.allocator.allocation()
    }

    fn full_allocation(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        allocation_dict(py, self.allocator.full_allocation())
    }

    fn items(&self) -> BTreeSet<String> {
        self.allocator.items()
    }

    fn members(&self) -> Vec<String> {
        self.allocator.members()
    }

    fn wait_for_change<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let a = Arc::clone(&self.allocator);
        spawn(py, async move { a.wait_for_change().await }, |py, s| {
            Ok(s.into_pyobject(py)?.into_any().unbind())
        })
    }
}

/// `aiozk_recipes::Queue`.
#[pyclass(module = "aiozk._aiozk", name = "Queue", frozen)]
pub(crate) struct PyQueue {
    queue: Queue,
}

/// A taken queue item: `complete()` removes it, `release()` gives it back.
#[pyclass(module = "aiozk._aiozk", name = "QueueItem", frozen)]
pub(crate) struct PyQueueItem {
    item: StdMutex<Option<QueueItem>>,
    data: Py<PyAny>,
    path: String,
}

fn queue_item(py: Python<'_>, item: QueueItem) -> PyResult<Py<PyAny>> {
    let data = types::bytes(py, item.data());
    let path = item.path().to_owned();
    Ok(Py::new(
        py,
        PyQueueItem {
            item: StdMutex::new(Some(item)),
            data,
            path,
        },
    )?
    .into_any())
}

#[pymethods]
impl PyQueueItem {
    #[getter]
    fn data(&self, py: Python<'_>) -> Py<PyAny> {
        self.data.clone_ref(py)
    }

    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    fn complete<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let item = self.item.lock().unwrap_or_else(|e| e.into_inner()).take();
        spawn(
            py,
            async move {
                match item {
                    Some(i) => i.complete().await,
                    None => Ok(()),
                }
            },
            none,
        )
    }

    fn release<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let item = self.item.lock().unwrap_or_else(|e| e.into_inner()).take();
        spawn(
            py,
            async move {
                match item {
                    Some(i) => i.release().await,
                    None => Ok(()),
                }
            },
            none,
        )
    }
}

#[pymethods]
impl PyQueue {
    #[new]
    fn new(client: PyRef<'_, PyClient>, path: &str) -> Self {
        Self {
            queue: Queue::new(&client.client, &client.path(path)),
        }
    }

    fn put<'py>(&self, py: Python<'py>, data: Vec<u8>) -> PyResult<Bound<'py, PyAny>> {
        let q = self.queue.clone();
        spawn(py, async move { q.put(&data).await }, |py, p| {
            Ok(p.into_pyobject(py)?.into_any().unbind())
        })
    }

    #[pyo3(signature = (timeout=None))]
    fn take<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let q = self.queue.clone();
        spawn(py, async move { q.take(limit(timeout)).await }, queue_item)
    }

    fn try_take<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let q = self.queue.clone();
        spawn(py, async move { q.try_take().await }, |py, i| match i {
            Some(i) => queue_item(py, i),
            None => Ok(py.None()),
        })
    }

    fn len<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let q = self.queue.clone();
        spawn(py, async move { q.len().await }, |py, n| {
            Ok(n.into_pyobject(py)?.into_any().unbind())
        })
    }
}
