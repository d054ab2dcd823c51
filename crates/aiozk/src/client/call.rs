//! The call machinery shared by every operation: validate the path, encode the request,
//! queue it for the driver, await the reply, and retry per the client's policy.

use std::future::Future;
use std::time::Instant;

use aiozk_proto::{AclRecord, Encode, OpCode, Request, Response};
use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;

use super::handle::{bounded, recv, Client, ReplyRx};
use crate::acl::{Acl, Perms};
use crate::driver::{Command, ReplyTx};
use crate::error::{Error, Result};
use crate::path::{validate_path, Chroot};
use crate::session::{Outgoing, WatchKind, WatchRequest};
use crate::watcher::OneshotWatcher;

impl Client {
    /// Encodes `req`, refusing a request larger than the server accepts.
    pub(super) fn encode(&self, req: &Request<'_>) -> Result<(OpCode, Bytes)> {
        // Sized up front: growing from empty cost several reallocations per request.
        let mut body = BytesMut::with_capacity(encoded_size_hint(req));
        req.encode(&mut body);
        // 8 bytes of request header travel in the same frame.
        if body.len() + 8 > self.inner.max_frame {
            return Err(Error::FrameTooLarge {
                size: body.len() + 8,
                limit: self.inner.max_frame,
                reply: false,
            });
        }
        Ok((req.opcode(), body.freeze()))
    }

    /// Queues an encoded request for the driver, with a one-shot slot when it sets a watch.
    pub(super) fn send(
        &self,
        op: OpCode,
        body: Bytes,
        watch: Option<(WatchKind, String)>,
    ) -> Result<(ReplyRx, Option<OneshotWatcher>)> {
        let (tx, rx) = oneshot::channel();
        let (token, watch, watcher) = match watch {
            Some((kind, path)) => {
                let slots = &self.inner.slots;
                let slot = slots.allocate();
                (
                    ReplyTx::watched(tx, Some((slot, op, kind))),
                    Some(WatchRequest {
                        kind,
                        path,
                        token: slot,
                    }),
                    Some(OneshotWatcher::new(slots.clone(), slot)),
                )
            }
            None => (ReplyTx::from(tx), None, None),
        };
        let sent = self.inner.tx.send(Command::Request(Outgoing {
            op,
            body,
            token,
            watch,
        }));
        if sent.is_err() {
            // The driver is gone and never saw the slot.
            if let Some(w) = &watcher {
                self.inner.slots.release(w.slot());
            }
            return Err(Error::Closed);
        }
        Ok((rx, watcher))
    }

    /// Validates, encodes and queues `req` now; the future awaits the reply, retrying per
    /// the policy when `idempotent`.
    pub(super) fn call<T: Send + 'static>(
        &self,
        req: Result<Request<'_>>,
        watch: Option<WatchKind>,
        idempotent: bool,
        map: impl Fn(Result<Response>, &Chroot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<(T, Option<OneshotWatcher>)>> + Send + 'static {
        let retry = if idempotent {
            Retry::Always
        } else {
            Retry::Never
        };
        self.call_with(req, watch, retry, map)
    }

