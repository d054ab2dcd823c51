//! `TreeCache`: a live mirror of a subtree.

use std::sync::Mutex as StdMutex;

use aiozk::Client;
use aiozk_recipes::TreeCache;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::bridge::spawn;
use crate::client::PyClient;
use crate::types;

/// `aiozk_recipes::TreeCache`.
#[pyclass(module = "aiozk._aiozk", name = "TreeCache", frozen)]
pub(crate) struct PyTreeCache {
    cache: StdMutex<Option<TreeCache>>,
}

#[pymethods]
impl PyTreeCache {
    /// Starts a cache of the subtree at `path`; resolves to the cache once loaded.
    #[staticmethod]
    fn start<'py>(
        py: Python<'py>,
        client: PyRef<'py, PyClient>,
        path: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        let c: Client = client.client.clone();
        let root = client.path(path);
        spawn(
            py,
            async move { TreeCache::start(&c, &root).await },
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

    /// Read counters, and what the last resynchronisation (after a reconnect) cost and
    /// found: `{data_reads, children_reads, stat_reads, events, resyncs, last_resync}`,
    /// `last_resync` a dict `{known, stat_reads, data_reads, children_reads, changed,
    /// took}` (`took` in seconds) or None.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        let guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let Some(cache) = guard.as_ref() else {
            return Ok(out);
        };
        let s = cache.stats();
        out.set_item("data_reads", s.data_reads)?;
        out.set_item("children_reads", s.children_reads)?;
        out.set_item("stat_reads", s.stat_reads)?;
        out.set_item("events", s.events)?;
        out.set_item("resyncs", s.resyncs)?;
        match s.last_resync {
            Some(r) => {
                let last = PyDict::new(py);
                last.set_item("known", r.known)?;
                last.set_item("stat_reads", r.stat_reads)?;
                last.set_item("data_reads", r.data_reads)?;
                last.set_item("children_reads", r.children_reads)?;
                last.set_item("changed", r.changed)?;
                last.set_item("took", r.took.as_secs_f64())?;
                out.set_item("last_resync", last)?;
            }
            None => out.set_item("last_resync", py.None())?,
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
}
