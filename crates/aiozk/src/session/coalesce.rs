//! Read coalescing: consecutive unwatched getData and getChildren requests go out as one
//! MultiRead (opcode 22, ZooKeeper 3.6+), and each caller gets its own result.
//!
//! * **When.** A read that may be coalesced is not framed when it is submitted: it waits,
//!   with the reads submitted after it, until something else is written (another request,
//!   a ping, auth, a close) or the driver takes the output ([`Session::poll_transmit`]).
//!   Then the waiting reads are framed in call order: alone when there is one, else as
//!   MultiRead batches. A lone read at 1 in flight therefore goes out at once, as a plain
//!   read; under deep pipelining the hold-back of joint writes lets more reads gather.
//! * **Which.** getData and getChildren without a watch. getChildren2 and exists have no
//!   MultiRead form, and a watched read in a batch would leave a server watch that nothing
//!   records.
//! * **Bounds.** A batch holds at most [`MAX_BATCH_READS`] reads, asks for at most half the
//!   frame limit and expects a reply of at most half of it, judged by the largest result
//!   lately seen for each kind of read. When a reply is larger than the frame limit all the
//!   same, it is accepted up to the limit times the batch's reads (what the reads' replies
//!   could have been, one by one), and only a read whose own result would not fit in a
//!   frame gets the error a lone read would get; the others get their results.
//! * **Servers without MultiRead.** After each handshake the session sends an empty
//!   MultiRead, alone on the connection, before anything else. A server without opcode 22
//!   (3.5, or a proxy) answers Unimplemented and closes the connection, as ZooKeeper's
//!   UnimplementedRequestProcessor does: nothing else was sent, so nothing fails. The
//!   session reconnects at once and sends single reads for the rest of its life. A batch
//!   that is nevertheless refused is sent again, read by read, after the reconnect.

use std::time::Instant;

use aiozk_proto::records::{MULTI_END_LEN, MULTI_OP_HEADER_LEN};
use aiozk_proto::{
    decode_multi_result, finish_multi_body, frame, push_multi_op, Encode, MultiResult, OpCode,
    RequestHeader, Response,
};
use bytes::{Bytes, BytesMut};
use tracing::{debug, warn};

use super::pending::{BatchedRead, Pending, PendingKind};
use super::types::{Event, Outgoing, SessionState, Tokens};
use super::{Phase, Session};
use crate::error::Error;

/// The most reads one MultiRead carries.
pub const MAX_BATCH_READS: usize = 128;

/// Reads framed at once, while fewer than half as many are on the wire, go in two batches
/// from this many on (see [`Session::flush_staged`]).
const SPLIT_FROM: usize = 16;

/// What a batch of reads may ask for, and expect back, as a share of the frame limit.
const BATCH_FRAME_SHARE: usize = 2;

/// Bytes of a reply header (xid, zxid, error).
const REPLY_HEADER_LEN: usize = 16;

impl<T: Tokens> Session<T> {
    /// Whether `req` may wait to go out in a MultiRead: an unwatched getData or getChildren
    /// (its record ends with the watch flag, false), on a connection whose server takes
    /// MultiRead.
    pub(super) fn may_coalesce(&self, req: &Outgoing<T>) -> bool {
        self.reads.takes(req.op) && req.watch.is_none() && req.body.last() == Some(&0)
    }

    /// Keeps a read for the next batch; it counts as held back for a joint write.
    pub(super) fn stage_read(&mut self, now: Instant, req: Outgoing<T>) {
        debug!(op = ?req.op, len = req.body.len(), "read waits for a batch");
        self.reads.stage(req);
        self.out.hold_unframed(now);
    }

