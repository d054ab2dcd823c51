//! `aiozk_recipes::Fence` as the Python class `Fence`: writes that succeed only while a lock,
//! permit, lease or leadership is still held at the server (a transaction whose first
//! operation checks that the ownership node exists).
//!
//! Paths here are server paths: `aiozk.recipes.Fence` joins the chroot before calling and
//! strips it from the results.

use aiozk::path::Chroot;
use aiozk_recipes::Fence;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::bridge::{self, spawn_request as spawn};
use crate::client::create_options;
use crate::recipes::ownership::reason_name;
use crate::types::{self, AclTuple};

/// Writes fenced by an ownership node (from `Ownership.fence()` or `Leadership.fence()`).
#[pyclass(module = "aiozk._aiozk", name = "Fence", frozen)]
pub(crate) struct PyFence {
    fence: Fence,
}

impl PyFence {
    pub(crate) fn new(fence: Fence) -> Self {
        Self { fence }
    }
}

#[pymethods]
impl PyFence {
    /// The server path of the ownership node.
    #[getter]
    fn node(&self) -> &str {
        self.fence.node()
    }

    /// Why the ownership ended, or None while it lasts.
    #[getter]
    fn lost_reason(&self) -> Option<&'static str> {
        self.fence.lost_reason().map(reason_name)
    }

    /// Creates a node if the ownership holds; resolves to the created server path.
    #[pyo3(signature = (path, data, acl=None, ephemeral=false, sequential=false, container=false, ttl=None))]
    #[allow(clippy::too_many_arguments)]
    fn create<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        data: &[u8],
        acl: Option<Vec<AclTuple>>,
        ephemeral: bool,
        sequential: bool,
        container: bool,
        ttl: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        let options = create_options(acl, ephemeral, sequential, container, ttl)?;
        spawn(py, self.fence.create(path, data, &options), |py, p| {
            Ok(p.into_pyobject(py)?.into_any().unbind())
        })
    }

    /// Sets a node's data if the ownership holds (`version` None: any); resolves to the
    /// node's new Stat.
    #[pyo3(signature = (path, data, version=None))]
    fn set_data<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        spawn(py, self.fence.set_data(path, data, version), types::stat)
    }

    /// Deletes a node if the ownership holds (`version` None: any).
    #[pyo3(signature = (path, version=None))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        path: &str,
        version: Option<i32>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        spawn(py, self.fence.delete(path, version), |py, ()| Ok(py.None()))
    }

    /// Commits the operation tuples `ops` (as `Client.commit`) after the fence check;
    /// resolves to one tuple per operation, the check (`("checked",)`) first.
    fn commit<'py>(&self, py: Python<'py>, ops: Bound<'py, PyList>) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        let txn = crate::transaction::add_ops(self.fence.transaction(), &ops, str::to_owned)?;
        crate::transaction::commit(py, txn, Chroot::default())
    }
}
