//! The handshake: the server's ConnectResponse, the SASL exchange that may follow, then
//! what waited for the connection (credentials, watch re-registration, queued requests).

use std::time::{Duration, Instant};

use aiozk_proto::consts::PASSWORD_LEN;
use aiozk_proto::{
    ConnectResponse, Decode, Encode, EventType, OpCode, ReplyHeader, Request, Response,
};
use bytes::{Bytes, BytesMut};
use tracing::{info, warn};

use super::auth::{Mechanism, SaslExchange};
use super::catch_up::{self, SET_WATCHES_BATCH_BYTES};
use super::health::Attempt;
use super::pending::PendingKind;
use super::sasl;
use super::types::{
    Event, EventKind, SaslInput, SaslStep, SessionState, StateCause, Tokens, WatchedEvent,
};
use super::{Phase, Session};
use crate::error::Error;

impl<T: Tokens> Session<T> {
    pub(super) fn handle_connect_response(
        &mut self,
        now: Instant,
        mut frame: Bytes,
    ) -> Result<(), String> {
        if frame.len() == 16 {
            // A read-only server that will not create a global session answers with a bare
            // error reply header (e.g. NOTREADONLY) instead of a ConnectResponse.
            if let Ok(header) = ReplyHeader::decode(&mut frame.clone()) {
                if header.err != 0 {
                    let err = Error::from_code(header.err);
                    warn!(error = %err, "the server refused the session; trying another");
                    self.close_transport = true;
                    let why = self
                        .health
                        .naming_peer(&format!("the session was refused: {err}"));
                    self.attempt_failed(now, Attempt::Refused(Error::NoHosts(why)));
                    return Ok(());
                }
            }
        }
        let resp = ConnectResponse::decode(&mut frame)
            .map_err(|e| format!("bad connect response: {e}"))?;
        if resp.timeout_ms <= 0 {
            self.close_transport = true;
            if self.session_id == 0 {
                // A refusal of a brand-new session cannot be an expiry: try elsewhere.
                let why = self.health.naming_peer("the new session was refused");
                self.attempt_failed(now, Attempt::Refused(Error::NoHosts(why)));
                return Ok(());
            }
            // A proper answer: the server is healthy, the session is gone.
            self.heard(self.last_send);
            self.expire(now, StateCause::ServerExpired);
            return Ok(());
        }
        if resp.password.len() != PASSWORD_LEN && !resp.password.is_empty() {
            return Err(format!("session password of {} bytes", resp.password.len()));
        }
        let new_session = resp.session_id != self.session_id;
        self.session_id = resp.session_id;
        self.password = resp.password.to_vec();
        if !crate::mutant("ignore-session-timeout") {
            self.negotiated = Duration::from_millis(resp.timeout_ms as u64);
        }
        self.seen_rw_server |= !resp.read_only;
        // `attempts` is reset by the first reply on this connection: one that dies right
        // after its handshake keeps the back-off growing.
        self.alive_at = None;
        self.health.handshake(self.last_send);
        self.phase = Phase::Connected {
            read_only: resp.read_only,
        };
        // The persistent watches of an expired session carry over to this one.
        self.announce_new_session = new_session;
        if new_session {
            self.stats.sessions += 1;
            self.events.push_back(Event::NewSession {
                session_id: self.session_id,
            });
        } else {
            self.stats.reconnects += 1;
        }
        let state = if resp.read_only {
            SessionState::ConnectedReadOnly
        } else {
            SessionState::Connected
        };
        info!(
            session_id = format_args!("{:#x}", self.session_id),
            timeout_ms = resp.timeout_ms,
            read_only = resp.read_only,
            "handshake complete"
        );
        // SASL runs first, alone on the connection: the server handles its packets out of
        // band, and nothing else may be sent until it is done.
        if self.config.external_sasl {
            self.sasl_rounds += 1;
            let round = self.sasl_rounds;
            self.auth.sasl = Some(SaslExchange {
                mech: Mechanism::External { round },
                state,
            });
            self.events.push_back(Event::Sasl {
                round,
                input: SaslInput::Start,
            });
        } else if let Some(creds) = self.config.sasl.clone() {
            let cnonce = format!("{:016x}{:016x}", self.next_random(), self.next_random());
            let mech = sasl::DigestMd5::new(creds, cnonce);
            let token = mech.initial();
            self.auth.sasl = Some(SaslExchange {
                mech: Mechanism::Digest(mech),
                state,
            });
            self.write_sasl(now, &token);
        } else {
            self.after_handshake(now, state);
        }
        Ok(())
    }

    /// The driver's answer to [`Event::Sasl`] for exchange `round`: a token to send, the end
    /// of the exchange, or why the mechanism failed (which fails the session with
    /// [`SessionState::AuthFailed`], as a rejection by the server does). An answer for an
    /// exchange that is no longer under way (its connection is gone) is ignored.
    pub fn sasl_step(&mut self, now: Instant, round: u64, step: Result<SaslStep, String>) {
        match &self.auth.sasl {
            Some(SaslExchange {
                mech: Mechanism::External { round: current },
                ..
            }) if *current == round => {}
            _ => return,
        }
        self.sasl_progress(now, step);
    }