    /// Frames the reads waiting for a batch, in call order: a lone read as itself, more as
    /// bounded MultiRead batches. Called before anything else is framed, and before the
    /// driver takes the output.
    ///
    /// Many reads with little on the wire (an idle connection, the first burst) go as two
    /// batches, not one: the server answers the first while it works on the second, so
    /// their callers' next reads are on their way while the second is answered. Otherwise
    /// each round trip would carry one batch, and the client and the server would take
    /// turns waiting for each other. Once two waves are under way, the hold-back of joint
    /// writes keeps them apart.
    pub(super) fn flush_staged(&mut self, now: Instant) {
        if self.reads.staged().0 == 0 {
            return;
        }
        let reads = self.reads.take_staged();
        let on_wire = self.requests.sent();
        let most = if reads.len() >= SPLIT_FROM && on_wire < reads.len() / 2 {
            reads.len().div_ceil(2).min(MAX_BATCH_READS)
        } else {
            MAX_BATCH_READS
        };
        let budget = self.config.max_frame / BATCH_FRAME_SHARE;
        let mut rest = reads.into_iter().peekable();
        while let Some(first) = rest.next() {
            let mut expect = self.reads.expected(first.op);
            let mut ask = first.body.len() + MULTI_OP_HEADER_LEN + MULTI_END_LEN;
            let mut batch = vec![first];
            while let Some(next) = rest.peek() {
                let e = self.reads.expected(next.op);
                let a = next.body.len() + MULTI_OP_HEADER_LEN;
                if batch.len() >= most || expect + e > budget || ask + a > budget {
                    break;
                }
                expect += e;
                ask += a;
                batch.extend(rest.next());
            }
            let written = match batch.pop() {
                Some(req) if batch.is_empty() => self.frame_user(now, req),
                Some(last) => {
                    batch.push(last);
                    self.frame_batch(now, batch, ask)
                }
                None => 0,
            };
            self.out.framed_held(written);
        }
    }

    /// Frames reads as one MultiRead of `body_len` bytes; returns the bytes it took.
    fn frame_batch(&mut self, now: Instant, batch: Vec<Outgoing<T>>, body_len: usize) -> usize {
        let xid = self.requests.next_xid();
        let buf = self.out.buf_mut();
        let before = buf.len();
        buf.reserve(body_len + REPLY_HEADER_LEN);
        let start = frame::begin_frame(buf);
        RequestHeader {
            xid,
            op: OpCode::MultiRead.as_i32(),
        }
        .encode(buf);
        for req in &batch {
            push_multi_op(buf, req.op, &req.body);
        }
        finish_multi_body(buf);
        frame::finish_frame(buf, start);
        let written = buf.len() - before;
        self.last_send = now;
        debug!(reads = batch.len(), "MultiRead batch");
        self.stats.multi_read_batches += 1;
        self.stats.coalesced_reads += batch.len() as u64;
        let reads = batch
            .into_iter()
            .map(|r| BatchedRead {
                op: r.op,
                body: r.body,
                token: r.token,
            })
            .collect();
        self.requests.push_sent(Pending {
            xid,
            op: OpCode::MultiRead,
            kind: PendingKind::Batch(reads),
            sent_at: now,
        });
        written
    }

    /// The largest reply frame accepted now: the frame limit, or for the reply to a batch
    /// of `n` reads (the next reply due, when the frame's header names it), `n` times it.
    pub(super) fn reply_limit(&self) -> usize {
        let max = self.config.max_frame;
        let Some(head) = self.inbuf.get(..8) else {
            return max;
        };
        let xid = i32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        match self.requests.batch_due(xid) {
            Some(reads) => max.saturating_mul(reads),
            None => max,
        }
    }

    /// After the handshake (and SASL): the probe, alone on the connection, or straight to
    /// what waited for the connection.
    pub(super) fn after_handshake(&mut self, now: Instant, state: SessionState) {
        if !self.reads.wants_probe() {
            return self.finish_handshake(now, state);
        }
        let mut body = BytesMut::new();
        finish_multi_body(&mut body);
        self.write_request(now, OpCode::MultiRead, &body, PendingKind::Probe);
        self.probe = Some(state);
    }

    /// The server answered the probe.
    pub(super) fn probe_answered(&mut self, now: Instant, result: Result<Response, Error>) {
        let Some(state) = self.probe.take() else {
            return;
        };
        if matches!(self.phase, Phase::Closing { .. }) {
            // Closed meanwhile: the closeSession reply ends everything.
            return;
        }
        match result {
            Ok(_) => {
                self.reads.confirmed = true;
                self.finish_handshake(now, state);
            }
            Err(Error::Unimplemented) => {
                warn!(
                    session_id = format_args!("{:#x}", self.session_id),
                    "the server has no MultiRead (before 3.6): reads go one by one"
                );
                self.reads.refused = true;
                // The server closes the connection after this reply; nothing else was sent.
                self.redial(now);
            }
            Err(e) => {
                debug!(error = %e, "the MultiRead probe failed: reads go one by one here");
                self.finish_handshake(now, state);
            }
        }
    }

    /// Drops a connection that nothing but the probe used, and connects again at once with
    /// the same session. The state stays what it was: the connection never came up.
    fn redial(&mut self, now: Instant) {
        self.close_transport = true;
        self.out.clear();
        self.alive_at = Some(now);
        self.phase = Phase::Waiting { next_attempt: now };
        self.want_connect = true;
    }

