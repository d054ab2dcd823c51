//! What fails and what ends: a lost connection, a protocol violation, the session's stop
//! and its expiry, and the requests and watches each of them fails or ends.

use std::time::Instant;

use aiozk_proto::consts::PASSWORD_LEN;
use aiozk_proto::EventType;
use tracing::warn;

use super::pending::PendingKind;
use super::types::{Event, SessionState, StateCause, Tokens, WatchedEvent};
use super::watches::{Hit, Removal};
use super::{Phase, Session};
use crate::error::Error;

impl<T: Tokens> Session<T> {
    pub(super) fn lose_connection(&mut self, now: Instant, reason: Error) {
        self.stats.disconnects += 1;
        self.deferred_removals.clear();
        self.auth.sasl = None;
        self.alive_at = Some(self.last_recv);
        // Bytes not yet written belong to the lost connection (held requests among them:
        // they fail below with the ones on the wire).
        self.out.clear();
        self.fail_pending(&Error::ConnectionLoss);
        self.schedule_attempt(now);
        self.set_state(
            SessionState::Disconnected,
            StateCause::ConnectionLost(reason),
        );
        self.check_local_expiry(now);
    }

    pub(super) fn protocol_violation(&mut self, now: Instant, msg: String) {
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            "{msg}; dropping the connection"
        );
        self.close_transport = true;
        // The stream cannot be resynchronised: whatever is left of it is garbage.
        self.inbuf.clear();
        let err = Error::ProtocolViolation(msg);
        match self.phase {
            Phase::Connected { .. } => self.lose_connection(now, err),
            Phase::Closing { .. } => {
                self.stop(SessionState::Closed, StateCause::UserClose, &Error::Closed)
            }
            _ => self.schedule_attempt(now),
        }
    }

    /// A reply too large for the frame limit is almost always the answer to the oldest
    /// request: fail that one with an error that says so (and that no retry policy repeats),
    /// instead of a connection loss that would make it come back forever.
    pub(super) fn blame_oversized_reply(&mut self, e: &aiozk_proto::FrameError) {
        if let Some(token) = self.requests.pop_oldest_user() {
            self.stats.errors += 1;
            self.events.push_back(Event::Reply(
                token,
                Err(Error::ProtocolViolation(format!(
                    "the reply is too large: {e}; raise the client's max_frame"
                ))),
            ));
        }
    }

    pub(super) fn fail_pending(&mut self, err: &Error) {
        for p in self.requests.take_sent() {
            match p.kind {
                PendingKind::User { token, .. } => {
                    self.stats.errors += 1;
                    self.events.push_back(Event::Reply(token, Err(err.clone())));
                }
                PendingKind::AddWatch { token, id } => {
                    // The server may or may not hold the watch; the caller gets an error and
                    // no stream, so nothing local may stay behind.
                    self.drop_persistent(id);
                    self.stats.errors += 1;
                    self.events.push_back(Event::Reply(token, Err(err.clone())));
                }
                PendingKind::SetWatches
                | PendingKind::RemoveWatches
                | PendingKind::Close
                | PendingKind::Sasl => {}
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
        for (id, _, token) in self.requests.take_queued_add_watches() {
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
        // after the Expired event go to the new session, if one is opened.
        self.fail_pending(&Error::SessionExpired);
        self.end_watches(SessionState::Expired);
        self.fail_queued(&Error::SessionExpired);
        let keep_going = self.config.reconnect_after_expiry;
        self.alive_at = None;
        self.session_id = 0;
        self.password = vec![0; PASSWORD_LEN];
        self.seen_rw_server = false;
        self.set_state(SessionState::Expired, cause);
        if keep_going {
            self.phase = Phase::Waiting { next_attempt: now };
            self.want_connect = true;
        } else {
            self.phase = Phase::Stopped;
        }
    }

    /// Ends every watch with a session event: one-shot watches fire once with it, persistent
    /// streams get it and then end.
    pub(super) fn end_watches(&mut self, state: SessionState) {
        let events = &mut self.events;
        self.watches.drain_all(|hit, path| {
            let event = WatchedEvent {
                event_type: EventType::None,
                state,
                path: path.to_owned(),
                zxid: None,
            };
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
}