    fn write_sasl(&mut self, now: Instant, token: &[u8]) {
        let mut body = BytesMut::new();
        Request::Sasl { token }.encode(&mut body);
        self.write_request(now, OpCode::Sasl, &body, PendingKind::Sasl);
    }

    pub(super) fn sasl_reply(&mut self, now: Instant, result: Result<Response, Error>) {
        if matches!(self.phase, Phase::Closing { .. }) {
            // Closed during the exchange: the closeSession reply ends everything.
            self.auth.sasl = None;
            return;
        }
        let step = match (result, self.auth.sasl.as_mut().map(|x| &mut x.mech)) {
            (Err(e), _) => {
                let why = format!("the server rejected the SASL credentials: {e}");
                self.sasl_failed(&why, Error::AuthFailed);
                return;
            }
            (Ok(Response::Sasl(token)), Some(Mechanism::External { round })) => {
                // The driver's mechanism reads the token; its answer comes back through
                // `sasl_step`.
                let round = *round;
                self.events.push_back(Event::Sasl {
                    round,
                    input: SaslInput::Server(token.map(|t| t.to_vec())),
                });
                return;
            }
            (Ok(Response::Sasl(Some(token))), Some(Mechanism::Digest(mech))) => mech.step(&token),
            (Ok(_), None) => Err("SASL reply without an exchange".into()),
            (Ok(_), Some(_)) => Err("the server has no SASL configuration".into()),
        };
        self.sasl_progress(now, step);
    }

    /// Sends the next token, or ends the exchange (authenticated, or failed).
    fn sasl_progress(&mut self, now: Instant, step: Result<SaslStep, String>) {
        match step {
            Ok(SaslStep::Send(token)) => self.write_sasl(now, &token),
            Ok(SaslStep::Done) => {
                let state = self
                    .auth
                    .sasl
                    .take()
                    .map_or(SessionState::Connected, |x| x.state);
                info!(
                    session_id = format_args!("{:#x}", self.session_id),
                    "SASL authentication complete"
                );
                self.after_handshake(now, state);
            }
            Err(msg) => {
                let error = Error::SaslFailed(msg.as_str().into());
                self.sasl_failed(&msg, error);
            }
        }
    }

    /// Ends the session with [`SessionState::AuthFailed`] for `why`: `cause` is
    /// [`Error::AuthFailed`] when the server refused, [`Error::SaslFailed`] when this side
    /// could not go on. Requests fail with [`Error::AuthFailed`].
    fn sasl_failed(&mut self, why: &str, cause: Error) {
        warn!(session_id = format_args!("{:#x}", self.session_id), "{why}");
        self.auth.sasl = None;
        self.stop(
            SessionState::AuthFailed,
            StateCause::AuthRejected(cause),
            &Error::AuthFailed,
        );
    }

    /// Sends what waited for the connection, in this order: credentials, watch
    /// re-registration, then the requests queued meanwhile.
    pub(super) fn finish_handshake(&mut self, now: Instant, state: SessionState) {
        for i in 0..self.auth.len() {
            let token = self.auth.take_waiting_for(i);
            self.write_auth(now, i, token);
        }
        // After an expiry only persistent watches are left; after a switch from a read-only
        // session to a new read-write one, every watch must be set again on the new session.
        if std::mem::take(&mut self.announce_new_session) {
            self.announce_watches_on_new_session(state);
        }
        self.resend_watches(now);
        for (id, body, token, probe) in self.requests.take_queued_add_watches() {
            self.write_request(
                now,
                OpCode::AddWatch,
                &body,
                PendingKind::AddWatch { token, id },
            );
            if let Some(path) = probe {
                self.write_probe(now, path);
            }
        }
        while let Some(req) = self.requests.pop_queued() {
            self.send_outgoing(now, req);
        }
        self.set_state(state, StateCause::Handshake);
    }

    /// Tells every persistent watcher that its watch is being added again on a new session.
    fn announce_watches_on_new_session(&mut self, state: SessionState) {
        let mut told = Vec::new();
        for (path, _, watchers) in self.watches.persistent_watches() {
            told.extend(watchers.map(|s| (s, path.to_owned())));
        }
        for (path, watchers) in self.watches.recursive_watches() {
            told.extend(watchers.map(|s| (s, path.to_owned())));
        }
        for (stream, path) in told {
            let event = WatchedEvent {
                event_type: EventType::None,
                state,
                path,
                zxid: None,
                kind: EventKind::NewSession,
            };
            self.events.push_back(Event::Stream(stream, event));
        }
    }

    fn resend_watches(&mut self, now: Instant) {
        if crate::mutant("no-set-watches") {
            return;
        }
        let relative = if crate::mutant("set-watches-zero-zxid") {
            0
        } else {
            self.last_zxid
        };
        let batches = catch_up::batches(&self.watches, relative, SET_WATCHES_BATCH_BYTES);
        for batch in batches {
            self.stats.set_watches_batches += 1;
            let kind = PendingKind::SetWatches(Box::new(batch.record));
            self.write_request(now, batch.op, &batch.body, kind);
        }
    }
}