    /// [`Client::call`] with the retry rule spelled out.
    pub(super) fn call_with<T: Send + 'static>(
        &self,
        req: Result<Request<'_>>,
        watch: Option<WatchKind>,
        retry: Retry,
        map: impl Fn(Result<Response>, &Chroot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<(T, Option<OneshotWatcher>)>> + Send + 'static {
        let first = req.and_then(|req| {
            let watch_path = watch.map(|k| (k, request_path(&req).to_owned()));
            let (op, body) = self.encode(&req)?;
            let sent = self.send(op, body.clone(), watch_path.clone())?;
            Ok((op, body, watch_path, sent))
        });
        let this = self.clone();
        let limit = self.inner.request_timeout;
        bounded(self.deadline(), async move {
            let (op, body, watch_path, (rx, mut watcher)) = first?;
            let started = Instant::now();
            let mut attempt = 1u32;
            let mut result = recv(rx, limit).await;
            // The error that left the outcome of the first attempt unknown.
            let mut unknown: Option<Error> = None;
            while let (false, Err(err)) = (matches!(retry, Retry::Never), &result) {
                if !err.is_retryable() {
                    break;
                }
                unknown.get_or_insert_with(|| err.clone());
                let Some(delay) =
                    this.retry
                        .delay_before_attempt(attempt + 1, started, Instant::now())
                else {
                    if attempt > 1 {
                        result = Err(Error::RetriesExhausted {
                            attempts: attempt,
                            last: Box::new(err.clone()),
                        });
                    }
                    break;
                };
                tokio::time::sleep(delay).await;
                attempt += 1;
                tracing::debug!(?op, attempt, "retrying");
                let (rx, w) = this.send(op, body.clone(), watch_path.clone())?;
                watcher = w;
                result = recv(rx, limit).await;
            }
            // A versioned write retried after a lost reply fails with BadVersion (or
            // NoNode for a delete) when the first attempt was applied: that answer says
            // nothing about whether the write happened, so the first error stands.
            if let (Retry::UnlessAmbiguous(ambiguous), Err(err), Some(first)) =
                (retry, &result, unknown)
            {
                if ambiguous(err) {
                    result = Err(first);
                }
            }
            Ok((map(result, &this.inner.chroot)?, watcher))
        })
    }

    /// [`Client::call`] for requests that set no watch.
    pub(super) fn call_plain<T: Send + 'static>(
        &self,
        req: Result<Request<'_>>,
        idempotent: bool,
        map: impl Fn(Result<Response>, &Chroot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let fut = self.call(req, None, idempotent, map);
        async move { fut.await.map(|(v, _)| v) }
    }

    /// [`Client::call_with`] for requests that set no watch.
    pub(super) fn call_plain_with<T: Send + 'static>(
        &self,
        req: Result<Request<'_>>,
        retry: Retry,
        map: impl Fn(Result<Response>, &Chroot) -> Result<T> + Send + 'static,
    ) -> impl Future<Output = Result<T>> + Send + 'static {
        let fut = self.call_with(req, None, retry, map);
        async move { fut.await.map(|(v, _)| v) }
    }

    /// `path` validated and with the chroot put in front.
    pub(super) fn server_path(&self, path: &str) -> Result<String> {
        validate_path(path)?;
        Ok(self.inner.chroot.prefix(path))
    }
}

/// When a call is sent again after a retryable error (per the client's
/// [`crate::RetryPolicy`]).
#[derive(Clone, Copy)]
pub(super) enum Retry {
    /// Never: the request could take effect twice.
    Never,
    /// Always: repeating it changes nothing (reads, and writes whose repeat is refused).
    Always,
    /// A write guarded by a version: repeating it is safe, but when a repeat fails with an
    /// error for which the write's own first attempt could be the reason, the outcome is
    /// unknown and the first error is returned instead.
    UnlessAmbiguous(fn(&Error) -> bool),
}

pub(super) fn unexpected() -> Error {
    Error::ProtocolViolation("unexpected response type".into())
}

pub(super) fn to_record(acl: &Acl) -> AclRecord {
    AclRecord {
        perms: acl.perms.bits() as i32,
        scheme: acl.id.scheme.clone(),
        id: acl.id.id.clone(),
    }
}

pub(super) fn from_record(r: AclRecord) -> Acl {
    Acl::new(Perms::from_bits(r.perms as u32), r.scheme, r.id)
}

pub(super) fn path_ref(path: &Result<String>) -> Result<&str> {
    path.as_deref().map_err(Clone::clone)
}

/// Enough bytes for most encodings of `req`: its path and data, plus slack for the
/// length prefixes, versions, flags and a default ACL.
fn encoded_size_hint(req: &Request<'_>) -> usize {
    let (path, data) = match *req {
        Request::Create { path, data, .. } | Request::SetData { path, data, .. } => {
            (path.len(), data.map_or(0, <[u8]>::len))
        }
        Request::Delete { path, .. } => (path.len(), 0),
        _ => (request_path(req).len(), 0),
    };
    64 + path + data
}

fn request_path<'a>(req: &Request<'a>) -> &'a str {
    match *req {
        Request::Exists { path, .. }
        | Request::GetData { path, .. }
        | Request::GetChildren { path, .. }
        | Request::GetChildren2 { path, .. } => path,
        _ => "",
    }
}
