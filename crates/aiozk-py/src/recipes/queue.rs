//! `Queue` and its items.

use std::sync::Mutex as StdMutex;

use aiozk_recipes::{Queue, QueueItem};
use pyo3::prelude::*;

use super::args::{limit, none};
use crate::bridge::spawn;
use crate::client::PyClient;
use crate::types;

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
