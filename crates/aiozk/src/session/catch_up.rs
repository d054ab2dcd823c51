//! Watch re-registration after a reconnect, and the catch-up it brings back: the
//! SetWatches records that set every watch again and ask the server what changed since the
//! last zxid seen, and how the events they bring are told apart from live ones.
//!
//! # What each watch asks for
//! * One-shot watches are sent as they are: the server reports a change made after the
//!   zxid, or sets the watch again.
//! * A plain persistent watch on P adds one-shot catch-up watches on P to the same lists:
//!   data and child watches when its node existed when last heard of (the server then
//!   reports a data change, a children change or the deletion), an exist watch when it did
//!   not (the creation). The server re-arms the persistent watch itself without reporting
//!   anything, so these are what bring the missed changes. A node whose existence was
//!   never heard (its read after the addWatch did not complete) gets a `Resync` instead.
//! * A recursive watch with a cache ([`KnownNodes`](super::KnownNodes)) adds data and child
//!   watches for every node the cache holds, and an exist watch for its root when the cache
//!   does not hold it: the server reports each node that changed. A recursive watch without
//!   one cannot be caught up node by node: its watchers get a `Resync` once the record is
//!   answered, when the server's zxid has moved past the one sent (nothing changed anywhere
//!   otherwise).
//!
//! # One watch mode per path (ZOOKEEPER-4466)
//! Servers 3.6 to 3.8 keep one watch mode per path and connection: a standard watch set on
//! a path replaces its persistent mode. The catch-up watches never do: every entry of a
//! path goes in one record, the catch-up watches in its data, exist and child lists, and
//! the server processes a record's lists in order (data, exist, child, then persistent and
//! recursive), so the persistent registration of the path comes after them and sets its
//! mode last.
//!
//! # Telling catch-up events from live ones
//! The server sends a record's catch-up events while it processes the record, atomically
//! with respect to writes, and its reply right after them. An event whose path is in the
//! data, exist or child list of a record not answered yet is therefore a catch-up event;
//! any later change comes after the reply. Recursive registrations go in the last records,
//! after the catch-up watches of the nodes below them, so no live event of theirs comes
//! before those are answered. Within a record an event is delivered once per path and
//! type: the data and the child watch of a deleted node both report the deletion.

use std::collections::{BTreeMap, HashSet};

use aiozk_proto::{Encode, EventType, OpCode, SetWatches};
use bytes::{Bytes, BytesMut};

use super::types::{Tokens, WatchKind};
use super::watches::{Existence, WatchRegistry};

/// Batches of watch re-registrations start a new batch once their paths reach this many
/// bytes, far below the server's frame limit.
pub const SET_WATCHES_BATCH_BYTES: usize = 128 * 1024;

/// What a SetWatches record sent and not yet answered stands for.
pub(crate) struct Record<S> {
    /// The zxid the server compares the nodes with.
    relative_zxid: i64,
    /// Hashes of the paths of its data, exist and child lists.
    paths: HashSet<u32>,
    /// Catch-up events delivered so far: (path hash, type).
    seen: HashSet<(u32, EventType)>,
    /// Watchers (with their watched path) that get a `Resync` when the record is answered
    /// with a zxid past `relative_zxid`: it re-registers their watch.
    resync: Vec<(S, String)>,
}

impl<S> Record<S> {
    /// Whether an event on the path with hash `h` is one of this record's catch-up events.
    pub(crate) fn covers(&self, h: u32) -> bool {
        self.paths.contains(&h)
    }

    /// Notes a catch-up event of this record; false when one of the same type on the same
    /// path was delivered already.
    pub(crate) fn first_of(&mut self, h: u32, event_type: EventType) -> bool {
        self.seen.insert((h, event_type))
    }

    /// The watchers to tell `Resync`, given the zxid of the record's reply.
    pub(crate) fn into_resync(self, reply_zxid: i64) -> Vec<(S, String)> {
        if reply_zxid > self.relative_zxid {
            self.resync
        } else {
            Vec::new()
        }
    }
}

/// One SetWatches or SetWatches2 request, encoded, with its record.
pub(crate) struct Batch<S> {
    pub(crate) op: OpCode,
    pub(crate) body: Bytes,
    pub(crate) record: Record<S>,
}

