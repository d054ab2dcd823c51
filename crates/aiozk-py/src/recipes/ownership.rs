//! Locks, semaphores, leases and elections: `aiozk_recipes`' ownership recipes.

use std::sync::{Arc, Mutex as StdMutex};

use aiozk_recipes::{
    Fence, LeaderElection, Leadership, Lease, Lock, LossReason, LostSignal, OwnershipGuard,
    Semaphore,
};
use pyo3::prelude::*;

use super::args::{limit, none};
use crate::bridge::spawn;
use crate::client::PyClient;
use crate::fence::PyFence;

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
    czxid: i64,
}

impl PyOwnership {
    fn new(guard: OwnershipGuard) -> Self {
        Self {
            lost: guard.lost(),
            node: guard.node().to_owned(),
            fence: guard.fence(),
            czxid: guard.czxid(),
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

    /// The creation zxid of the ownership node (what a fence check names).
    #[getter]
    fn czxid(&self) -> i64 {
        self.czxid
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

    /// The creation zxid of the candidate node.
    #[getter]
    fn czxid(&self) -> i64 {
        self.leadership.czxid()
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
