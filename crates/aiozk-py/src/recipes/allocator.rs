//! `Allocator`: items shared out among a party's members, with the strategy in Python.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aiozk_recipes::{Allocation, AllocationStrategy, Allocator, RendezvousHash, RoundRobin};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::args::none;
use crate::bridge::spawn;
use crate::client::PyClient;

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
