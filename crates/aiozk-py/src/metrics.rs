//! The process's metrics recorder (`aiozk.metrics`): the Prometheus exporter's, installed
//! on request, and its text dump.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder (once; later calls do nothing). Clients started before it record
/// nothing.
#[pyfunction]
pub(crate) fn enable_metrics() -> PyResult<()> {
    if HANDLE.get().is_some() {
        return Ok(());
    }
    let handle = PrometheusBuilder::new().install_recorder().map_err(|e| {
        PyRuntimeError::new_err(format!("cannot install the metrics recorder: {e}"))
    })?;
    // Only the first installation can succeed, so this is the only value ever set.
    let _ = HANDLE.set(handle);
    Ok(())
}

/// The metrics in the Prometheus text format, or None before `enable_metrics()`.
#[pyfunction]
pub(crate) fn metrics_text() -> Option<String> {
    HANDLE.get().map(PrometheusHandle::render)
}
