//! `DataWatcher` and `ChildrenWatcher`: streams of a node's data or children.

use std::sync::Arc;

use aiozk_recipes::{ChildrenWatcher, DataWatcher, WatcherOptions};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use tokio::sync::{watch, Mutex};

use crate::bridge::{spawn_py, Failure};
use crate::client::PyClient;
use crate::types;

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