    /// The reply to a batch: every read gets its own result, in call order.
    pub(super) fn complete_batch(
        &mut self,
        now: Instant,
        p: Pending<T>,
        err: i32,
        body: Bytes,
    ) -> Result<(), String> {
        let PendingKind::Batch(reads) = p.kind else {
            return Ok(());
        };
        if err != 0 {
            self.batch_refused(now, reads, Error::from_code(err));
            return Ok(());
        }
        let results = match self.decode_batch(&reads, body) {
            Ok(results) => results,
            Err(msg) => {
                // Back in the queue, so that the connection loss fails every read properly.
                self.requests.put_back(Pending {
                    kind: PendingKind::Batch(reads),
                    ..p
                });
                return Err(msg);
            }
        };
        for (read, result) in reads.into_iter().zip(results) {
            if result.is_err() {
                self.stats.errors += 1;
            }
            self.events.push_back(Event::Reply(read.token, result));
        }
        Ok(())
    }

    fn decode_batch(
        &mut self,
        reads: &[BatchedRead<T>],
        mut body: Bytes,
    ) -> Result<Vec<Result<Response, Error>>, String> {
        let max = self.config.max_frame;
        let mut results = Vec::with_capacity(reads.len());
        for read in reads {
            let before = body.len();
            let result = decode_multi_result(&mut body)
                .map_err(|e| format!("bad MultiRead reply: {e}"))?
                .ok_or("a MultiRead reply with fewer results than reads")?;
            let len = before - body.len() - MULTI_OP_HEADER_LEN;
            let result = match (read.op, result) {
                (OpCode::GetData, MultiResult::GetData { data, stat }) => {
                    Ok(Response::Data { data, stat })
                }
                (OpCode::GetChildren, MultiResult::GetChildren { children }) => {
                    Ok(Response::Strings(children))
                }
                (_, MultiResult::Error(code)) if code != 0 => Err(Error::from_code(code)),
                (op, other) => return Err(format!("MultiRead result {other:?} for a {op:?}")),
            };
            let result = match result {
                // A read whose own reply would not fit in a frame fails as it would alone.
                Ok(_) if len + REPLY_HEADER_LEN > max => Err(Error::ProtocolViolation(format!(
                    "the reply is too large: {} bytes, over the limit of {max}; raise the \
                     client's max_frame",
                    len + REPLY_HEADER_LEN
                ))),
                Ok(response) => {
                    self.reads.note_result(read.op, len);
                    Ok(response)
                }
                Err(e) => Err(e),
            };
            results.push(result);
        }
        match decode_multi_result(&mut body) {
            Ok(None) if body.is_empty() => Ok(results),
            _ => Err("a MultiRead reply with more results than reads".into()),
        }
    }

    /// A batch failed as a whole. Unimplemented means the server has no MultiRead after all
    /// (and closes the connection): the reads were not carried out, so they go again, one by
    /// one, after the reconnect. Any other error is every read's.
    fn batch_refused(&mut self, now: Instant, reads: Vec<BatchedRead<T>>, err: Error) {
        if err != Error::Unimplemented {
            for read in reads {
                self.stats.errors += 1;
                self.events
                    .push_back(Event::Reply(read.token, Err(err.clone())));
            }
            return;
        }
        warn!(
            session_id = format_args!("{:#x}", self.session_id),
            "the server refused a MultiRead: reads go one by one from now on"
        );
        self.reads.refused = true;
        self.reads.confirmed = false;
        for read in reads.into_iter().rev() {
            self.requests.queue_first(Outgoing {
                op: read.op,
                body: read.body,
                token: read.token,
                watch: None,
            });
        }
        self.close_transport = true;
        self.lose_connection(now, Error::ConnectionLoss, &Error::ConnectionLoss);
    }

    /// A server without MultiRead answers a batch at once, ahead of the requests sent
    /// before it, then closes the connection. When a reply out of order is such a refusal
    /// of a batch that waits, the batch's reads are not lost: they go again after the
    /// reconnect. Returns whether it was one.
    pub(super) fn refused_out_of_order(&mut self, now: Instant, xid: i32, err: i32) -> bool {
        if Error::from_code(err) != Error::Unimplemented {
            return false;
        }
        match self.requests.take_batch(xid) {
            Some(reads) => {
                self.batch_refused(now, reads, Error::Unimplemented);
                true
            }
            None => false,
        }
    }
}
