//! One request seen from outside: its `zk_request` span (debug level) and what the
//! metrics need when its reply comes.
//!
//! The span carries the operation, the server path (never the data, the credentials or the
//! ACL), the xid and the session id, and at the reply the outcome (`ok` or the error's
//! label) and the duration in microseconds; a `reply` event inside it reports them to
//! subscribers that print events only. When the span is disabled nothing of it is built.

use std::time::Instant;

use aiozk_proto::OpCode;
use tracing::field::Empty;

use crate::error::Error;
use crate::metrics::{outcome, ClientMetrics};

/// The trace of one request in flight.
#[derive(Debug)]
pub(crate) struct RequestTrace {
    op: OpCode,
    /// When it was submitted (the driver's clock reading for the submission).
    start: Instant,
    span: tracing::Span,
}

impl RequestTrace {
    /// Starts the trace of a request submitted at `now`; `body` is its encoded record (the
    /// path is read from it only when the span is enabled).
    pub(crate) fn begin(op: OpCode, body: &[u8], now: Instant) -> Self {
        let span = tracing::debug_span!(
            "zk_request",
            op = op.name(),
            path = Empty,
            xid = Empty,
            session_id = Empty,
            outcome = Empty,
            duration_us = Empty,
        );
        if !span.is_disabled() {
            if let Some(path) = leading_path(op, body) {
                span.record("path", path);
            }
        }
        Self {
            op,
            start: now,
            span,
        }
    }

    /// Records the path of a request whose record the driver does not see.
    pub(crate) fn path(&self, path: &str) {
        self.span.record("path", path);
    }

    /// The request got its xid.
    pub(crate) fn numbered(&self, xid: i32) {
        self.span.record("xid", xid);
    }

    /// The reply (or the error that replaces it) came at `now`, on session `session_id`.
    pub(crate) fn finish(
        self,
        error: Option<&Error>,
        now: Instant,
        session_id: i64,
        metrics: &mut ClientMetrics,
    ) {
        let elapsed = now.saturating_duration_since(self.start);
        metrics.request(self.op, error, elapsed);
        if self.span.is_disabled() {
            return;
        }
        let outcome = error.map_or("ok", outcome);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.span.record(
            "session_id",
            tracing::field::display(format_args!("{session_id:#x}")),
        );
        self.span.record("outcome", outcome);
        self.span.record("duration_us", micros);
        self.span
            .in_scope(|| tracing::debug!(outcome, duration_us = micros, "reply"));
    }
}

/// The path an encoded request starts with, for the operations whose record starts with
/// one (a jute string: a big-endian length, then UTF-8).
fn leading_path(op: OpCode, body: &[u8]) -> Option<&str> {
    use OpCode::*;
    let has_path = matches!(
        op,
        Create
            | Create2
            | CreateContainer
            | CreateTtl
            | Delete
            | DeleteContainer
            | Exists
            | GetData
            | SetData
            | GetAcl
            | SetAcl
            | GetChildren
            | GetChildren2
            | Sync
            | Check
            | CheckWatches
            | RemoveWatches
            | GetEphemerals
            | GetAllChildrenNumber
            | AddWatch
    );
    if !has_path {
        return None;
    }
    let len = usize::try_from(i32::from_be_bytes(body.get(..4)?.try_into().ok()?)).ok()?;
    std::str::from_utf8(body.get(4..4usize.checked_add(len)?)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aiozk_proto::{Encode, Request};
    use bytes::BytesMut;

    #[test]
    fn the_path_is_read_from_the_record() {
        let mut body = BytesMut::new();
        Request::GetData {
            path: "/a/b",
            watch: false,
        }
        .encode(&mut body);
        assert_eq!(leading_path(OpCode::GetData, &body), Some("/a/b"));
        assert_eq!(leading_path(OpCode::Multi, &body), None);
        assert_eq!(leading_path(OpCode::GetData, &body[..5]), None);
        assert_eq!(
            leading_path(OpCode::GetData, &[0xff, 0xff, 0xff, 0xff]),
            None
        );
    }
}
