//! The watch event as the application sees it: the server's event with the chroot removed.

use aiozk_proto::EventType;

use crate::path::Chroot;
use crate::session::{EventKind, SessionState};

/// A watch event as seen by the application: the path has the chroot removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened to the node. [`EventType::None`] for the events that are not about a
    /// node's change: see `kind` ([`EventKind::Resync`], [`EventKind::NewSession`],
    /// [`EventKind::Ended`]).
    pub event_type: EventType,
    /// `Connected` for node events; `Expired`, `Closed` or `AuthFailed` when the watch ended
    /// because the session did.
    pub state: SessionState,
    /// The node's path, relative to the chroot (the watched path for `Resync` and
    /// `NewSession`).
    pub path: String,
    /// The zxid of the change, when the server sends it (3.9+, live changes only).
    pub zxid: Option<i64>,
    /// How the event came about: a live change, a catch-up after a reconnect, a resync,
    /// the watch's move to a new session, or its end.
    pub kind: EventKind,
}

impl WatchedEvent {
    /// True when the watch ended with this event (the session ended): nothing follows.
    pub fn is_end(&self) -> bool {
        self.kind == EventKind::Ended
    }
}

/// The application's view of a server event: its path relative to `chroot`.
pub(crate) fn strip_event(chroot: &Chroot, ev: crate::session::WatchedEvent) -> WatchedEvent {
    WatchedEvent {
        event_type: ev.event_type,
        state: ev.state,
        path: chroot.strip(&ev.path).to_owned(),
        zxid: ev.zxid,
        kind: ev.kind,
    }
}
