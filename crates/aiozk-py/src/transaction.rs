//! Transactions from Python: the operation tuples of `aiozk.Transaction` onto a Rust
//! `Transaction`, and its results back. Shared by `Client.commit` and `Fence.commit`.

use aiozk::path::Chroot;
use aiozk::{OpResult, Transaction};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::bridge::spawn_request as spawn;
use crate::client::{create_options, PyClient};
use crate::types;

/// Adds the operations `ops` to `txn`, each path mapped by `path`. `ops`: tuples
/// `("create", path, data, acl, ephemeral, sequential, container, ttl)`, `("delete", path,
/// version)`, `("set_data", path, data, version)`, `("check", path, version)`; `data` None
/// is null data.
pub(crate) fn add_ops(
    mut txn: Transaction,
    ops: &Bound<'_, PyList>,
    path: impl Fn(&str) -> String,
) -> PyResult<Transaction> {
    for op in ops.iter() {
        let kind: String = op.get_item(0)?.extract()?;
        let given: String = op.get_item(1)?.extract()?;
        let path = path(&given);
        txn = match kind.as_str() {
            "create" => {
                let data: Option<Vec<u8>> = op.get_item(2)?.extract()?;
                let options = create_options(
                    op.get_item(3)?.extract()?,
                    op.get_item(4)?.extract()?,
                    op.get_item(5)?.extract()?,
                    op.get_item(6)?.extract()?,
                    op.get_item(7)?.extract()?,
                )?;
                txn.create_opt(&path, data.as_deref(), &options)
            }
            "delete" => txn.delete(&path, op.get_item(2)?.extract()?),
            "set_data" => {
                let data: Option<Vec<u8>> = op.get_item(2)?.extract()?;
                txn.set_data_opt(&path, data.as_deref(), op.get_item(3)?.extract()?)
            }
            "check" => txn.check_version(&path, op.get_item(2)?.extract()?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown transaction operation {other:?}"
                )))
            }
        };
    }
    Ok(txn)
}

/// Commits `txn` (queued now); resolves to one tuple per operation: `("created", path,
/// stat_or_None)` with `chroot` removed from the path, `("deleted",)`, `("updated", stat)`,
/// `("checked",)`.
pub(crate) fn commit<'py>(
    py: Python<'py>,
    txn: Transaction,
    chroot: Chroot,
) -> PyResult<Bound<'py, PyAny>> {
    let fut = txn.commit();
    spawn(
        py,
        async move {
            let results = fut.await?;
            Ok((chroot, results))
        },
        |py, (chroot, results)| {
            let items: Vec<Py<PyAny>> = results
                .into_iter()
                .map(|r| -> PyResult<Py<PyAny>> {
                    Ok(match r {
                        OpResult::Created { path, stat } => (
                            "created",
                            PyClient::strip(&chroot, path),
                            types::opt_stat(py, stat)?,
                        )
                            .into_pyobject(py)?
                            .into_any()
                            .unbind(),
                        OpResult::Deleted => ("deleted",).into_pyobject(py)?.into_any().unbind(),
                        OpResult::Updated(stat) => ("updated", types::stat(py, stat)?)
                            .into_pyobject(py)?
                            .into_any()
                            .unbind(),
                        OpResult::Checked => ("checked",).into_pyobject(py)?.into_any().unbind(),
                    })
                })
                .collect::<PyResult<_>>()?;
            Ok(PyList::new(py, items)?.into_any().unbind())
        },
    )
}
