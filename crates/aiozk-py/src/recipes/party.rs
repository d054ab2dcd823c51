//! `Party`: a group of members.

use std::sync::Arc;

use aiozk_recipes::Party;
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::args::none;
use crate::bridge::spawn;
use crate::client::PyClient;

/// `aiozk_recipes::Party`.
#[pyclass(module = "aiozk._aiozk", name = "Party", frozen)]
pub(crate) struct PyParty {
    party: Arc<Party>,
}

#[pymethods]
impl PyParty {
    #[new]
    #[pyo3(signature = (client, path, name, layout="aiozk", shallow=false))]
    fn new(
        client: PyRef<'_, PyClient>,
        path: &str,
        name: &str,
        layout: &str,
        shallow: bool,
    ) -> PyResult<Self> {
        let layout: aiozk_recipes::Layout = layout
            .parse()
            .map_err(|e: aiozk::Error| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
        let mut party = Party::new(&client.client, &client.path(path), name)
            .map_err(|e| crate::errors::to_py(client.py(), e))?
            .with_layout(layout);
        if shallow {
            party = party.shallow();
        }
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
