//! Argument and result conversions that the recipe classes share.

use std::time::Duration;

use pyo3::prelude::*;

/// A wait limit in seconds (`None`: no limit); a negative limit is already over.
pub(super) fn limit(timeout: Option<f64>) -> Option<Duration> {
    timeout.map(|t| Duration::from_secs_f64(if t.is_finite() && t > 0.0 { t } else { 0.0 }))
}

pub(super) fn none(py: Python<'_>, (): ()) -> PyResult<Py<PyAny>> {
    Ok(py.None())
}
