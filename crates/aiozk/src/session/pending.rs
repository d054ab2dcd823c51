//! The requests of a session: those sent and waiting for their reply (answered in the
//! order they were sent), and those waiting for a connection.

use std::collections::VecDeque;
use std::time::Instant;

use aiozk_proto::OpCode;
use bytes::Bytes;

use super::catch_up::Record;
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
    /// Watch re-registration after a reconnect, with what its catch-up events are.
    SetWatches(Box<Record<T::Stream>>),
    /// The read after the addWatch of a plain persistent watch on `path`: whether its
    /// node exists, for the catch-up after a reconnect.
    Existence { path: String },
    /// The removal (or downgrade) of a server watch no local watcher needs. `typed` is set
    /// for a removal by type Persistent or PersistentRecursive; it holds the path to remove
    /// the 3.6–3.8 way should the server not know those types.
    RemoveWatches { typed: Option<Option<String>> },
    /// closeSession.
    Close,
    /// A step of the SASL exchange.
    Sasl,
    /// Coalesced reads, in call order.
    Batch(Vec<BatchedRead<T>>),
    /// The empty MultiRead that asks a new connection's server whether it takes MultiRead.
    Probe,
}

/// One read inside a MultiRead on the wire, with its record, to send it again alone if the
/// server refuses the batch.
pub(super) struct BatchedRead<T: Tokens> {
    pub(super) op: OpCode,
    pub(super) body: Bytes,
    pub(super) token: T::Reply,
}

impl<T: Tokens> PendingKind<T> {
    /// Requests of the application this sent request carries beyond one (the reads of a
    /// batch after its first).
    fn extra(&self) -> usize {
        match self {
            Self::Batch(reads) => reads.len().saturating_sub(1),
            _ => 0,
        }
    }
}

/// An addWatch waiting for a connection: the watcher, the request, its reply, and the path
/// whose node to read after it.
pub(super) type QueuedAddWatch<T> = (
    <T as Tokens>::Stream,
    Bytes,
    <T as Tokens>::Reply,
    Option<String>,
);

/// A request sent and waiting for its reply.
pub(super) struct Pending<T: Tokens> {
    pub(super) xid: i32,
    pub(super) op: OpCode,
    pub(super) kind: PendingKind<T>,
    /// When it was framed for writing: its reply proves the server heard from the session
    /// no earlier than this.
    pub(super) sent_at: Instant,
}

/// The requests of a session and the xid counter.
pub(super) struct Requests<T: Tokens> {
    /// The xid of the next request (the tests set it to see it wrap).
    pub(super) next_xid: i32,
    /// Sent requests, in send order.
    sent: VecDeque<Pending<T>>,
    /// The reads of batches in `sent` beyond one per batch.
    batched: usize,
    /// Requests submitted while not connected.
    queued: VecDeque<Outgoing<T>>,
    /// addWatch requests submitted while not connected, with the path to read after each
    /// (see [`PendingKind::Existence`]).
    queued_add_watches: Vec<QueuedAddWatch<T>>,
}

