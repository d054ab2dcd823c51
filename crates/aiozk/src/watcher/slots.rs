//! Watch slots: where the driver leaves the events of watches for the watchers that await
//! them. A client has two tables: one for its [`crate::OneshotWatcher`]s (one event per
//! slot), one for its [`crate::PersistentWatcher`]s (a stream of events per slot).
//!
//! One table per client instead of one shared allocation per watch: a watcher is the table's
//! `Arc` and a slot number (16 bytes), the session stores the slot number as the watch's
//! token, and the table keeps one byte of state per slot. Wakers live in blocks of
//! [`CHUNK`] slots, allocated when a watcher in the block is first polled (16 bytes a slot);
//! delivered events wait in a map until their watcher takes them (a queue is allocated only
//! for a second waiting event). A slot is reused once both sides are done with it: the
//! watcher was dropped, and the driver fired, ended or forgot it. Until then its number
//! names one watcher only, so the driver cannot deliver to a later watcher of the slot.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use super::event::WatchedEvent;

/// A slot of [`WatchSlots`]; the session keeps it as the token of the watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotId(u32);

impl SlotId {
    /// The slot number, small and dense: slots are reused.
    pub(crate) fn index(self) -> usize {
        self.0 as usize
    }
}

/// The watcher still exists.
const WATCHER: u8 = 1;
/// The driver (or the session it feeds) still holds the slot's token and may fire it.
const DRIVER: u8 = 2;

/// Slots per block of wakers.
const CHUNK: usize = 256;

/// The slots of one client.
#[derive(Debug, Default)]
pub(crate) struct WatchSlots {
    inner: Mutex<Slots>,
}

#[derive(Debug, Default)]
struct Slots {
    /// `WATCHER | DRIVER` bits per slot; 0 for a free slot.
    flags: Vec<u8>,
    /// Blocks of [`CHUNK`] wakers, allocated on the first poll of a watcher in the block.
    wakers: Vec<Option<Box<[Option<Waker>]>>>,
    /// Events delivered and not yet taken by their watcher (the chroot already stripped).
    fired: HashMap<usize, Queued>,
    /// Free slots, reused first.
    free: Vec<usize>,
    /// Slots in use.
    live: usize,
    /// The driver is gone: new slots start closed.
    stopped: bool,
}

/// The events waiting in one slot: nearly always one, kept without a queue.
#[derive(Debug)]
enum Queued {
    One(WatchedEvent),
    Many(VecDeque<WatchedEvent>),
}

impl Slots {
    /// Queues `event` for the watcher of slot `i`, if the slot is held by both sides.
    fn queue(&mut self, i: usize, event: WatchedEvent) {
        if self.flags.get(i) != Some(&(WATCHER | DRIVER)) {
            return;
        }
        match self.fired.entry(i) {
            Entry::Vacant(v) => {
                v.insert(Queued::One(event));
            }
            Entry::Occupied(mut o) => {
                let q = o.get_mut();
                match q {
                    Queued::Many(list) => list.push_back(event),
                    Queued::One(_) => {
                        let mut list = VecDeque::with_capacity(2);
                        if let Queued::One(first) =
                            std::mem::replace(q, Queued::Many(VecDeque::new()))
                        {
                            list.push_back(first);
                        }
                        list.push_back(event);
                        *q = Queued::Many(list);
                    }
                }
            }
        }
    }

    /// The oldest event waiting in slot `i`.
    fn dequeue(&mut self, i: usize) -> Option<WatchedEvent> {
        let Entry::Occupied(mut o) = self.fired.entry(i) else {
            return None;
        };
        match o.get_mut() {
            Queued::Many(list) => {
                let event = list.pop_front();
                if list.is_empty() {
                    o.remove();
                }
                event
            }
            Queued::One(_) => match o.remove() {
                Queued::One(event) => Some(event),
                Queued::Many(_) => None,
            },
        }
    }

    fn take_waker(&mut self, i: usize) -> Option<Waker> {
        self.wakers
            .get_mut(i / CHUNK)
            .and_then(|c| c.as_mut())
            .and_then(|c| c.get_mut(i % CHUNK))
            .and_then(Option::take)
    }

