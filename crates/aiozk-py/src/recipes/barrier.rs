//! `Barrier` and `DoubleBarrier`.

use std::sync::Arc;

use aiozk_recipes::{Barrier, DoubleBarrier};
use pyo3::prelude::*;

use super::args::{limit, none};
use crate::bridge::spawn;
use crate::client::PyClient;

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
