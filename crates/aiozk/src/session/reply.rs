//! Replies: each frame from the server matched to what it answers (a request, an auth
//! packet, a ping) or dispatched as a watch event.

use std::time::Instant;

use aiozk_proto::consts::xid;
use aiozk_proto::{decode_response, Decode, EventType, ReplyHeader, Response, WatcherEvent};
use bytes::Bytes;
use tracing::warn;

use super::pending::{Pending, PendingKind};
use super::types::{Event, EventKind, SessionState, StateCause, Tokens, WatchedEvent};
use super::watches::{watch_set_by, Existence, Hit};
use super::Session;
use crate::error::Error;

impl<T: Tokens> Session<T> {
    pub(super) fn handle_frame(&mut self, now: Instant, mut frame: Bytes) -> Result<(), String> {
        let header =
            ReplyHeader::decode(&mut frame).map_err(|e| format!("bad reply header: {e}"))?;
        match header.xid {
            xid::NOTIFICATION => {
                let ev = WatcherEvent::decode(&mut frame)
                    .map_err(|e| format!("bad watch notification: {e}"))?;
                let event_type = EventType::from_i32(ev.event_type)
                    .filter(|t| {
                        matches!(
                            t,
                            EventType::NodeCreated
                                | EventType::NodeDeleted
                                | EventType::NodeDataChanged
                                | EventType::NodeChildrenChanged
                        )
                    })
                    .ok_or_else(|| format!("bad notification type {}", ev.event_type))?;
                self.stats.notifications += 1;
                let zxid = (header.zxid > 0).then_some(header.zxid);
                // From 3.9 a live event carries the zxid of its change: the watches are now
                // up to date to it (catch-up events carry none).
                self.see_zxid(header.zxid);
                let h = self.watches.path_hash(&ev.path);
                let mut kind = EventKind::Change;
                if let Some(record) = self.requests.unanswered_records().find(|r| r.covers(h)) {
                    if !record.first_of(h, event_type) {
                        // Reported twice by one re-registration (a deleted node's data and
                        // child watches).
                        return Ok(());
                    }
                    kind = EventKind::CatchUp;
                }
                let event = WatchedEvent {
                    event_type,
                    state: self.state,
                    path: ev.path,
                    zxid,
                    kind,
                };
                let streams = self.dispatch(now, event);
                if streams > 0 && kind == EventKind::Change && zxid.is_none() {
                    self.fence(now);
                }
                Ok(())
            }
            xid::PING => {
                if let Some(sent) = self.health.ping_answered() {
                    self.heard(sent);
                }
                // The server's last zxid as it answered: every notification it had sent for
                // changes up to it came before.
                self.ping_outstanding = false;
                self.see_zxid(header.zxid);
                Ok(())
            }
            xid::AUTH => {
                let token = self
                    .auth
                    .pop_reply()
                    .ok_or("auth reply without an auth request")?;
                if header.err != 0 {
                    let err = Error::from_code(header.err);
                    if let Some(token) = token {
                        self.events.push_back(Event::Reply(token, Err(err.clone())));
                    }
                    self.stop(
                        SessionState::AuthFailed,
                        StateCause::AuthRejected(err),
                        &Error::AuthFailed,
                    );
                } else if let Some(token) = token {
                    self.events
                        .push_back(Event::Reply(token, Ok(Response::Empty)));
                }
                Ok(())
            }
            x => {
                let pending = match self.requests.pop_reply(x) {
                    Ok(pending) => pending,
                    Err(_) if self.refused_out_of_order(now, x, header.err) => return Ok(()),
                    Err(msg) => return Err(msg),
                };
                // Not the probe's: it goes before the watches are set again, which ask for
                // the changes after the last zxid seen, and its reply carries the server's
                // latest.
                if !matches!(pending.kind, PendingKind::Probe) {
                    self.see_zxid(header.zxid);
                }
                self.heard(pending.sent_at);
                self.complete(now, pending, &header, frame)
            }
        }
    }