    /// Clears the `side` bit of slot `i`; frees the slot when the other side is done too.
    /// Returns the waker to wake (outside the lock) when the watcher waits for the slot.
    fn clear(&mut self, i: usize, side: u8) -> Option<Waker> {
        let flags = self.flags.get_mut(i)?;
        if *flags & side == 0 {
            return None;
        }
        *flags &= !side;
        let left = *flags;
        let waker = self.take_waker(i);
        if left == 0 {
            self.fired.remove(&i);
            self.live -= 1;
            if self.live == 0 {
                // Everything is free: give the memory of a burst of watches back.
                let stopped = self.stopped;
                *self = Self {
                    stopped,
                    ..Self::default()
                };
            } else {
                self.free.push(i);
            }
        }
        waker
    }
}

impl WatchSlots {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        // A poisoned lock only means a panic elsewhere; every update leaves the table
        // consistent before anything that could panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new slot, held by both the watcher and the driver (only by the watcher, closed,
    /// once the driver is gone).
    pub(crate) fn allocate(&self) -> SlotId {
        let mut s = self.lock();
        let flags = if s.stopped { WATCHER } else { WATCHER | DRIVER };
        s.live += 1;
        let i = match s.free.pop() {
            Some(i) => {
                s.flags[i] = flags;
                i
            }
            None => {
                s.flags.push(flags);
                s.flags.len() - 1
            }
        };
        // Every live slot is held by a watcher of at least 16 bytes: 2^32 of them cannot
        // fit in memory.
        SlotId(u32::try_from(i).expect("fewer than 2^32 watchers"))
    }

