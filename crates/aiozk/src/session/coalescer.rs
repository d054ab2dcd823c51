//! The state of read coalescing: the reads waiting to go out in a batch, whether the
//! server takes MultiRead, and the sizes of results to expect (the methods are in
//! `coalesce`).

use aiozk_proto::OpCode;

use super::types::{Outgoing, Tokens};

/// The expected size of a result before any was seen: a small node's data with its Stat,
/// and a short list of children.
const FIRST_EXPECTED: [usize; 2] = [256, 1024];

/// The reads waiting for a batch, what the server takes, and the results to expect.
pub(super) struct Coalescer<T: Tokens> {
    /// Coalescing is on (the session's configuration).
    enabled: bool,
    /// A server of this session answered MultiRead with Unimplemented.
    pub(super) refused: bool,
    /// This connection's server answered the probe: batches may be sent.
    pub(super) confirmed: bool,
    /// Reads submitted since anything else was written, in call order, not yet numbered.
    staged: Vec<Outgoing<T>>,
    /// Their frames' bytes if each went alone.
    staged_bytes: usize,
    /// Expected bytes of one getData and of one getChildren result.
    expected: [usize; 2],
}

impl<T: Tokens> Coalescer<T> {
    pub(super) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            refused: false,
            confirmed: false,
            staged: Vec::new(),
            staged_bytes: 0,
            expected: FIRST_EXPECTED,
        }
    }

    /// Reads waiting to be framed, and their bytes if each went alone.
    pub(super) fn staged(&self) -> (usize, usize) {
        (self.staged.len(), self.staged_bytes)
    }

    /// Keeps a read for the next batch.
    pub(super) fn stage(&mut self, req: Outgoing<T>) {
        // Length prefix and request header.
        self.staged_bytes += req.body.len() + 12;
        self.staged.push(req);
    }

    /// Takes the reads waiting to be framed.
    pub(super) fn take_staged(&mut self) -> Vec<Outgoing<T>> {
        self.staged_bytes = 0;
        std::mem::take(&mut self.staged)
    }

    /// Whether a handshake must be followed by the probe.
    pub(super) fn wants_probe(&self) -> bool {
        self.enabled && !self.refused
    }

    /// Whether a read of `op` may wait for a batch.
    pub(super) fn takes(&self, op: OpCode) -> bool {
        self.confirmed && matches!(op, OpCode::GetData | OpCode::GetChildren)
    }

    /// The bytes a result of a read of `op` is expected to take.
    pub(super) fn expected(&self, op: OpCode) -> usize {
        self.expected[kind(op)]
    }

    /// Learns from the size of one result of a read of `op` what to expect of the next: the
    /// larger of this one and seven eighths of the previous expectation.
    pub(super) fn note_result(&mut self, op: OpCode, len: usize) {
        if matches!(op, OpCode::GetData | OpCode::GetChildren) {
            let e = &mut self.expected[kind(op)];
            *e = len.max(*e - *e / 8).max(16);
        }
    }
}

fn kind(op: OpCode) -> usize {
    usize::from(op != OpCode::GetData)
}
