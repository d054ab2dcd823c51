//! Locks, leases, semaphores and elections.
//!
//! Every recipe here grants ownership through one ephemeral sequential node per
//! contender, named `<path>/<label>-<guid>-<10-digit sequence>` as in the Python library
//! aiozk (`guid` is a uuid4 in hex), and ordered by the sequence number:
//!
//! | recipe | label | granted when |
//! |---|---|---|
//! | [`Lock`] | `lock` (or [`Lock::with_label`]) | no earlier blocking node |
//! | [`SharedLock`] readers | `read` | no earlier `write` node |
//! | [`SharedLock`] writers | `write` | no earlier node |
//! | [`Semaphore`] | `permit` | fewer than N earlier nodes |
//! | [`Lease`] | `lease` | fewer than N earlier nodes, checked once |
//! | [`LeaderElection`] | `candidate` | no earlier node |
//!
//! # Ownership loss
//! A granted ownership comes with a [`LostSignal`] that fires, with a [`LossReason`], when
//! it ends: released, session expired, node deleted, lease expired, client closed, or
//! **suspended**: the connection has been down for so long that the server may already
//! have expired the session.
//!
//! The suspension rule is what makes the signal come early enough. The server expires a
//! session no earlier than one session timeout after it last heard from the client. The
//! client notices a silent connection at most two thirds of the timeout after its last
//! reply (aiozk's client, like the Java client). So when the client reports
//! `Disconnected`, at least a third of the timeout is left before the ownership node can
//! be deleted by the server and someone else granted ownership; the signal fires after
//! [that third minus a margin](#suspension-grace). Waiting for the client's own
//! `Expired` state instead leaves no margin: the client declares the session expired one
//! timeout after its last reply, which is about when the server may expire it (the
//! server rounds its expiry up to a tick, but measures from when it last heard from us,
//! which can be earlier than our last reply by up to a round trip).
//!
//! After an involuntary loss the recipe deletes its node as soon as it can (a delete
//! queued at once, retried after reconnecting), also when the session may still be alive.
//!
//! # Suspension grace
//! `session_timeout / 3 - max(session_timeout / 10, 100 ms)`: 467 ms for a 2 s session,
//! 933 ms for 4 s, 2.33 s for 10 s. Connection drops shorter than that do not end an
//! ownership. The margin covers the round trip and timers that fire late on a busy
//! machine.
//!
//! # Fenced writes
//! A local flag can never be exact: a process may be paused between checking it and
//! writing. [`Fence`] sends each write in a transaction that first checks that the
//! ownership node exists, so the server refuses the write once the ownership is gone.
//! Because the recipe queues the delete of its node when it signals a loss, and the
//! client sends requests in call order, every fenced write made after the signal fired
//! fails, even when the session survived.

mod election;
mod fence;
mod guard;
mod lease;
mod lock;
mod loss;
mod node;

pub(crate) use self::node::Core;
mod semaphore;
mod waiting;

pub use self::election::{LeaderElection, Leadership};
pub use self::fence::Fence;
pub use self::guard::OwnershipGuard;
pub use self::lease::{Lease, LeaseGuard};
pub use self::lock::{Lock, LockGuard, SharedLock};
pub use self::loss::{LossReason, LostSignal};
pub use self::semaphore::{Semaphore, SemaphorePermit};
