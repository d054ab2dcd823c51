//! The requests of a session: those sent and waiting for their reply (answered in the
//! order they were sent), and those waiting for a connection.

use std::collections::VecDeque;

use aiozk_proto::OpCode;
use bytes::Bytes;

use super::types::{Outgoing, Tokens, WatchRequest};

/// What a sent request is, and whom its reply goes to.
pub(super) enum PendingKind<T: Tokens> {
    /// A request of the application, maybe setting a one-shot watch.
    User {
        token: T::Reply,
        watch: Option<WatchRequest<T>>,
    },
    /// The addWatch of a persistent watcher.
    AddWatch { token: T::Reply, id: T::Stream },
    /// Watch re-registration after a reconnect.
    SetWatches,
    /// The removal (or downgrade) of a server watch no local watcher needs.
    RemoveWatches,
    /// closeSession.
    Close,
    /// A step of the SASL exchange.
    Sasl,
}

/// A request sent and waiting for its reply.
pub(super) struct Pending<T: Tokens> {
    pub(super) xid: i32,
    pub(super) op: OpCode,
    pub(super) kind: PendingKind<T>,
}

/// The requests of a session and the xid counter.
pub(super) struct Requests<T: Tokens> {
    /// The xid of the next request (the tests set it to see it wrap).
    pub(super) next_xid: i32,
    /// Sent requests, in send order.
    sent: VecDeque<Pending<T>>,
    /// Requests submitted while not connected.
    queued: VecDeque<Outgoing<T>>,
    /// addWatch requests submitted while not connected.
    queued_add_watches: Vec<(T::Stream, Bytes, T::Reply)>,
}

impl<T: Tokens> Default for Requests<T> {
    fn default() -> Self {
        Self {
            next_xid: 1,
            sent: VecDeque::new(),
            queued: VecDeque::new(),
            queued_add_watches: Vec::new(),
        }
    }
}

impl<T: Tokens> Requests<T> {
    /// The xid of the next request.
    pub(super) fn next_xid(&mut self) -> i32 {
        let xid = self.next_xid;
        // Wrap to 1: xids <= 0 are reserved for special packets.
        self.next_xid = if xid == i32::MAX { 1 } else { xid + 1 };
        xid
    }

    /// Requests sent and waiting for their reply.
    pub(super) fn sent(&self) -> usize {
        self.sent.len()
    }

    /// Requests waiting for a reply or for a connection.
    pub(super) fn in_flight(&self) -> usize {
        self.sent.len() + self.queued.len()
    }

    /// A request has been written.
    pub(super) fn push_sent(&mut self, pending: Pending<T>) {
        self.sent.push_back(pending);
    }

    /// The request that a reply with `xid` answers: the oldest one sent. An error says why
    /// the reply cannot be matched; the oldest request then stays, so that the connection
    /// loss that follows fails it.
    pub(super) fn pop_reply(&mut self, xid: i32) -> Result<Pending<T>, String> {
        let pending = self
            .sent
            .pop_front()
            .ok_or_else(|| format!("reply with xid {xid} but no request is waiting"))?;
        if pending.xid != xid {
            let expected = pending.xid;
            self.sent.push_front(pending);
            return Err(format!(
                "reply xid {xid} out of order (expected {expected})"
            ));
        }
        Ok(pending)
    }

    /// Puts a request taken by [`Requests::pop_reply`] back, oldest again.
    pub(super) fn put_back(&mut self, pending: Pending<T>) {
        self.sent.push_front(pending);
    }

    /// Takes the oldest request sent when it is the application's, for its token.
    pub(super) fn pop_oldest_user(&mut self) -> Option<T::Reply> {
        if !matches!(self.sent.front(), Some(p) if matches!(p.kind, PendingKind::User { .. })) {
            return None;
        }
        match self.sent.pop_front() {
            Some(Pending {
                kind: PendingKind::User { token, .. },
                ..
            }) => Some(token),
            _ => None,
        }
    }

    /// Takes every request sent (their connection is gone).
    pub(super) fn take_sent(&mut self) -> VecDeque<Pending<T>> {
        std::mem::take(&mut self.sent)
    }

    /// Keeps a request until the next handshake.
    pub(super) fn queue(&mut self, req: Outgoing<T>) {
        self.queued.push_back(req);
    }

    /// The oldest request waiting for a connection.
    pub(super) fn pop_queued(&mut self) -> Option<Outgoing<T>> {
        self.queued.pop_front()
    }

    /// Takes every request waiting for a connection.
    pub(super) fn take_queued(&mut self) -> VecDeque<Outgoing<T>> {
        std::mem::take(&mut self.queued)
    }

    /// Keeps the addWatch of persistent watcher `id` until the next handshake.
    pub(super) fn queue_add_watch(&mut self, id: T::Stream, body: Bytes, reply: T::Reply) {
        self.queued_add_watches.push((id, body, reply));
    }

    /// Takes every addWatch waiting for a connection.
    pub(super) fn take_queued_add_watches(&mut self) -> Vec<(T::Stream, Bytes, T::Reply)> {
        std::mem::take(&mut self.queued_add_watches)
    }
}
