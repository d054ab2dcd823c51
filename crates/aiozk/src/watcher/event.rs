//! The watch event as the application sees it: the server's event with the chroot removed.

use aiozk_proto::EventType;

use crate::path::Chroot;
use crate::session::SessionState;

/// A watch event as seen by the application: the path has the chroot removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchedEvent {
    /// What happened. [`EventType::None`] means the watch ended with the session (see
    /// `state`).
    pub event_type: EventType,
    /// `Connected` for node events; `Expired`, `Closed` or `AuthFailed` when the watch ended
    /// because the session did.
    pub state: SessionState,
    /// The node's path, relative to the chroot.
    pub path: String,
    /// The zxid of the change, when the server sends it (3.9+).
    pub zxid: Option<i64>,
}

/// The application's view of a server event: its path relative to `chroot`.
pub(crate) fn strip_event(chroot: &Chroot, ev: crate::session::WatchedEvent) -> WatchedEvent {
    WatchedEvent {
        event_type: ev.event_type,
        state: ev.state,
        path: chroot.strip(&ev.path).to_owned(),
        zxid: ev.zxid,
    }
}