    fn complete(
        &mut self,
        now: Instant,
        p: Pending<T>,
        header: &ReplyHeader,
        mut body: Bytes,
    ) -> Result<(), String> {
        let err = header.err;
        if let PendingKind::Batch(_) = p.kind {
            return self.complete_batch(now, p, err, body);
        }
        if err == 0 && matches!(p.kind, PendingKind::User { watch: None, .. }) {
            self.reads.note_result(p.op, body.len());
        }
        let result = if err == 0 {
            match decode_response(p.op, &mut body) {
                Ok(response) => Ok(response),
                Err(e) => {
                    let msg = format!("bad {:?} reply: {e}", p.op);
                    // Back in the queue, so that the connection loss fails it properly.
                    self.requests.put_back(p);
                    return Err(msg);
                }
            }
        } else {
            Err(Error::from_code(err))
        };
        match p.kind {
            PendingKind::User { token, watch } => {
                if let Some(w) = watch {
                    if let Some(kind) = watch_set_by(p.op, w.kind, &result) {
                        self.watches.add_oneshot(kind, w.path, w.token);
                    }
                }
                if result.is_err() {
                    self.stats.errors += 1;
                }
                self.events.push_back(Event::Reply(token, result));
            }
            PendingKind::AddWatch { token, id } => {
                if result.is_ok() {
                    self.watches.activate_persistent(id);
                } else {
                    self.stats.errors += 1;
                    self.drop_persistent(id);
                }
                self.events.push_back(Event::Reply(token, result));
            }
            PendingKind::SetWatches(record) => match result {
                Ok(_) => self.resync(record.into_resync(header.zxid)),
                Err(e) => warn!(error = %e, "watch re-registration failed"),
            },
            PendingKind::Existence { path } => match result {
                Ok(_) => self.watches.set_existence(&path, Existence::Present),
                Err(Error::NoNode) => self.watches.set_existence(&path, Existence::Absent),
                // Not known: its catch-up will be a Resync.
                Err(_) => {}
            },
            PendingKind::RemoveWatches { typed: None } => {}
            PendingKind::RemoveWatches {
                typed: Some(fallback),
            } => self.typed_removal_answered(now, &result, fallback),
            PendingKind::Sasl => self.sasl_reply(now, result),
            PendingKind::Probe => self.probe_answered(now, result),
            // Completed above.
            PendingKind::Batch(_) => {}
            PendingKind::Close => {
                self.close_transport = true;
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed);
            }
        }
        let _ = now;
        Ok(())
    }

    /// Delivers a notification; returns how many persistent watchers it reached.
    fn dispatch(&mut self, now: Instant, event: WatchedEvent) -> usize {
        let events = &mut self.events;
        let mut streams = 0;
        let catch_up = event.kind == EventKind::CatchUp;
        self.watches.fire(&event, catch_up, |hit, event| match hit {
            Hit::Oneshot(token) => events.push_back(Event::Oneshot(token, event.clone())),
            Hit::Stream(stream) => {
                streams += 1;
                events.push_back(Event::Stream(*stream, event.clone()));
            }
            Hit::StreamEnded(stream) => events.push_back(Event::StreamEnded(stream)),
        });
        if self.deferred_removals.contains(&event.path)
            && !self.watches.path_is_watched(&event.path)
            && !self.watches.has_persistent(&event.path)
        {
            self.deferred_removals.remove(&event.path);
            self.send_remove_watches(now, &event.path);
        }
        streams
    }

    /// After a live event without a zxid (servers before 3.9) reached a persistent watcher:
    /// makes sure a reply follows it, whose zxid covers the change, so that a catch-up
    /// after a reconnect does not report the change again. Any reply that comes after a
    /// notification has a zxid at least that of its change; a ping is sent when nothing is
    /// on its way.
    fn fence(&mut self, now: Instant) {
        if self.requests.sent() == 0 && !self.ping_outstanding && self.can_send() {
            self.write_ping(now);
        }
    }

    /// Tells each watcher of `told` that it may have missed changes at or below its path.
    fn resync(&mut self, told: Vec<(T::Stream, String)>) {
        for (stream, path) in told {
            // A watcher removed meanwhile has had its stream ended.
            if !self.watches.holds_stream(stream) {
                continue;
            }
            let event = WatchedEvent {
                event_type: EventType::None,
                state: self.state,
                path,
                zxid: None,
                kind: EventKind::Resync,
            };
            self.events.push_back(Event::Stream(stream, event));
        }
    }
}