impl<T: Tokens> Default for Requests<T> {
    fn default() -> Self {
        Self {
            next_xid: 1,
            sent: VecDeque::new(),
            batched: 0,
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

    /// Requests sent and waiting for their reply, each read of a batch counted.
    pub(super) fn sent(&self) -> usize {
        self.sent.len() + self.batched
    }

    /// Requests waiting for a reply or for a connection.
    pub(super) fn in_flight(&self) -> usize {
        self.sent() + self.queued.len()
    }

    /// A request has been written.
    pub(super) fn push_sent(&mut self, pending: Pending<T>) {
        self.batched += pending.kind.extra();
        self.sent.push_back(pending);
    }

    /// The oldest request sent, when its xid is `xid` and it is a batch: the reads the
    /// reply to be read next may carry.
    pub(super) fn batch_due(&self, xid: i32) -> Option<usize> {
        match self.sent.front() {
            Some(Pending {
                xid: due,
                kind: PendingKind::Batch(reads),
                ..
            }) if *due == xid => Some(reads.len()),
            _ => None,
        }
    }

    /// Takes the batch sent with `xid`, wherever it is among the requests sent.
    pub(super) fn take_batch(&mut self, xid: i32) -> Option<Vec<BatchedRead<T>>> {
        let at = self
            .sent
            .iter()
            .position(|p| p.xid == xid && matches!(p.kind, PendingKind::Batch(_)))?;
        let pending = self.sent.remove(at)?;
        self.batched -= pending.kind.extra();
        match pending.kind {
            PendingKind::Batch(reads) => Some(reads),
            _ => None,
        }
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
        self.batched -= pending.kind.extra();
        Ok(pending)
    }

    /// Puts a request taken by [`Requests::pop_reply`] back, oldest again.
    pub(super) fn put_back(&mut self, pending: Pending<T>) {
        self.batched += pending.kind.extra();
        self.sent.push_front(pending);
    }

    /// The records of the watch re-registrations not answered yet. They are the oldest
    /// requests of a connection (written first after the handshake, after the MultiRead
    /// probe), so this looks no further than the first other request.
    pub(super) fn unanswered_records(
        &mut self,
    ) -> impl Iterator<Item = &mut Record<T::Stream>> + '_ {
        self.sent
            .iter_mut()
            .take_while(|p| matches!(p.kind, PendingKind::SetWatches(_) | PendingKind::Probe))
            .filter_map(|p| match &mut p.kind {
                PendingKind::SetWatches(record) => Some(&mut **record),
                _ => None,
            })
    }

    /// True while a watch re-registration is not answered.
    pub(super) fn has_unanswered_records(&mut self) -> bool {
        self.unanswered_records().next().is_some()
    }

    /// Takes the oldest request sent when it is the application's (a request or a batch of
    /// reads), for its tokens.
    pub(super) fn pop_oldest_user(&mut self) -> Vec<T::Reply> {
        if !matches!(
            self.sent.front(),
            Some(p) if matches!(p.kind, PendingKind::User { .. } | PendingKind::Batch(_))
        ) {
            return Vec::new();
        }
        let Some(pending) = self.sent.pop_front() else {
            return Vec::new();
        };
        self.batched -= pending.kind.extra();
        match pending.kind {
            PendingKind::User { token, .. } => vec![token],
            PendingKind::Batch(reads) => reads.into_iter().map(|r| r.token).collect(),
            _ => Vec::new(),
        }
    }

    /// Takes every request sent (their connection is gone).
    pub(super) fn take_sent(&mut self) -> VecDeque<Pending<T>> {
        self.batched = 0;
        std::mem::take(&mut self.sent)
    }

    /// Keeps a request until the next handshake.
    pub(super) fn queue(&mut self, req: Outgoing<T>) {
        self.queued.push_back(req);
    }

    /// Keeps a request until the next handshake, ahead of those kept already (it was
    /// submitted before them).
    pub(super) fn queue_first(&mut self, req: Outgoing<T>) {
        self.queued.push_front(req);
    }

    /// The oldest request waiting for a connection.
    pub(super) fn pop_queued(&mut self) -> Option<Outgoing<T>> {
        self.queued.pop_front()
    }

    /// Takes every request waiting for a connection.
    pub(super) fn take_queued(&mut self) -> VecDeque<Outgoing<T>> {
        std::mem::take(&mut self.queued)
    }

    /// Keeps the addWatch of persistent watcher `id` (and the path to read after it) until
    /// the next handshake.
    pub(super) fn queue_add_watch(&mut self, add: QueuedAddWatch<T>) {
        self.queued_add_watches.push(add);
    }

    /// Takes every addWatch waiting for a connection.
    pub(super) fn take_queued_add_watches(&mut self) -> Vec<QueuedAddWatch<T>> {
        std::mem::take(&mut self.queued_add_watches)
    }
}
