//! Async iterators: persistent watches and session state changes.

use std::sync::Arc;

use aiozk::{EventKind, PersistentWatcher, SessionEvent, SessionState, StateCause};
use pyo3::exceptions::PyStopAsyncIteration;
use pyo3::prelude::*;
use tokio::sync::{broadcast, watch, Mutex};

use crate::bridge::{spawn_py, Failure};
use crate::types::watch_event_code;

/// The name of a session state, as seen from Python.
pub(crate) fn state_name(s: SessionState) -> &'static str {
    match s {
        SessionState::Connecting => "connecting",
        SessionState::Connected => "connected",
        SessionState::ConnectedReadOnly => "connected_read_only",
        SessionState::Disconnected => "disconnected",
        SessionState::Expired => "expired",
        SessionState::AuthFailed => "auth_failed",
        SessionState::Closed => "closed",
    }
}

/// The name of an event kind, as seen from Python.
fn kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::CatchUp => "catch_up",
        EventKind::Resync => "resync",
        EventKind::NewSession => "new_session",
        EventKind::Ended => "ended",
        _ => "change",
    }
}

fn cause_name(c: &StateCause) -> String {
    match c {
        StateCause::Handshake => "handshake".into(),
        StateCause::ConnectionLost(e) => format!("connection lost: {e}"),
        StateCause::ServerExpired => "expired by the server".into(),
        StateCause::ClientExpired => "expired: no server reached within the session timeout".into(),
        StateCause::AuthRejected(e) => format!("authentication rejected: {e}"),
        StateCause::UserClose => "closed".into(),
        StateCause::Attempt => "connecting".into(),
    }
}

/// A persistent watch's state: the watcher (gone once ended or closed) and a stop flag.
pub(crate) struct PersistentWatchInner {
    watcher: Mutex<Option<PersistentWatcher>>,
    stop: watch::Sender<bool>,
}

impl PersistentWatchInner {
    pub(crate) fn new(watcher: PersistentWatcher) -> Arc<Self> {
        Arc::new(Self {
            watcher: Mutex::new(Some(watcher)),
            stop: watch::channel(false).0,
        })
    }
}

/// A persistent (or recursive) watch: an async iterator of `(type, state, path, zxid, kind)`
/// events with server paths (`zxid` is None when the server does not send it: before 3.9,
/// and for catch-up events; `kind` is `change`, `catch_up`, `resync` or `new_session`, see
/// [`EventKind`]). Iteration ends when the watch ends (client closed, session expired
/// without a new one) or after `close()`, which also removes the watch from the server.
#[pyclass(module = "aiozk._aiozk", name = "PersistentWatch", frozen)]
pub(crate) struct PyPersistentWatch {
    inner: Arc<PersistentWatchInner>,
}

impl PyPersistentWatch {
    pub(crate) fn new(inner: Arc<PersistentWatchInner>) -> Self {
        Self { inner }
    }
}

#[pymethods]
impl PyPersistentWatch {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        spawn_py(
            py,
            async move {
                let mut stop = inner.stop.subscribe();
                let mut guard = inner.watcher.lock().await;
                let Some(watcher) = guard.as_mut() else {
                    return Ok::<_, Failure>(None);
                };
                let event = tokio::select! {
                    event = watcher.next() => event,
                    _ = stop.wait_for(|s| *s) => None,
                };
                let event = event.filter(|e| !e.is_end());
                if event.is_none() {
                    *guard = None;
                }
                Ok(event.map(|e| {
                    (
                        watch_event_code(e.event_type),
                        state_name(e.state),
                        e.path,
                        e.zxid,
                        kind_name(e.kind),
                    )
                }))
            },
            |py, event| match event {
                Some(e) => Ok(e.into_pyobject(py)?.into_any().unbind()),
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }

    /// Ends the iteration and removes the watch, as `close()`, then waits until the server
    /// has processed the removal: a sync on `client`'s session is queued behind it (the
    /// session writes the removal when the watcher is dropped, and the server answers in
    /// order). On servers before 3.9, while a one-shot watch of the same session waits on
    /// the path, the server watch is removed once that one has fired (their removeWatches
    /// would remove both).
    fn remove<'py>(
        &self,
        py: Python<'py>,
        client: PyRef<'py, crate::client::PyClient>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let inner = Arc::clone(&self.inner);
        let client = client.client.clone();
        inner.stop.send_replace(true);
        spawn_py(
            py,
            async move {
                // Waits for an `__anext__` in progress, which gives the lock up at the stop.
                let watcher = inner.watcher.lock().await.take();
                drop(watcher);
                client.sync("/").await?;
                Ok::<_, Failure>(())
            },
            |py, ()| Ok(py.None()),
        )
    }

    /// Ends the iteration and removes the watch (from the server too when it was the last
    /// local watcher of its path and mode).
    fn close(&self) {
        self.inner.stop.send_replace(true);
        if let Ok(mut guard) = self.inner.watcher.try_lock() {
            guard.take();
        }
    }
}

/// Session state changes: an async iterator of `(state, cause, session_id)`; `state` is
/// `new_session` when a session was established (`session_id` is then its id).
#[pyclass(module = "aiozk._aiozk", name = "StateChanges", frozen)]
pub(crate) struct PyStateChanges {
    /// `None` once a terminal state was delivered: the iteration is over.
    rx: Arc<Mutex<Option<broadcast::Receiver<SessionEvent>>>>,
}

impl PyStateChanges {
    pub(crate) fn new(rx: broadcast::Receiver<SessionEvent>) -> Self {
        Self {
            rx: Arc::new(Mutex::new(Some(rx))),
        }
    }
}

#[pymethods]
impl PyStateChanges {
    fn __aiter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __anext__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let rx = Arc::clone(&self.rx);
        spawn_py(
            py,
            async move {
                let mut guard = rx.lock().await;
                let Some(rx) = guard.as_mut() else {
                    return Ok(None);
                };
                loop {
                    match rx.recv().await {
                        Ok(SessionEvent::State(s, cause)) => {
                            if s.is_terminal() {
                                // Nothing follows a terminal state (the sender may live on).
                                *guard = None;
                            }
                            return Ok::<_, Failure>(Some((
                                state_name(s),
                                cause_name(&cause),
                                None,
                            )));
                        }
                        Ok(SessionEvent::NewSession { session_id }) => {
                            return Ok(Some(("new_session", String::new(), Some(session_id))))
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => {
                            *guard = None;
                            return Ok(None);
                        }
                    }
                }
            },
            |py, event| match event {
                Some(e) => Ok(e.into_pyobject(py)?.into_any().unbind()),
                None => Err(PyStopAsyncIteration::new_err(())),
            },
        )
    }
}
