//! How an ownership ends: [`LossReason`], and the [`LostSignal`] that tells when it did.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use tokio::sync::watch;

/// Why an ownership (a lock, a permit, a lease, a leadership) ended.
///
/// # Examples
/// ```
/// use aiozk_recipes::LossReason;
///
/// assert!(!LossReason::Released.is_involuntary());
/// assert!(LossReason::Suspended.is_involuntary());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LossReason {
    /// This process released it (a `release` call or a dropped guard).
    Released,
    /// The session that owned the node expired: the server deleted the node, or will
    /// delete it shortly (the client may notice the expiry before the server does).
    SessionExpired,
    /// The node was deleted by someone else (an administrator, a bug).
    NodeDeleted,
    /// The connection has been down long enough that the server may already have expired
    /// the session (see the module documentation). The node is deleted as soon as the
    /// client can reach the server again.
    Suspended,
    /// The lease's duration has passed.
    LeaseExpired,
    /// The client was closed or stopped (authentication failure).
    ClientClosed,
}

impl LossReason {
    /// True for every reason except [`LossReason::Released`].
    pub fn is_involuntary(self) -> bool {
        self != Self::Released
    }
}

/// Fires when an ownership ends, for any [`LossReason`].
///
/// It is a cheap, cloneable view of a [`watch`] channel. Await it directly
/// (`guard.lost().await` yields the reason), poll [`LostSignal::reason`], or take the raw
/// [`LostSignal::receiver`] for a `select!`.
///
/// The signal is set **before** the recipe deletes its node on an involuntary loss, and
/// for [`LossReason::Suspended`] it is set before the session can have expired on the
/// server. So once it has fired, no write fenced by this ownership (see [`Fence`](super::Fence)) that
/// is issued afterwards can succeed, and no other process can have been granted the same
/// ownership before it fired (see the module documentation for the assumption this
/// rests on).
#[derive(Debug, Clone)]
pub struct LostSignal {
    rx: watch::Receiver<Option<LossReason>>,
}

impl LostSignal {
    /// The signal of the loss reason sent on `rx`'s channel.
    pub(super) fn new(rx: watch::Receiver<Option<LossReason>>) -> Self {
        Self { rx }
    }
}

impl LostSignal {
    /// True once the ownership has ended.
    pub fn is_lost(&self) -> bool {
        self.rx.borrow().is_some()
    }

    /// Why the ownership ended, or `None` while it lasts.
    pub fn reason(&self) -> Option<LossReason> {
        *self.rx.borrow()
    }

    /// Waits until the ownership ends and returns why.
    ///
    /// # Cancellation safety
    /// Cancel-safe: nothing is consumed.
    pub async fn wait(&self) -> LossReason {
        let mut rx = self.rx.clone();
        loop {
            if let Some(reason) = *rx.borrow_and_update() {
                return reason;
            }
            if rx.changed().await.is_err() {
                // The sender lives as long as the ownership's shared state, which every
                // guard and the watching task keep; gone means ended.
                return rx.borrow().unwrap_or(LossReason::Released);
            }
        }
    }

    /// The underlying receiver: `None` while the ownership lasts, then the reason.
    pub fn receiver(&self) -> watch::Receiver<Option<LossReason>> {
        self.rx.clone()
    }
}

impl IntoFuture for LostSignal {
    type Output = LossReason;
    type IntoFuture = Pin<Box<dyn Future<Output = LossReason> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(async move { self.wait().await })
    }
}
