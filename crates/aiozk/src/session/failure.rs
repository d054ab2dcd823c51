//! What fails and what ends: a lost connection, a protocol violation, the session's stop
//! and its expiry, and the requests and watches each of them fails or ends.

use std::time::Instant;

use aiozk_proto::consts::PASSWORD_LEN;
use aiozk_proto::EventType;
use tracing::warn;

use super::health::Attempt;
use super::pending::PendingKind;
use super::types::{Event, EventKind, SessionState, StateCause, Tokens, WatchedEvent};
use super::watches::{Hit, Removal};
use super::{Phase, Session};
use crate::error::Error;

impl<T: Tokens> Session<T> {
    /// The connection went away for `reason`; the requests on it fail with `pending`.
    pub(super) fn lose_connection(&mut self, now: Instant, reason: Error, pending: &Error) {
        self.stats.disconnects += 1;
        self.moving = None;
        self.deferred_removals.clear();
        self.ping_outstanding = false;
        self.zxid_held = 0;
        self.auth.sasl = None;
        self.probe = None;
        self.alive_at = Some(self.last_recv);
        self.health.connection_lost(&reason);
        // Bytes not yet written belong to the lost connection (held requests among them:
        // they fail below with the ones on the wire).
        self.out.clear();
        self.fail_pending(pending);
        self.schedule_attempt(now);
        self.set_state(
            SessionState::Disconnected,
            StateCause::ConnectionLost(reason),
        );
        self.check_local_expiry(now);
    }

