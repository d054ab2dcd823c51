//! What the session knows of its servers' health: when a server last heard from it (what
//! ownership checks compare with the clock), whether connections die before their first
//! reply (so the back-off keeps growing), and whether every server refused the connection
//! or sent garbage for two whole rounds (so requests fail at once, with the cause).

use std::collections::VecDeque;
use std::time::Instant;

use crate::error::Error;

/// How a connection attempt ended before its handshake completed.
pub(super) enum Attempt {
    /// The server refused it: TCP refused or reset, closed during the handshake, or a
    /// refusal of the session. The error says why, with the server.
    Refused(Error),
    /// The server answered the handshake with garbage: the violation, with the server.
    Garbage(Error),
    /// No answer in time. No refusal: the server may be slow.
    Silent,
}

#[derive(Default)]
pub(super) struct Health {
    /// The latest moment a server is known to have heard from the session: when the last
    /// request it answered (or the handshake it accepted) was sent.
    pub(super) heard_at: Option<Instant>,
    /// When each ping waiting for its reply was sent, oldest first.
    pings: VecDeque<Instant>,
    /// The current connection has had no reply since its handshake.
    unproven: bool,
    /// Connections in a row that died before their first reply.
    pub(super) died_young: u32,
    /// The server of the current connection or attempt.
    peer: Option<String>,
    /// Attempts in a row that were refused or answered with garbage, and whether every one
    /// of them was garbage.
    failed_in_a_row: u32,
    only_garbage: bool,
    any_garbage: bool,
    /// Why the latest attempt or connection failed.
    pub(super) last_failure: Option<Error>,
    /// Set while requests fail at once (see `Session::connect_failure`).
    pub(super) failing: Option<Error>,
    /// A handshake has succeeded once: from then on refusals are waited out even when
    /// failing eagerly (an outage of an ensemble the client has used is not the wrong
    /// address of one it never reached).
    established: bool,
}

impl Health {
    /// Names the server of the connection being opened.
    pub(super) fn set_peer(&mut self, peer: String) {
        self.peer = Some(peer);
    }

    /// `msg`, with the server it concerns.
    pub(super) fn naming_peer(&self, msg: &str) -> String {
        match &self.peer {
            Some(peer) => format!("{msg}, from {peer}"),
            None => msg.to_owned(),
        }
    }

    /// A ping went out at `now`.
    pub(super) fn ping_sent(&mut self, now: Instant) {
        self.pings.push_back(now);
    }

    /// A ping was answered: when it was sent, if we sent one.
    pub(super) fn ping_answered(&mut self) -> Option<Instant> {
        self.pings.pop_front()
    }

    /// A reply to something sent at `sent`: the server heard from us then, and this
    /// connection works.
    pub(super) fn heard(&mut self, sent: Instant) {
        self.heard_at = Some(self.heard_at.map_or(sent, |h| h.max(sent)));
        self.unproven = false;
        self.died_young = 0;
        self.failed_in_a_row = 0;
    }

    /// A handshake whose ConnectRequest went out at `sent` completed.
    pub(super) fn handshake(&mut self, sent: Instant) {
        self.established = true;
        self.heard_at = Some(sent);
        self.unproven = true;
        // The attempts that failed in a row are counted on until a reply proves this
        // connection (`heard`): garbage right after a handshake still counts.
        self.failing = None;
        self.last_failure = None;
    }

    /// The connection went away for `reason`.
    pub(super) fn connection_lost(&mut self, reason: &Error) {
        self.pings.clear();
        if std::mem::take(&mut self.unproven) {
            self.died_young += 1;
        }
        self.last_failure = Some(reason.clone());
    }

    /// The session expired: no server holds it any more.
    pub(super) fn expired(&mut self) {
        self.heard_at = None;
    }

    /// Records how an attempt ended. Returns the error to fail requests with when this
    /// attempt completes two whole rounds of `hosts` servers that all sent garbage, or
    /// (with `fail_eagerly`, before the first handshake) that all refused or sent garbage.
    pub(super) fn attempt_failed(
        &mut self,
        attempt: Attempt,
        hosts: usize,
        fail_eagerly: bool,
    ) -> Option<Error> {
        let (cause, garbage) = match attempt {
            Attempt::Silent => {
                self.failed_in_a_row = 0;
                return None;
            }
            Attempt::Refused(cause) => (cause, false),
            Attempt::Garbage(cause) => (cause, true),
        };
        if self.failed_in_a_row == 0 {
            self.only_garbage = true;
            self.any_garbage = false;
        }
        self.failed_in_a_row += 1;
        self.only_garbage &= garbage;
        self.any_garbage |= garbage;
        self.last_failure = Some(cause.clone());
        let rounds = 2 * u32::try_from(hosts.max(1)).unwrap_or(u32::MAX / 2);
        if self.failing.is_some()
            || self.failed_in_a_row < rounds
            || !(self.only_garbage || (fail_eagerly && !self.established))
        {
            return None;
        }
        let err = match cause {
            violation @ Error::ProtocolViolation(_) if self.only_garbage => violation,
            Error::NoHosts(why) if !self.any_garbage => Error::NoHosts(format!(
                "every server refused the connection, twice in a row; the last: {why}"
            )),
            other => Error::NoHosts(format!(
                "every server refused the connection or broke the protocol, twice in a row; \
                 the last: {other}"
            )),
        };
        self.failing = Some(err.clone());
        Some(err)
    }
}
