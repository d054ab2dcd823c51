//! The client's batch and introspection calls: `multi_read`, `get_ephemerals`,
//! `get_all_children_number`, `whoami`, `get_config` and `reconfig` (the `Client` methods
//! of the same names in `client.rs` call these).

use aiozk::{ReadOp, ReadResult};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use crate::bridge::{self, spawn_request as spawn};
use crate::client::{PyClient, WatchKind};
use crate::{errors, types};

/// The node that holds the ensemble's dynamic configuration (never chrooted).
const CONFIG_NODE: &str = "/zookeeper/config";

fn data_and_stat(py: Python<'_>, (data, stat): (bytes::Bytes, aiozk::Stat)) -> PyResult<Py<PyAny>> {
    Ok(
        PyTuple::new(py, [types::bytes(py, &data), types::stat(py, stat)?])?
            .into_any()
            .unbind(),
    )
}

impl PyClient {
    /// `ops`: `("get_data", path)` or `("get_children", path)` pairs. Resolves to one entry
    /// per read: `(data, stat)`, a list of child names, or the exception instance of a
    /// read that failed (not raised).
    pub(crate) fn multi_read_impl<'py>(
        &self,
        py: Python<'py>,
        ops: Vec<(String, String)>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        let reads = ops
            .into_iter()
            .map(|(kind, path)| match kind.as_str() {
                "get_data" => Ok(ReadOp::GetData(self.path(&path))),
                "get_children" => Ok(ReadOp::GetChildren(self.path(&path))),
                other => Err(PyValueError::new_err(format!(
                    "unknown read {other:?} (get_data or get_children)"
                ))),
            })
            .collect::<PyResult<Vec<_>>>()?;
        spawn(py, self.client.multi_read(&reads), |py, results| {
            let items = results
                .into_iter()
                .map(|r| match r {
                    Ok(ReadResult::Data(data, stat)) => data_and_stat(py, (data, stat)),
                    Ok(ReadResult::Children(names)) => {
                        Ok(PyList::new(py, names)?.into_any().unbind())
                    }
                    Err(e) => Ok(errors::to_py(py, e).into_value(py).into_any()),
                })
                .collect::<PyResult<Vec<_>>>()?;
            Ok(PyList::new(py, items)?.into_any().unbind())
        })
    }

    /// This session's ephemeral nodes whose paths start with `prefix` (a string prefix,
    /// taken from the chroot), relative to the chroot.
    pub(crate) fn get_ephemerals_impl<'py>(
        &self,
        py: Python<'py>,
        prefix: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        if !(prefix.is_empty() || prefix.starts_with('/')) {
            return Err(PyValueError::new_err(
                "an ephemeral prefix must start with '/'",
            ));
        }
        let chroot = self.chroot.clone();
        // A plain prefix, as the server compares: `/a/lock-` matches `/a/lock-0000000001`.
        let server = match (chroot.as_str(), prefix) {
            (None, "") => "/".to_owned(),
            (None, p) => p.to_owned(),
            (Some(c), "" | "/") => c.to_owned(),
            (Some(c), p) => format!("{c}{p}"),
        };
        let fut = self.client.get_ephemerals(&server);
        spawn(
            py,
            async move {
                let paths = fut.await?;
                Ok(paths
                    .into_iter()
                    .filter(|p| {
                        chroot.as_str().is_none_or(|c| {
                            p.strip_prefix(c)
                                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
                        })
                    })
                    .map(|p| PyClient::strip(&chroot, p))
                    .collect::<Vec<_>>())
            },
            |py, paths| Ok(PyList::new(py, paths)?.into_any().unbind()),
        )
    }

    /// The number of descendants of `path` (itself not counted).
    pub(crate) fn get_all_children_number_impl<'py>(
        &self,
        py: Python<'py>,
        path: &str,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        spawn(
            py,
            self.client.get_all_children_number(&self.path(path)),
            |py, n| Ok(n.into_pyobject(py)?.into_any().unbind()),
        )
    }

    /// The identities of this connection: `[(scheme, user), ...]`.
    pub(crate) fn whoami_impl<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        spawn(py, self.client.whoami(), |py, ids| {
            let pairs: Vec<(String, String)> =
                ids.into_iter().map(|i| (i.auth_scheme, i.user)).collect();
            Ok(PyList::new(py, pairs)?.into_any().unbind())
        })
    }

    /// `(data, stat)` of the dynamic configuration; with `watch`, a data watch on its node
    /// reported to `watch(type, "/zookeeper/config")`.
    pub(crate) fn get_config_impl<'py>(
        &self,
        py: Python<'py>,
        watch: Option<Py<PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        match self.watch_target(py, watch)? {
            None => spawn(py, self.client.get_config(), data_and_stat),
            Some(target) => self.spawn_forwarded(
                py,
                self.client.get_config_watched(),
                WatchKind::Data,
                CONFIG_NODE.to_owned(),
                target,
                data_and_stat,
            ),
        }
    }

    /// Changes the ensemble's membership; resolves to the new `(config, stat)`.
    pub(crate) fn reconfig_impl<'py>(
        &self,
        py: Python<'py>,
        joining: &str,
        leaving: &str,
        new_members: &str,
        from_config: i64,
    ) -> PyResult<Bound<'py, PyAny>> {
        bridge::running_loop(py)?;
        spawn(
            py,
            self.client
                .reconfig(joining, leaving, new_members, from_config),
            data_and_stat,
        )
    }
}