    /// The server broke the protocol: drop the connection. The requests on it fail with
    /// the violation, which names the server and what it sent (retried, they would get the
    /// same), except when `innocent`: a reply too large for our limit is the server's
    /// right, and the others only lost the connection.
    pub(super) fn protocol_violation(&mut self, now: Instant, msg: String, innocent: bool) {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            "{msg}; dropping the connection"
        );
        self.close_transport = true;
        // The stream cannot be resynchronised: whatever is left of it is garbage.
        self.inbuf.clear();
        let err = Error::ProtocolViolation(self.health.naming_peer(&msg));
        match self.phase {
            Phase::Connected { .. } if innocent => {
                self.lose_connection(now, err, &Error::ConnectionLoss)
            }
            Phase::Connected { .. } if self.probe.is_some() => {
                // Garbage before the connection answered anything properly (the MultiRead
                // probe is its first request): a failed attempt, as garbage in the handshake
                // is, so that servers that all send it end the retries with the cause.
                let pending = err.clone();
                self.lose_connection(now, err.clone(), &pending);
                self.attempt_failed_silently(Attempt::Garbage(err));
            }
            Phase::Connected { .. } => {
                let pending = err.clone();
                self.lose_connection(now, err, &pending)
            }
            Phase::Closing { .. } => {
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed)
            }
            _ => self.attempt_failed(now, Attempt::Garbage(err)),
        }
    }

    /// A reply too large for the frame limit is almost always the answer to the oldest
    /// request: fail that one with an error that says so (and that no retry policy repeats),
    /// instead of a connection loss that would make it come back forever. False when the
    /// oldest request is not the application's.
    pub(super) fn blame_oversized_reply(&mut self, e: &aiozk_proto::FrameError) -> bool {
        // One token, or every read of a batch: the frame is the whole batch's reply.
        let tokens = self.requests.pop_oldest_user();
        if tokens.is_empty() {
            return false;
        }
        let err = match *e {
            aiozk_proto::FrameError::TooLarge { len, max } => Error::FrameTooLarge {
                size: len,
                limit: max,
                reply: true,
            },
            ref other => Error::ProtocolViolation(other.to_string()),
        };
        for token in tokens {
            self.stats.errors += 1;
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
        true
    }

    pub(super) fn fail_pending(&mut self, err: &Error) {
        // Reads waiting for a batch were meant for this connection, like the requests held
        // back for a joint write in the outbox.
        for req in self.reads.take_staged() {
            self.stats.errors += 1;
            self.events
                .push_back(Event::Reply(req.token, Err(err.clone())));
        }
        let mut dropped_one = false;
        for p in self.requests.take_sent() {
            match p.kind {
                PendingKind::User { token, .. }
                    if crate::mutant("drop-pending") && !dropped_one =>
                {
                    // Neither answered nor dropped: its caller waits forever.
                    dropped_one = true;
                    std::mem::forget(token);
                }
                PendingKind::User { token, .. } if crate::mutant("complete-with-success") => {
                    let fake = match p.op {
                        aiozk_proto::OpCode::SetData => {
                            Some(aiozk_proto::Response::Stat(aiozk_proto::Stat::default()))
                        }
                        aiozk_proto::OpCode::Delete => Some(aiozk_proto::Response::Empty),
                        _ => None,
                    };
                    self.stats.errors += 1;
                    let reply = fake.ok_or_else(|| err.clone());
                    self.events.push_back(Event::Reply(token, reply));
                }
                PendingKind::User { token, .. } => {
                    self.stats.errors += 1;
                    self.events.push_back(Event::Reply(token, Err(err.clone())));
                }
                PendingKind::Batch(reads) => {
                    for read in reads {
                        self.stats.errors += 1;
                        self.events
                            .push_back(Event::Reply(read.token, Err(err.clone())));
                    }
                }
                PendingKind::AddWatch { token, id } => {
                    // The server may or may not hold the watch; the caller gets an error and
                    // no stream, so nothing local may stay behind.
                    self.drop_persistent(id);
                    self.stats.errors += 1;
                    self.events.push_back(Event::Reply(token, Err(err.clone())));
                }
                PendingKind::SetWatches(_)
                | PendingKind::Existence { .. }
                | PendingKind::RemoveWatches { .. }
                | PendingKind::Close
                | PendingKind::Sasl
                | PendingKind::Probe => {}
            }
        }
        for token in self.auth.take_sent() {
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
    }

    pub(super) fn fail_queued(&mut self, err: &Error) {
        for q in self.requests.take_queued() {
            self.stats.errors += 1;
            self.events
                .push_back(Event::Reply(q.token, Err(err.clone())));
        }
        for token in self.auth.take_waiting() {
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
        for (id, _, token, _) in self.requests.take_queued_add_watches() {
            self.drop_persistent(id);
            self.events.push_back(Event::Reply(token, Err(err.clone())));
        }
    }

    /// Unregisters a persistent watcher and ends its stream; `None` when it was not
    /// registered (its stream already ended).
    pub(super) fn drop_persistent(&mut self, stream: T::Stream) -> Option<Removal> {
        let removal = self.watches.remove_persistent(stream)?;
        self.events.push_back(Event::StreamEnded(stream));
        Some(removal)
    }

    /// Fails every request and ends every watch.
    pub(super) fn end_everything(&mut self, err: &Error, state: SessionState) {
        self.fail_pending(err);
        self.fail_queued(err);
        self.end_watches(state);
    }

    pub(super) fn stop(&mut self, state: SessionState, cause: StateCause, err: &Error) {
        self.close_transport = !matches!(self.phase, Phase::Waiting { .. } | Phase::Stopped);
        self.phase = Phase::Stopped;
        self.end_everything(err, state);
        self.set_state(state, cause);
    }

    pub(super) fn expire(&mut self, now: Instant, cause: StateCause) {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            ?cause,
            "session expired"
        );
        self.close_transport = !matches!(self.phase, Phase::Waiting { .. });
        // Everything in flight, and everything queued while disconnected, was meant for the
        // dead session. Watches end first, so that persistent watchers whose addWatch was
        // still queued see their stream end before their registration fails. Calls made
        // after the Expired event go to the new session, if one is opened. Persistent
        // watches carry over to it: they are added again and caught up from the last zxid.
        let keep_going = self.config.reconnect_after_expiry;
        self.fail_pending(&Error::SessionExpired);
        if keep_going {
            self.end_oneshot_watches(SessionState::Expired);
        } else {
            self.end_watches(SessionState::Expired);
        }
        self.fail_queued(&Error::SessionExpired);
        self.alive_at = None;
        self.health.expired();
        self.session_id = 0;
        self.password = vec![0; PASSWORD_LEN];
        self.seen_rw_server = false;
        self.set_state(SessionState::Expired, cause);
        if keep_going && self.health.died_young == 0 {
            self.phase = Phase::Waiting { next_attempt: now };
            self.want_connect = true;
        } else if keep_going {
            // The last connections died right after their handshakes (a server that
            // negotiates an absurd timeout, say): keep backing off.
            self.schedule_attempt(now);
        } else {
            self.phase = Phase::Stopped;
        }
    }

    /// Ends every watch with a session event: one-shot watches fire once with it, persistent
    /// streams get it and then end.
    pub(super) fn end_watches(&mut self, state: SessionState) {
        let events = &mut self.events;
        self.watches.drain_all(|hit, path| {
            let event = ended(state, path);
            match hit {
                Hit::Oneshot(token) => events.push_back(Event::Oneshot(token, event)),
                Hit::Stream(stream) => events.push_back(Event::Stream(*stream, event)),
                Hit::StreamEnded(stream) => {
                    events.push_back(Event::Stream(stream, event));
                    events.push_back(Event::StreamEnded(stream));
                }
            }
        });
    }

    /// Ends every one-shot watch with a session event; persistent watches stay.
    fn end_oneshot_watches(&mut self, state: SessionState) {
        let events = &mut self.events;
        self.watches.drain_oneshot(|token, path| {
            events.push_back(Event::Oneshot(token, ended(state, path)))
        });
    }
}

/// The event that ends a watch on `path` with the session.
fn ended(state: SessionState, path: &str) -> WatchedEvent {
    WatchedEvent {
        event_type: EventType::None,
        state,
        path: path.to_owned(),
        zxid: None,
        kind: EventKind::Ended,
    }
}
