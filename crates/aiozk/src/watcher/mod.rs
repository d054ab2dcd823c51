//! Watches as values: the one-shot [`OneshotWatcher`], the persistent [`PersistentWatcher`]
//! and the [`WatchedEvent`] they yield.
//!
//! These types sit below both the client, which hands them out, and the driver, which
//! delivers their events, so neither needs the other. The driver leaves events in the
//! client's watch slots ([`slots`]); a watcher is a slot number and the table it lives in.

mod event;
pub(crate) mod slots;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use aiozk_proto::EventType;

use crate::session::{EventKind, SessionState};
pub(crate) use event::strip_event;
pub use event::WatchedEvent;
use slots::{SlotId, WatchSlots};

/// A one-shot watch: resolves once, with the first event on the watched node.
///
/// If the session expires or the client closes first, it resolves with an event of kind
/// [`EventKind::Ended`] whose `state` says why. The watch survives reconnects: it is
/// re-registered with the server, which reports any change missed meanwhile (an event of
/// kind [`EventKind::CatchUp`]).
#[must_use = "a watcher does nothing unless awaited"]
pub struct OneshotWatcher {
    slots: Arc<WatchSlots>,
    slot: SlotId,
}

impl OneshotWatcher {
    /// The watcher of `slot`, a slot of `slots` just allocated for it.
    pub(crate) fn new(slots: Arc<WatchSlots>, slot: SlotId) -> Self {
        Self { slots, slot }
    }

    /// Its slot.
    pub(crate) fn slot(&self) -> SlotId {
        self.slot
    }
}

impl std::fmt::Debug for OneshotWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the whole table of the client's slots.
        f.debug_struct("OneshotWatcher")
            .field("slot", &self.slot)
            .finish()
    }
}

impl Drop for OneshotWatcher {
    fn drop(&mut self) {
        self.slots.drop_watcher(self.slot);
    }
}

impl Future for OneshotWatcher {
    type Output = WatchedEvent;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<WatchedEvent> {
        match self.slots.poll(self.slot, cx) {
            Poll::Ready(Some(ev)) => Poll::Ready(ev),
            // The driver is gone: the client was closed.
            Poll::Ready(None) => Poll::Ready(WatchedEvent {
                event_type: EventType::None,
                state: SessionState::Closed,
                path: String::new(),
                zxid: None,
                kind: EventKind::Ended,
            }),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Tells the driver that the persistent watcher of a slot was dropped.
pub(crate) type Unwatch = Box<dyn Fn(SlotId) + Send + Sync>;

/// The slots of the persistent watchers of one client: their event queues, and the way to
/// the driver for watchers that are dropped.
pub(crate) struct StreamSlots {
    pub(crate) slots: WatchSlots,
    // It must hold the driver's channel weakly: a watcher must not keep the session open
    // once every Client handle is gone.
    unwatch: Unwatch,
}

impl StreamSlots {
    /// Empty slots whose dropped watchers are reported with `unwatch`.
    pub(crate) fn new(unwatch: Unwatch) -> Self {
        Self {
            slots: WatchSlots::default(),
            unwatch,
        }
    }
}

impl std::fmt::Debug for StreamSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamSlots")
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

/// A persistent or persistent-recursive watch as a stream of events.
///
/// Dropping it unregisters it; when it was the last local watcher of its path and mode, the
/// server watch is removed too. It lives across reconnects and, by default, session
/// expiries: changes missed meanwhile are reported by catch-up events (or a `Resync`), see
/// [`Client::add_watch`](crate::Client::add_watch). The stream ends after an event of kind
/// [`EventKind::Ended`] when the client closes, authentication fails, or the session
/// expires without a new one.
pub struct PersistentWatcher {
    streams: Arc<StreamSlots>,
    slot: SlotId,
}

impl std::fmt::Debug for PersistentWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Not the whole table of the client's slots.
        f.debug_struct("PersistentWatcher")
            .field("slot", &self.slot)
            .finish()
    }
}

impl PersistentWatcher {
    /// The watcher of `slot`, a slot of `streams` just allocated for it.
    pub(crate) fn new(streams: Arc<StreamSlots>, slot: SlotId) -> Self {
        Self { streams, slot }
    }

    /// The next event, or `None` once the watch has ended.
    pub async fn next(&mut self) -> Option<WatchedEvent> {
        std::future::poll_fn(|cx| self.poll_next_event(cx)).await
    }

    fn poll_next_event(&mut self, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        self.streams.slots.poll(self.slot, cx)
    }
}

impl futures_core::Stream for PersistentWatcher {
    type Item = WatchedEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        self.poll_next_event(cx)
    }
}

impl Drop for PersistentWatcher {
    fn drop(&mut self) {
        let streams = &self.streams;
        let slot = self.slot;
        // The driver holds the slot until the session has forgotten the watcher; the
        // removal is sent before the slot can be freed and given to another watcher.
        streams
            .slots
            .drop_watcher_then(slot, || (streams.unwatch)(slot));
    }
}