/// The records that re-register every watch of `watches` with `zxid` as the relative zxid,
/// in batches whose paths add up to about `limit` bytes.
///
/// Every entry of a path goes in one record, so that the events of a path before that
/// record's reply are all its catch-up events. Paths with a recursive registration come
/// last, after the catch-up watches of the nodes below them: until a recursive watch is
/// registered, no live event of it can arrive.
pub(crate) fn batches<T: Tokens>(
    watches: &WatchRegistry<T>,
    zxid: i64,
    limit: usize,
) -> Vec<Batch<T::Stream>> {
    // The nodes the caches know, collected first: the entries borrow them.
    let mut known: Vec<String> = Vec::new();
    let mut unknown_roots: Vec<&str> = Vec::new();
    let mut resync: Vec<(&str, T::Stream)> = Vec::new();
    for (path, watchers) in watches.recursive_watches() {
        for stream in watchers {
            match watches.known_nodes(&stream) {
                Some(nodes) => {
                    let mut root = false;
                    nodes.for_each(&mut |node| {
                        root |= node == path;
                        known.push(node.to_owned());
                    });
                    if !root {
                        unknown_roots.push(path);
                    }
                }
                None => resync.push((path, stream)),
            }
        }
    }
    let mut entries: BTreeMap<&str, Entry<T::Stream>> = BTreeMap::new();
    for kind in [WatchKind::Data, WatchKind::Exist, WatchKind::Child] {
        for path in watches.oneshot_paths(kind) {
            entries.entry(path).or_default().lists[list(kind)] = true;
        }
    }
    for (path, exists, watchers) in watches.persistent_watches() {
        let e = entries.entry(path).or_default();
        match exists {
            Existence::Present => {
                e.lists[list(WatchKind::Data)] = true;
                e.lists[list(WatchKind::Child)] = true;
            }
            Existence::Absent => e.lists[list(WatchKind::Exist)] = true,
            Existence::Unknown => e.resync.extend(watchers),
        }
    }
    for node in &known {
        let e = entries.entry(node).or_default();
        e.lists[list(WatchKind::Data)] = true;
        e.lists[list(WatchKind::Child)] = true;
    }
    for root in unknown_roots {
        entries.entry(root).or_default().lists[list(WatchKind::Exist)] = true;
    }
    for path in watches.persistent_paths() {
        entries.entry(path).or_default().lists[PERSISTENT] = true;
    }
    for path in watches.recursive_paths() {
        entries.entry(path).or_default().lists[RECURSIVE] = true;
    }
    for (path, stream) in resync {
        entries.entry(path).or_default().resync.push(stream);
    }

    let new_record = || Record {
        relative_zxid: zxid,
        paths: HashSet::new(),
        seen: HashSet::new(),
        resync: Vec::new(),
    };
    let new_batch = || SetWatches {
        relative_zxid: zxid,
        ..Default::default()
    };
    let mut out = Vec::new();
    let mut batch = new_batch();
    let mut record = new_record();
    let mut size = 0;
    let (plain, recursive): (Vec<_>, Vec<_>) =
        entries.into_iter().partition(|(_, e)| !e.lists[RECURSIVE]);
    for (path, entry) in plain.into_iter().chain(recursive) {
        let lists = [
            &mut batch.data,
            &mut batch.exist,
            &mut batch.child,
            &mut batch.persistent,
            &mut batch.persistent_recursive,
        ];
        for (list, _) in lists.into_iter().zip(entry.lists).filter(|(_, on)| *on) {
            list.push(path);
            size += path.len();
        }
        if entry.lists[..PERSISTENT].iter().any(|on| *on) {
            record.paths.insert(watches.path_hash(path));
        }
        record
            .resync
            .extend(entry.resync.into_iter().map(|s| (s, path.to_owned())));
        if size >= limit {
            out.push(encode(&batch, std::mem::replace(&mut record, new_record())));
            batch = new_batch();
            size = 0;
        }
    }
    if !batch.is_empty() {
        out.push(encode(&batch, record));
    }
    out
}

/// The index of a one-shot list in [`Entry::lists`].
fn list(kind: WatchKind) -> usize {
    match kind {
        WatchKind::Data => 0,
        WatchKind::Exist => 1,
        WatchKind::Child => 2,
    }
}

/// The index of the persistent list in [`Entry::lists`], after the three one-shot lists.
const PERSISTENT: usize = 3;
/// The index of the recursive list.
const RECURSIVE: usize = 4;

/// What one path needs from a record: a place in each list (data, exist, child, persistent,
/// recursive, in the order of the record), and the watchers to tell `Resync`.
struct Entry<S> {
    lists: [bool; 5],
    resync: Vec<S>,
}

impl<S> Default for Entry<S> {
    fn default() -> Self {
        Self {
            lists: [false; 5],
            resync: Vec::new(),
        }
    }
}

fn encode<S>(batch: &SetWatches<'_>, record: Record<S>) -> Batch<S> {
    let mut body = BytesMut::new();
    batch.encode(&mut body);
    Batch {
        op: batch.opcode(),
        body: body.freeze(),
        record,
    }
}
