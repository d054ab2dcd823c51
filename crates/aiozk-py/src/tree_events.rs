//! The monitoring side of `aiozk_recipes::TreeCache` for Python: its change stream as an
//! async iterator, its read counters and its watch mode.

use std::sync::Arc;

use aiozk_recipes::{CacheWatchMode, ResyncReport, TreeCacheStats, TreeEvent, TreeEvents};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::sync::Mutex;

use crate::bridge::{spawn_py, Failure};
use crate::errors;

/// The name of a cache's watch mode.
pub(crate) fn mode_name(mode: CacheWatchMode) -> &'static str {
    match mode {
        CacheWatchMode::PersistentRecursive => "persistent_recursive",
        CacheWatchMode::OneShot => "oneshot",
    }
}

fn report<'py>(py: Python<'py>, r: &ResyncReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("known", r.known)?;
    d.set_item("stat_reads", r.stat_reads)?;
    d.set_item("data_reads", r.data_reads)?;
    d.set_item("children_reads", r.children_reads)?;
    d.set_item("changed", r.changed)?;
    d.set_item("took", r.took.as_secs_f64())?;
    Ok(d)
}

/// A cache's counters as a dict (`last_resync` a dict or None).
pub(crate) fn stats<'py>(py: Python<'py>, s: &TreeCacheStats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("data_reads", s.data_reads)?;
    d.set_item("children_reads", s.children_reads)?;
    d.set_item("stat_reads", s.stat_reads)?;
    d.set_item("reads", s.reads())?;
    d.set_item("events", s.events)?;
    d.set_item("resyncs", s.resyncs)?;
    match &s.last_resync {
        Some(r) => d.set_item("last_resync", report(py, r)?)?,
        None => d.set_item("last_resync", py.None())?,
    }
    Ok(d)
}

/// A cache's changes from the moment of the subscription: an async iterator of `(kind,
/// value)`: `("initialized", None)`, `("added" | "updated" | "removed", server_path)`,
/// `("resynced", report)`, `("lagged", missed)`, `("stopped", exception)`. It ends once the
/// cache is stopped and every change was taken.
#[pyclass(module = "aiozk._aiozk", name = "TreeEvents", frozen)]
pub(crate) struct PyTreeEvents {
    rx: Arc<Mutex<TreeEvents>>,
}

impl PyTreeEvents {
    pub(crate) fn new(events: TreeEvents) -> Self {
        Self {
            rx: Arc::new(Mutex::new(events)),
        }
    }
}

#[pymethods]
impl PyTreeEvents {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = Arc::clone(&self.rx);
        spawn_py(
            py,
            async move { Ok::<_, Failure>(rx.lock().await.next().await) },
            |py, event| {
                let (kind, value): (&str, Py<PyAny>) = match event {
                    None => return Err(PyStopAsyncIteration::new_err(())),
                    Some(TreeEvent::Initialized) => ("initialized", py.None()),
                    Some(TreeEvent::Added(p)) => {
                        ("added", p.into_pyobject(py)?.into_any().unbind())
                    }
                    Some(TreeEvent::Updated(p)) => {
                        ("updated", p.into_pyobject(py)?.into_any().unbind())
                    }
                    Some(TreeEvent::Removed(p)) => {
                        ("removed", p.into_pyobject(py)?.into_any().unbind())
                    }
                    Some(TreeEvent::Resynced(r)) => {
                        ("resynced", report(py, &r)?.into_any().unbind())
                    }
                    Some(TreeEvent::Lagged(n)) => {
                        ("lagged", n.into_pyobject(py)?.into_any().unbind())
                    }
                    Some(TreeEvent::Stopped(e)) => {
                        ("stopped", errors::to_py(py, e).into_value(py).into_any())
                    }
                };
                Ok((kind, value).into_pyobject(py)?.into_any().unbind())
            },
        )
    }
}