    /// The driver fires the slot: the watcher gets `event` (or, when it is gone, the slot is
    /// freed).
    pub(crate) fn fire(&self, id: SlotId, event: WatchedEvent) {
        let waker = {
            let mut s = self.lock();
            s.queue(id.index(), event);
            s.clear(id.index(), DRIVER)
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The driver delivers one event of a stream and keeps the slot (a persistent watch).
    pub(crate) fn push(&self, id: SlotId, event: WatchedEvent) {
        let waker = {
            let mut s = self.lock();
            s.queue(id.index(), event);
            s.take_waker(id.index())
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// The driver drops the slot without firing it: its watcher resolves as closed.
    pub(crate) fn release(&self, id: SlotId) {
        let waker = self.lock().clear(id.index(), DRIVER);
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// For the driver's garbage collection: when the watcher is gone, releases the driver's
    /// side (freeing the slot) and returns true, so that the session forgets the token.
    pub(crate) fn forget_if_abandoned(&self, id: SlotId) -> bool {
        let mut s = self.lock();
        if s.flags.get(id.index()).is_some_and(|f| f & WATCHER != 0) {
            return false;
        }
        // No watcher, so no waker to wake.
        drop(s.clear(id.index(), DRIVER));
        true
    }

    /// The watcher was dropped.
    pub(crate) fn drop_watcher(&self, id: SlotId) {
        self.drop_watcher_then(id, || ());
    }

    /// The watcher was dropped; `tell_driver` runs first, under the lock, when the driver
    /// still holds the slot. Under the lock, so that the driver cannot free the slot, and
    /// another watcher reuse its number, before whatever `tell_driver` sends is on its way.
    pub(crate) fn drop_watcher_then(&self, id: SlotId, tell_driver: impl FnOnce()) {
        let (waker, event) = {
            let mut s = self.lock();
            if s.flags.get(id.index()).is_some_and(|f| f & DRIVER != 0) {
                tell_driver();
            }
            let event = s.fired.remove(&id.index());
            (s.clear(id.index(), WATCHER), event)
        };
        // Dropped outside the lock: a waker's drop may run arbitrary code.
        drop((waker, event));
    }

    /// The next event delivered to the slot; `None` once the driver has let the slot go
    /// (fired a one-shot watch, ended a stream, or stopped) and every event was taken.
    pub(crate) fn poll(&self, id: SlotId, cx: &mut Context<'_>) -> Poll<Option<WatchedEvent>> {
        let mut s = self.lock();
        if let Some(event) = s.dequeue(id.index()) {
            return Poll::Ready(Some(event));
        }
        if s.flags.get(id.index()).is_none_or(|f| f & DRIVER == 0) {
            return Poll::Ready(None);
        }
        let (block, at) = (id.index() / CHUNK, id.index() % CHUNK);
        if s.wakers.len() <= block {
            s.wakers.resize_with(block + 1, || None);
        }
        let chunk = s.wakers[block].get_or_insert_with(|| (0..CHUNK).map(|_| None).collect());
        match &mut chunk[at] {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Slots in use.
    #[cfg(test)]
    pub(crate) fn live(&self) -> usize {
        self.lock().live
    }

    /// The driver is gone: every slot it still held resolves as closed, and slots allocated
    /// from now on start closed.
    pub(crate) fn close_all(&self) {
        let wakers: Vec<Waker> = {
            let mut s = self.lock();
            s.stopped = true;
            let held: Vec<usize> = (0..s.flags.len())
                .filter(|&i| s.flags[i] & DRIVER != 0)
                .collect();
            held.into_iter()
                .filter_map(|i| s.clear(i, DRIVER))
                .collect()
        };
        wakers.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn event(path: &str) -> WatchedEvent {
        WatchedEvent {
            event_type: crate::EventType::NodeDeleted,
            state: crate::SessionState::Connected,
            path: path.to_owned(),
            zxid: None,
            kind: crate::EventKind::Change,
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    #[test]
    fn fire_wakes_and_delivers_once() {
        let slots = WatchSlots::default();
        let id = slots.allocate();
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(slots.poll(id, &mut cx), Poll::Pending);
        slots.fire(id, event("/a"));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(slots.poll(id, &mut cx), Poll::Ready(Some(event("/a"))));
        assert_eq!(slots.poll(id, &mut cx), Poll::Ready(None));
        slots.drop_watcher(id);
        assert_eq!(slots.live(), 0);
    }

    #[test]
    fn slots_are_reused_only_when_both_sides_are_done() {
        let slots = WatchSlots::default();
        let a = slots.allocate();
        let b = slots.allocate();
        slots.drop_watcher(a);
        assert!(!slots.forget_if_abandoned(b));
        // The driver still holds `a`: not reused yet.
        assert_ne!(slots.allocate(), a);
        assert!(slots.forget_if_abandoned(a));
        assert_eq!(slots.allocate(), a);
        // Firing a slot whose watcher is gone keeps no event.
        slots.drop_watcher(b);
        slots.fire(b, event("/b"));
        assert!(slots.lock().fired.is_empty());
    }

    #[test]
    fn release_and_close_all_resolve_watchers_as_closed() {
        let slots = WatchSlots::default();
        let a = slots.allocate();
        let b = slots.allocate();
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(slots.poll(a, &mut cx), Poll::Pending);
        assert_eq!(slots.poll(b, &mut cx), Poll::Pending);
        slots.release(a);
        assert_eq!(slots.poll(a, &mut cx), Poll::Ready(None));
        slots.close_all();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
        assert_eq!(slots.poll(b, &mut cx), Poll::Ready(None));
        let c = slots.allocate();
        assert_eq!(slots.poll(c, &mut cx), Poll::Ready(None));
        for id in [a, b, c] {
            slots.drop_watcher(id);
        }
        assert_eq!(slots.live(), 0);
    }

    #[test]
    fn streams_keep_their_slot_and_deliver_in_order_until_ended() {
        let slots = WatchSlots::default();
        let id = slots.allocate();
        let (count, w) = waker();
        let mut cx = Context::from_waker(&w);
        assert_eq!(slots.poll(id, &mut cx), Poll::Pending);
        for p in ["/a", "/b", "/c"] {
            slots.push(id, event(p));
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(slots.poll(id, &mut cx), Poll::Ready(Some(event("/a"))));
        slots.release(id);
        assert_eq!(slots.poll(id, &mut cx), Poll::Ready(Some(event("/b"))));
        assert_eq!(slots.poll(id, &mut cx), Poll::Ready(Some(event("/c"))));
        assert_eq!(slots.poll(id, &mut cx), Poll::Ready(None));
        // Ended: a dropped watcher has nothing to tell the driver.
        let mut told = false;
        slots.drop_watcher_then(id, || told = true);
        assert!(!told);
        assert_eq!(slots.live(), 0);
    }

    #[test]
    fn a_dropped_stream_watcher_tells_the_driver_and_keeps_its_slot_until_released() {
        let slots = WatchSlots::default();
        let a = slots.allocate();
        let mut told = false;
        slots.drop_watcher_then(a, || told = true);
        assert!(told);
        slots.push(a, event("/late"));
        assert!(slots.lock().fired.is_empty());
        assert_ne!(slots.allocate(), a, "the driver still holds the slot");
        slots.release(a);
        assert_eq!(slots.allocate(), a);
    }
}
