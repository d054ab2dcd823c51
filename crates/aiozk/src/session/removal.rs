//! Removing server watches that no local watcher needs any more, with the watcher type the
//! server takes.
//!
//! From 3.9 a server keeps a persistent, a recursive and a one-shot watch side by side on one
//! path (ZOOKEEPER-4466) and removes each kind by its own type, Persistent (4) or
//! PersistentRecursive (5) (ZOOKEEPER-4472). A 3.6–3.8 server knows only types 1 to 3; there
//! a persistent watch is removed with Any (3), which takes the path's one-shot watches with it,
//! so the removal waits until those have fired.
//!
//! Which kind of server this is, is learned from the server itself, without asking `srvr`
//! (four-letter words may be disabled): the first removal of a connection is sent with the
//! typed watcher type. A 3.9 server answers it (success, or NOWATCHER); a 3.6–3.8 server
//! answers MARSHALLINGERROR, which it gives for an unknown watcher type, and the removal is
//! then done the 3.6–3.8 way. Each connection learns it anew, as a reconnect may reach a
//! server of another release (a rolling upgrade).

use std::time::Instant;

use aiozk_proto::{AddWatchMode, Encode, OpCode, Request, WatcherType};
use bytes::BytesMut;

use super::pending::PendingKind;
use super::watches::{Removal, WatchRemoval};
use super::{Session, Tokens};
use crate::error::Error;

impl<T: Tokens> Session<T> {
    /// Removes a persistent watcher. When it was the last local watcher of its path, the
    /// server watch is removed too, with the watcher type the server takes (see the module
    /// documentation). The stream ends ([`super::Event::StreamEnded`]) unless it already has.
    pub fn remove_persistent(&mut self, now: Instant, stream: T::Stream) {
        let (path, recursive) = match self.drop_persistent(stream) {
            None | Some(Removal::Keep) => return,
            Some(Removal::Remove(path, recursive)) => (path, recursive),
            Some(Removal::Downgrade(path)) => {
                if self.can_send() {
                    let mut body = BytesMut::new();
                    Request::AddWatch {
                        path: &path,
                        mode: AddWatchMode::Persistent,
                    }
                    .encode(&mut body);
                    let kind = PendingKind::RemoveWatches { typed: None };
                    self.write_request(now, OpCode::AddWatch, &body, kind);
                    // On 3.6–3.8 that addWatch replaced the recursive watch; from 3.9 the
                    // recursive one stays beside it and is removed by its type.
                    if self.watch_removal != WatchRemoval::AnyOnly {
                        self.send_typed_removal(now, path, true, false);
                    }
                }
                return;
            }
        };
        if !self.can_send() {
            // The server watch goes with the connection; re-registration will skip it.
            return;
        }
        match self.watch_removal {
            WatchRemoval::Typed => self.send_typed_removal(now, path, recursive, false),
            WatchRemoval::Unknown => self.send_typed_removal(now, path, recursive, true),
            WatchRemoval::AnyOnly => self.remove_with_any(now, path),
        }
    }

    /// The reply to a typed removal: the server's answer says which kind of server it is.
    /// `fallback` is the path to remove the 3.6–3.8 way when the server turns out to be one.
    pub(super) fn typed_removal_answered(
        &mut self,
        now: Instant,
        result: &Result<aiozk_proto::Response, Error>,
        fallback: Option<String>,
    ) {
        if *result == Err(Error::MarshallingError) {
            self.watch_removal = WatchRemoval::AnyOnly;
            // Unless the path is watched persistently again meanwhile (that addWatch
            // replaced the old watch).
            if let Some(path) = fallback.filter(|p| !self.watches.has_persistent(p)) {
                self.remove_with_any(now, path);
            }
        } else {
            self.watch_removal = WatchRemoval::Typed;
        }
    }

    fn send_typed_removal(&mut self, now: Instant, path: String, recursive: bool, probe: bool) {
        let watcher_type = if recursive {
            WatcherType::PersistentRecursive
        } else {
            WatcherType::Persistent
        };
        let mut body = BytesMut::new();
        Request::RemoveWatches {
            path: &path,
            watcher_type,
        }
        .encode(&mut body);
        let fallback = probe.then_some(path);
        let kind = PendingKind::RemoveWatches {
            typed: Some(fallback),
        };
        self.write_request(now, OpCode::RemoveWatches, &body, kind);
    }

    /// The 3.6–3.8 removal: type Any, deferred while one-shot watches on the path still need
    /// the server's tables.
    fn remove_with_any(&mut self, now: Instant, path: String) {
        if self.watches.path_is_watched(&path) {
            self.deferred_removals.insert(path);
            return;
        }
        self.send_remove_watches(now, &path);
    }

    /// removeWatches with type Any.
    pub(super) fn send_remove_watches(&mut self, now: Instant, path: &str) {
        let mut body = BytesMut::new();
        Request::RemoveWatches {
            path,
            watcher_type: WatcherType::Any,
        }
        .encode(&mut body);
        let kind = PendingKind::RemoveWatches { typed: None };
        self.write_request(now, OpCode::RemoveWatches, &body, kind);
    }
}
