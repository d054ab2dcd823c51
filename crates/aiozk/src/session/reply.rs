//! Replies: each frame from the server matched to what it answers (a request, an auth
//! packet, a ping) or dispatched as a watch event.

use std::time::Instant;

use aiozk_proto::consts::xid;
use aiozk_proto::{decode_response, Decode, EventType, ReplyHeader, Response, WatcherEvent};
use bytes::Bytes;
use tracing::warn;

use super::pending::{Pending, PendingKind};
use super::types::{Event, SessionState, StateCause, Tokens, WatchedEvent};
use super::watches::{watch_set_by, Hit};
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
                let event = WatchedEvent {
                    event_type,
                    state: self.state,
                    path: ev.path,
                    zxid: (header.zxid > 0).then_some(header.zxid),
                };
                self.dispatch(now, event);
                Ok(())
            }
            xid::PING => Ok(()),
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
                let pending = self.requests.pop_reply(x)?;
                if header.zxid > self.last_zxid {
                    self.last_zxid = header.zxid;
                }
                self.complete(now, pending, header.err, frame)
            }
        }
    }

    fn complete(
        &mut self,
        now: Instant,
        p: Pending<T>,
        err: i32,
        mut body: Bytes,
    ) -> Result<(), String> {
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
            PendingKind::SetWatches => {
                if let Err(e) = result {
                    warn!(error = %e, "watch re-registration failed");
                }
            }
            PendingKind::RemoveWatches => {}
            PendingKind::Sasl => self.sasl_reply(now, result),
            PendingKind::Close => {
                self.close_transport = true;
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed);
            }
        }
        let _ = now;
        Ok(())
    }

    fn dispatch(&mut self, now: Instant, event: WatchedEvent) {
        let events = &mut self.events;
        self.watches.fire(&event, |hit, event| match hit {
            Hit::Oneshot(token) => events.push_back(Event::Oneshot(token, event.clone())),
            Hit::Stream(stream) => events.push_back(Event::Stream(*stream, event.clone())),
            Hit::StreamEnded(stream) => events.push_back(Event::StreamEnded(stream)),
        });
        if self.deferred_removals.contains(&event.path)
            && !self.watches.path_is_watched(&event.path)
            && !self.watches.has_persistent(&event.path)
        {
            self.deferred_removals.remove(&event.path);
            self.send_remove_watches(now, &event.path);
        }
    }
}
