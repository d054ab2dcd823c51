//! Value conversions: `Stat` (with aiozk's attribute names), ACLs, node data and watch event
//! codes.

use aiozk::{Acl, EventType, Perms, Stat};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};

/// A znode's Stat, with aiozk's attribute names (`aiozk.protocol.stat.Stat`).
#[pyclass(module = "aiozk.protocol.stat", name = "Stat", frozen, eq, get_all)]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PyStat {
    created_zxid: i64,
    last_modified_zxid: i64,
    created: i64,
    modified: i64,
    version: i32,
    child_version: i32,
    acl_version: i32,
    ephemeral_owner: i64,
    data_length: i32,
    num_children: i32,
    last_modified_children: i64,
}

#[pymethods]
impl PyStat {
    #[new]
    #[pyo3(signature = (created_zxid=0, last_modified_zxid=0, created=0, modified=0, version=0,
        child_version=0, acl_version=0, ephemeral_owner=0, data_length=0, num_children=0,
        last_modified_children=0))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        created_zxid: i64,
        last_modified_zxid: i64,
        created: i64,
        modified: i64,
        version: i32,
        child_version: i32,
        acl_version: i32,
        ephemeral_owner: i64,
        data_length: i32,
        num_children: i32,
        last_modified_children: i64,
    ) -> Self {
        Self {
            created_zxid,
            last_modified_zxid,
            created,
            modified,
            version,
            child_version,
            acl_version,
            ephemeral_owner,
            data_length,
            num_children,
            last_modified_children,
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "Stat(created_zxid={}, last_modified_zxid={}, created={}, modified={}, version={}, \
             child_version={}, acl_version={}, ephemeral_owner={}, data_length={}, \
             num_children={}, last_modified_children={})",
            self.created_zxid,
            self.last_modified_zxid,
            self.created,
            self.modified,
            self.version,
            self.child_version,
            self.acl_version,
            self.ephemeral_owner,
            self.data_length,
            self.num_children,
            self.last_modified_children
        )
    }

    fn __hash__(&self) -> u64 {
        // Two Stats of the same node version are equal; the zxids identify the version.
        (self.created_zxid as u64)
            ^ (self.last_modified_zxid as u64).rotate_left(17)
            ^ (self.version as u64).rotate_left(43)
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let s = slf.get();
        let args = (
            s.created_zxid,
            s.last_modified_zxid,
            s.created,
            s.modified,
            s.version,
            s.child_version,
            s.acl_version,
            s.ephemeral_owner,
            s.data_length,
            s.num_children,
            s.last_modified_children,
        );
        PyTuple::new(
            slf.py(),
            [
                slf.get_type().into_any(),
                args.into_pyobject(slf.py())?.into_any(),
            ],
        )
    }
}

impl From<Stat> for PyStat {
    fn from(s: Stat) -> Self {
        Self {
            created_zxid: s.czxid,
            last_modified_zxid: s.mzxid,
            created: s.ctime,
            modified: s.mtime,
            version: s.version,
            child_version: s.cversion,
            acl_version: s.aversion,
            ephemeral_owner: s.ephemeral_owner,
            data_length: s.data_length,
            num_children: s.num_children,
            last_modified_children: s.pzxid,
        }
    }
}

/// A Stat as a Python object.
pub(crate) fn stat(py: Python<'_>, s: Stat) -> PyResult<Py<PyAny>> {
    Ok(Py::new(py, PyStat::from(s))?.into_any())
}

/// An optional Stat as a Python object (`None` when absent).
pub(crate) fn opt_stat(py: Python<'_>, s: Option<Stat>) -> PyResult<Py<PyAny>> {
    match s {
        Some(s) => stat(py, s),
        None => Ok(py.None()),
    }
}

/// Node data as `bytes`.
pub(crate) fn bytes(py: Python<'_>, data: &[u8]) -> Py<PyAny> {
    PyBytes::new(py, data).into_any().unbind()
}

/// An ACL entry from Python: `(perms, scheme, id)`.
pub(crate) type AclTuple = (u32, String, String);

/// ACL entries from Python tuples.
pub(crate) fn acl_from(entries: Vec<AclTuple>) -> Vec<Acl> {
    entries
        .into_iter()
        .map(|(perms, scheme, id)| Acl::new(Perms::from_bits(perms), scheme, id))
        .collect()
}

/// ACL entries as Python tuples.
pub(crate) fn acl_to(acl: Vec<Acl>) -> Vec<AclTuple> {
    acl.into_iter()
        .map(|a| (a.perms.bits(), a.id.scheme, a.id.id))
        .collect()
}

/// The event code of a watch event (aiozk's `WatchEvent` type constants).
pub(crate) fn watch_event_code(t: EventType) -> i32 {
    match t {
        EventType::None => -1,
        EventType::NodeCreated => 1,
        EventType::NodeDeleted => 2,
        EventType::NodeDataChanged => 3,
        EventType::NodeChildrenChanged => 4,
        EventType::DataWatchRemoved => 5,
        EventType::ChildWatchRemoved => 6,
        EventType::PersistentWatchRemoved => 7,
    }
}
