//! `TreeCache`: a live mirror of a subtree.

use std::sync::Mutex as StdMutex;

use aiozk::Client;
use aiozk_recipes::{TreeCache, TreeCacheOptions};
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
