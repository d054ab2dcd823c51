//! The outbox: the frames the session has written and the driver has not taken yet, and
//! the joint writes that hold user requests back while many are on the wire.

use std::time::{Duration, Instant};

use aiozk_proto::consts::xid;
use aiozk_proto::{frame, ConnectRequest, Encode, OpCode, Request, RequestHeader};
use bytes::BytesMut;

/// Requests are held back for a joint write only while at least this many sent requests
/// wait for their reply: below it, every request is written at once.
pub const WRITE_BATCH_MIN_IN_FLIGHT: usize = 32;

/// Requests held back are written once they fill this many bytes.
const WRITE_BATCH_MAX_BYTES: usize = 64 * 1024;

/// Framed bytes waiting for the driver, and what they hold.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    buf: BytesMut,
    /// What `buf` holds beyond bytes: see [`OutHeld`].
    held: OutHeld,
}

/// The user requests in the output buffer that have not been handed to the driver yet.
#[derive(Debug, Default)]
struct OutHeld {
    /// Bytes of user requests in `buf`. When `buf` holds anything else (the handshake, a
    /// ping, auth, watch re-registration, a close), it is written at once.
    user_bytes: usize,
    /// User requests in `buf`.
    requests: usize,
    /// When the oldest of them was put there.
    since: Option<Instant>,
}

impl Outbox {
    /// True when nothing waits to be written.
    pub(super) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Forgets everything not yet written (it belonged to a connection that is gone).
    pub(super) fn clear(&mut self) {
        self.buf.clear();
        self.held = OutHeld::default();
    }

    /// Frames a request with its header; returns the bytes it took.
    pub(super) fn request(&mut self, xid: i32, op: OpCode, body: &[u8]) -> usize {
        let before = self.buf.len();
        let start = frame::begin_frame(&mut self.buf);
        RequestHeader {
            xid,
            op: op.as_i32(),
        }
        .encode(&mut self.buf);
        self.buf.extend_from_slice(body);
        frame::finish_frame(&mut self.buf, start);
        self.buf.len() - before
    }

    /// Counts the last `bytes` framed as a user request, which may be held back.
    pub(super) fn hold(&mut self, bytes: usize, now: Instant) {
        self.held.user_bytes += bytes;
        self.held.requests += 1;
        self.held.since.get_or_insert(now);
    }

    /// Counts a user request that waits to be framed (a read waiting for a batch): held back
    /// like the ones in the buffer.
    pub(super) fn hold_unframed(&mut self, now: Instant) {
        self.held.requests += 1;
        self.held.since.get_or_insert(now);
    }

    /// Counts the last `bytes` framed as user requests already counted by
    /// [`Outbox::hold_unframed`].
    pub(super) fn framed_held(&mut self, bytes: usize) {
        self.held.user_bytes += bytes;
    }

    /// The buffer, for framing a request in parts; the caller counts what it adds.
    pub(super) fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// Frames a ping.
    pub(super) fn ping(&mut self) {
        let start = frame::begin_frame(&mut self.buf);
        RequestHeader {
            xid: xid::PING,
            op: OpCode::Ping.as_i32(),
        }
        .encode(&mut self.buf);
        frame::finish_frame(&mut self.buf, start);
    }

    /// Frames an auth packet.
    pub(super) fn auth(&mut self, scheme: &str, auth: &[u8]) {
        let start = frame::begin_frame(&mut self.buf);
        RequestHeader {
            xid: xid::AUTH,
            op: OpCode::Auth.as_i32(),
        }
        .encode(&mut self.buf);
        Request::Auth { scheme, auth }.encode(&mut self.buf);
        frame::finish_frame(&mut self.buf, start);
    }

    /// Frames the ConnectRequest that opens a connection.
    pub(super) fn connect(&mut self, req: &ConnectRequest<'_>) {
        let start = frame::begin_frame(&mut self.buf);
        req.encode(&mut self.buf);
        frame::finish_frame(&mut self.buf, start);
    }

    /// When the oldest user request held back was framed.
    pub(super) fn held_since(&self) -> Option<Instant> {
        self.held.since
    }

    /// Whether the user requests held back wait for more, with `sent` requests waiting for
    /// their reply and `unframed` of the held ones (of `unframed_bytes`) not framed yet (see
    /// `Session::poll_transmit`).
    pub(super) fn holds(
        &self,
        now: Instant,
        sent: usize,
        (unframed, unframed_bytes): (usize, usize),
        max_delay: Duration,
    ) -> bool {
        let held = &self.held;
        let Some(since) = held.since else {
            return false;
        };
        if self.buf.len() != held.user_bytes
            || self.buf.len() + unframed_bytes >= WRITE_BATCH_MAX_BYTES
            || now.saturating_duration_since(since) >= max_delay
        {
            return false;
        }
        // Sent and not yet answered: the server's queue of work, or what is in transit.
        let on_wire = sent.saturating_sub(held.requests - unframed);
        on_wire >= WRITE_BATCH_MIN_IN_FLIGHT && held.requests < on_wire
    }

    /// Everything framed, for the driver to write.
    pub(super) fn take(&mut self) -> BytesMut {
        self.held = OutHeld::default();
        self.buf.split()
    }
}
