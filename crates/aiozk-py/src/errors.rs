//! `aiozk::Error` to the classes of `aiozk.exc`, variant by variant.
//!
//! Server error codes map to aiozk's `ResponseError` subclasses (instantiated without
//! arguments, so `str(e)` is the class name, as in aiozk); codes aiozk does not know map to
//! subclasses of `UnknownError` added by this package. Client-side errors map to aiozk's
//! client classes (`TimeoutError`, `FailedRetry`, `NoServersError`, ...) or to the package's
//! additions, each documented in `aiozk/exc.py`.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

use aiozk::Error;

fn exc_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static EXC: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    EXC.get_or_try_init(py, || Ok::<_, PyErr>(py.import("aiozk.exc")?.unbind()))
        .map(|m| m.bind(py))
}

/// The `aiozk.exc` class name of a server error, if `e` is one.
fn server_class(e: &Error) -> Option<&'static str> {
    Some(match e {
        Error::SystemError => "ZKSystemError",
        Error::RuntimeInconsistency => "RuntimeInconsistency",
        Error::DataInconsistency => "DataInconsistency",
        Error::ConnectionLoss => "ConnectionLoss",
        Error::MarshallingError => "MarshallingError",
        Error::Unimplemented => "Unimplemented",
        Error::OperationTimeout => "OperationTimeout",
        Error::BadArguments => "BadArguments",
        Error::InvalidState => "InvalidState",
        Error::UnknownSession => "UnknownSession",
        Error::NewConfigNoQuorum => "NewConfigNoQuorum",
        Error::ReconfigInProgress => "ReconfigInProcess",
        Error::SslConnectionError => "SSLConnectionError",
        Error::ApiError => "APIError",
        Error::NoNode => "NoNode",
        Error::NoAuth => "NoAuth",
        Error::BadVersion => "BadVersion",
        Error::NoChildrenForEphemerals => "NoChildrenForEphemerals",
        Error::NodeExists => "NodeExists",
        Error::NotEmpty => "NotEmpty",
        Error::SessionExpired => "SessionExpired",
        Error::InvalidCallback => "InvalidCallback",
        Error::InvalidAcl => "InvalidACL",
        Error::AuthFailed => "AuthFailed",
        Error::Closing => "SessionClosing",
        Error::Nothing => "NothingToProcess",
        Error::SessionMoved => "SessionMoved",
        Error::NotReadOnly => "NotReadOnly",
        Error::EphemeralOnLocalSession => "EphemeralOnLocalSession",
        Error::NoWatcher => "NoWatcher",
        Error::RequestTimeout => "RequestTimeout",
        Error::ReconfigDisabled => "ReconfigDisabled",
        Error::SessionClosedRequireSaslAuth => "SessionClosedRequireSaslAuth",
        Error::QuotaExceeded => "QuotaExceeded",
        Error::Throttled => "Throttled",
        Error::RolledBack => "RolledBack",
        _ => return None,
    })
}

/// The exception instance for `e`.
pub(crate) fn to_py(py: Python<'_>, e: Error) -> PyErr {
    match build(py, e) {
        Ok(err) => err,
        Err(err) => err,
    }
}

fn build(py: Python<'_>, e: Error) -> PyResult<PyErr> {
    let exc = exc_module(py)?;
    if let Some(name) = server_class(&e) {
        return Ok(PyErr::from_value(exc.getattr(name)?.call0()?));
    }
    let message = e.to_string();
    let value = match e {
        Error::Unknown(code) => exc.getattr("UnknownError")?.call1((code,))?,
        Error::TransactionFailed {
            index,
            error,
            results,
        } => {
            let failed = to_py(py, *error).into_value(py);
            let per_op: Vec<Py<PyAny>> = results
                .into_iter()
                .map(|r| to_py(py, r).into_value(py).into_any())
                .collect();
            let value = exc.getattr("TransactionFailed")?.call1((message,))?;
            value.setattr("index", index)?;
            value.setattr("error", failed)?;
            value.setattr("results", PyList::new(py, per_op)?)?;
            value
        }
        // The server's AuthFailed class, with this side's reason after the code.
        Error::SaslFailed(_) => exc.getattr("AuthFailed")?.call1((-115, message))?,
        Error::Timeout => exc.getattr("TimeoutError")?.call1((message,))?,
        Error::Closed => exc.getattr("ClientClosed")?.call1((message,))?,
        Error::InvalidPath { .. } => exc.getattr("InvalidPath")?.call1((message,))?,
        Error::InvalidArgument(_) => exc.getattr("InvalidArgument")?.call1((message,))?,
        Error::ProtocolViolation(_) => exc.getattr("ProtocolError")?.call1((message,))?,
        Error::FrameTooLarge { size, limit, reply } => {
            // In the words of this package: its option is a keyword of ZKClient.
            let hint = format!(
                "exceeds the frame limit of {limit} bytes: raise it with \
                 ZKClient(..., max_frame={})",
                size.next_power_of_two().max(limit.saturating_add(1))
            );
            let (class, text) = if reply {
                ("ProtocolError", format!("a reply of {size} bytes {hint}"))
            } else {
                (
                    "InvalidArgument",
                    format!(
                        "a request of {size} bytes {hint} (the server's jute.maxbuffer must \
                         allow it too)"
                    ),
                )
            };
            let value = exc.getattr(class)?.call1((text,))?;
            value.setattr("size", size)?;
            value.setattr("limit", limit)?;
            value
        }
        Error::NoHosts(_) => exc.getattr("NoServersError")?.call1((message,))?,
        Error::Tls(_) => exc.getattr("TLSError")?.call1((message,))?,
        Error::Io(_) => exc.getattr("ConnectionLoss")?.call1((message,))?,
        Error::RetriesExhausted { attempts, last } => {
            let last = to_py(py, *last).into_value(py);
            let value = exc.getattr("FailedRetry")?.call1((message,))?;
            value.setattr("attempts", attempts)?;
            value.setattr("last_error", last.clone_ref(py))?;
            value.setattr("__cause__", last)?;
            value
        }
        _ => exc.getattr("ZKError")?.call1((message,))?,
    };
    Ok(PyErr::from_value(value))
}
