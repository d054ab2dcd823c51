//! The local watch registry: which local watchers wait for which server watch.
//!
//! The server keeps at most one watch per (connection, path, table); many local watchers can
//! share it. This registry fans each notification out to the right local watchers and lists
//! the watches to re-register after a reconnect.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use aiozk_proto::{AddWatchMode, Encode, EventType, OpCode, SetWatches};
use bytes::{Bytes, BytesMut};

use super::{Tokens, WatchedEvent};

/// The kind of a one-shot watch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// Set by getData, or by exists on an existing node: fires on change and deletion.
    Data,
    /// Set by exists on a missing node: fires on creation.
    Exist,
    /// Set by getChildren: fires when the children change or the node is deleted.
    Child,
}

/// What the server watch of a path needs after a persistent watcher was removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// No local persistent watcher is left: remove the server watch.
    Remove(String),
    /// Only plain persistent watchers are left: switch the server watch from recursive to
    /// persistent mode.
    Downgrade(String),
}

/// A local watcher reached by a notification or by the end of the session.
pub(crate) enum Hit<'a, T: Tokens> {
    /// A one-shot watcher, removed from the registry.
    Oneshot(T::Oneshot),
    /// A persistent watcher, still registered.
    Stream(&'a T::Stream),
    /// A persistent watcher removed from the registry.
    StreamEnded(T::Stream),
}

struct Persistent<S> {
    id: u64,
    /// The server acknowledged the addWatch for this watcher (or already held the watch).
    active: bool,
    stream: S,
}

/// The persistent watchers of one path in one mode, in registration order: nearly always
/// one, kept inline (24 bytes; a `Vec` took 24 bytes of table and a block of four).
#[allow(clippy::box_collection)]
enum PersistentList<S> {
    One(Persistent<S>),
    /// Two or more (boxed, to keep the enum at the size of one watcher).
    Many(Box<Vec<Persistent<S>>>),
}

impl<S> PersistentList<S> {
    fn iter(&self) -> std::slice::Iter<'_, Persistent<S>> {
        match self {
            Self::One(p) => std::slice::from_ref(p).iter(),
            Self::Many(list) => list.iter(),
        }
    }

    fn iter_mut(&mut self) -> std::slice::IterMut<'_, Persistent<S>> {
        match self {
            Self::One(p) => std::slice::from_mut(p).iter_mut(),
            Self::Many(list) => list.iter_mut(),
        }
    }

    fn push(&mut self, watcher: Persistent<S>) {
        match self {
            Self::Many(list) => list.push(watcher),
            Self::One(_) => {
                let list = Self::Many(Box::new(Vec::with_capacity(2)));
                if let Self::One(first) = std::mem::replace(self, list) {
                    if let Self::Many(list) = self {
                        list.extend([first, watcher]);
                    }
                }
            }
        }
    }

    /// Removes watcher `id`; false when none is left (the caller drops the list).
    fn remove(&mut self, id: u64) -> bool {
        let Self::Many(list) = self else {
            return !matches!(self, Self::One(p) if p.id == id);
        };
        list.retain(|p| p.id != id);
        if list.len() == 1 {
            if let Some(last) = list.pop() {
                *self = Self::One(last);
            }
            return true;
        }
        !list.is_empty()
    }

    fn into_vec(self) -> Vec<Persistent<S>> {
        match self {
            Self::One(p) => vec![p],
            Self::Many(list) => *list,
        }
    }
}

type PersistentTable<S> = HashMap<Box<str>, PersistentList<S>>;

/// The one-shot watchers of one table, by path.
///
/// A path nearly always has one watcher: it is stored as the value of `first`, 24 bytes of
/// table with a `Box<str>` key and a token of 8 bytes or less; the watchers after it wait
/// in `more` (a `Vec` per path in the same map cost 32 bytes of table and a 32-byte block).
struct OneshotTable<T> {
    first: HashMap<Box<str>, T>,
    /// Every watcher of a path after its first, in registration order; never an empty list,
    /// never a path missing from `first`.
    more: HashMap<Box<str>, Vec<T>>,
}

impl<T> Default for OneshotTable<T> {
    fn default() -> Self {
        Self {
            first: HashMap::new(),
            more: HashMap::new(),
        }
    }
}

/// The watchers removed from one path of a table, in registration order.
struct Removed<T> {
    first: T,
    more: Vec<T>,
}

impl<T> Removed<T> {
    fn len(&self) -> usize {
        1 + self.more.len()
    }

    fn into_iter(self) -> impl Iterator<Item = T> {
        std::iter::once(self.first).chain(self.more)
    }
}

impl<T> OneshotTable<T> {
    fn add(&mut self, path: String, token: T) {
        if self.first.contains_key(path.as_str()) {
            self.more
                .entry(path.into_boxed_str())
                .or_default()
                .push(token);
        } else {
            self.first.insert(path.into_boxed_str(), token);
        }
    }

    fn contains(&self, path: &str) -> bool {
        self.first.contains_key(path)
    }

    fn remove(&mut self, path: &str) -> Option<Removed<T>> {
        let first = self.first.remove(path)?;
        let more = self.more.remove(path).unwrap_or_default();
        Some(Removed { first, more })
    }

    /// Keeps the watchers `keep` accepts; returns how many are left.
    fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) -> usize {
        self.more.retain(|_, list| {
            list.retain(&mut keep);
            !list.is_empty()
        });
        let more = &mut self.more;
        self.first.retain(|path, first| {
            if keep(first) {
                return true;
            }
            // The next watcher of the path, if any, takes the first place.
            let Some(list) = more.get_mut(&**path) else {
                return false;
            };
            *first = list.remove(0);
            if list.is_empty() {
                more.remove(&**path);
            }
            true
        });
        self.first.len() + self.more.values().map(Vec::len).sum::<usize>()
    }

    fn paths(&self) -> impl Iterator<Item = &str> {
        self.first.keys().map(|k| &**k)
    }

    /// Empties the table, reporting each watcher with its path.
    fn drain(&mut self, mut f: impl FnMut(T, &str)) {
        let mut more = std::mem::take(&mut self.more);
        for (path, first) in self.first.drain() {
            f(first, &path);
            for t in more.remove(&*path).into_iter().flatten() {
                f(t, &path);
            }
        }
    }
}

pub(crate) struct WatchRegistry<T: Tokens> {
    data: OneshotTable<T::Oneshot>,
    exist: OneshotTable<T::Oneshot>,
    child: OneshotTable<T::Oneshot>,
    persistent: PersistentTable<T::Stream>,
    recursive: PersistentTable<T::Stream>,
    by_id: HashMap<u64, (Box<str>, AddWatchMode)>,
    /// One-shot watchers in the three tables. Kept as a count: the driver reads `len` after
    /// every wake-up, and summing the tables made that O(watches).
    oneshot_len: usize,
}

impl<T: Tokens> Default for WatchRegistry<T> {
    fn default() -> Self {
        Self {
            data: OneshotTable::default(),
            exist: OneshotTable::default(),
            child: OneshotTable::default(),
            persistent: HashMap::new(),
            recursive: HashMap::new(),
            by_id: HashMap::new(),
            oneshot_len: 0,
        }
    }
}

impl<T: Tokens> WatchRegistry<T> {
    pub(crate) fn len(&self) -> usize {
        self.oneshot_len + self.by_id.len()
    }

    fn oneshot_table(&mut self, kind: WatchKind) -> &mut OneshotTable<T::Oneshot> {
        match kind {
            WatchKind::Data => &mut self.data,
            WatchKind::Exist => &mut self.exist,
            WatchKind::Child => &mut self.child,
        }
    }

    fn persistent_table(&mut self, mode: AddWatchMode) -> &mut PersistentTable<T::Stream> {
        match mode {
            AddWatchMode::Persistent => &mut self.persistent,
            AddWatchMode::PersistentRecursive => &mut self.recursive,
        }
    }

    pub(crate) fn add_oneshot(&mut self, kind: WatchKind, path: String, token: T::Oneshot) {
        // A node can move between "exists" and "missing" between two reads: keep the data
        // and exist tables disjoint per path, as the server does.
        let other = match kind {
            WatchKind::Data => Some(WatchKind::Exist),
            WatchKind::Exist => Some(WatchKind::Data),
            WatchKind::Child => None,
        };
        let moved = other.and_then(|o| self.oneshot_table(o).remove(path.as_str()));
        let table = self.oneshot_table(kind);
        if let Some(moved) = moved {
            for t in moved.into_iter() {
                table.add(path.clone(), t);
            }
        }
        table.add(path, token);
        self.oneshot_len += 1;
    }

    /// Adds a persistent watcher; returns whether the server already holds the watch for
    /// another active local watcher.
    pub(crate) fn add_persistent(
        &mut self,
        id: u64,
        path: String,
        mode: AddWatchMode,
        stream: T::Stream,
    ) -> bool {
        let path = path.into_boxed_str();
        self.by_id.insert(id, (path.clone(), mode));
        // A 3.6–3.8 server keeps one watch mode per path and connection, so a recursive
        // watch also serves the persistent watchers of its path: their child events are
        // derived from the recursive watch's creations and deletions of direct children.
        let served_by_recursive = mode == AddWatchMode::Persistent && self.recursive_active(&path);
        match self.persistent_table(mode).entry(path) {
            Entry::Occupied(mut list) => {
                let list = list.get_mut();
                let active = served_by_recursive || list.iter().any(|p| p.active);
                list.push(Persistent { id, active, stream });
                active
            }
            Entry::Vacant(slot) => {
                let active = served_by_recursive;
                slot.insert(PersistentList::One(Persistent { id, active, stream }));
                active
            }
        }
    }

    pub(crate) fn activate_persistent(&mut self, id: u64) {
        let Some((path, mode)) = self.by_id.get(&id).cloned() else {
            return;
        };
        if let Some(list) = self.persistent_table(mode).get_mut(&path) {
            for p in list.iter_mut().filter(|p| p.id == id) {
                p.active = true;
            }
        }
    }

    fn recursive_active(&self, path: &str) -> bool {
        self.recursive
            .get(path)
            .is_some_and(|l| l.iter().any(|p| p.active))
    }

    /// Removes a persistent watcher and says what the server watch of its path needs.
    pub(crate) fn remove_persistent(&mut self, id: u64) -> Option<Removal> {
        let (path, mode) = self.by_id.remove(&id)?;
        let was_recursive = self.recursive_active(&path);
        let table = self.persistent_table(mode);
        if let Some(list) = table.get_mut(&path) {
            if !list.remove(id) {
                table.remove(&path);
            }
        }
        if self.recursive.contains_key(&path) {
            return None;
        }
        if self.persistent.contains_key(&path) {
            // The last recursive watcher went: the server must be told to keep a plain
            // persistent watch for the others.
            return was_recursive.then(|| Removal::Downgrade(path.into_string()));
        }
        Some(Removal::Remove(path.into_string()))
    }

    /// True when a persistent watcher of either mode is registered on `path`.
    pub(crate) fn has_persistent(&self, path: &str) -> bool {
        self.persistent.contains_key(path) || self.recursive.contains_key(path)
    }

    /// True when a one-shot watch on `path` still relies on the server's tables.
    pub(crate) fn path_is_watched(&self, path: &str) -> bool {
        self.data.contains(path) || self.exist.contains(path) || self.child.contains(path)
    }

    pub(crate) fn retain_oneshot(&mut self, mut keep: impl FnMut(&T::Oneshot) -> bool) {
        let mut left = 0;
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            left += table.retain(&mut keep);
        }
        self.oneshot_len = left;
    }

    /// Delivers a server notification to every local watcher it concerns.
    pub(crate) fn fire(
        &mut self,
        event: &WatchedEvent,
        mut hit: impl FnMut(Hit<'_, T>, &WatchedEvent),
    ) {
        let path = event.path.as_str();
        let kinds: &[WatchKind] = match event.event_type {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                &[WatchKind::Data, WatchKind::Exist]
            }
            EventType::NodeChildrenChanged => &[WatchKind::Child],
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Exist, WatchKind::Child],
            _ => &[],
        };
        for &kind in kinds {
            if let Some(removed) = self.oneshot_table(kind).remove(path) {
                self.oneshot_len -= removed.len();
                removed
                    .into_iter()
                    .for_each(|t| hit(Hit::Oneshot(t), event));
            }
        }
        if let Some(list) = self.persistent.get(path) {
            list.iter()
                .filter(|p| p.active)
                .for_each(|p| hit(Hit::Stream(&p.stream), event));
        }
        // Persistent watchers served by a recursive watch on the same path (see
        // `add_persistent`) learn of child changes from creations and deletions below.
        if matches!(
            event.event_type,
            EventType::NodeCreated | EventType::NodeDeleted
        ) {
            if let Some(parent) = crate::path::parent(path) {
                if self.recursive_active(parent) {
                    if let Some(list) = self.persistent.get(parent) {
                        let derived = WatchedEvent {
                            event_type: EventType::NodeChildrenChanged,
                            path: parent.to_owned(),
                            ..event.clone()
                        };
                        list.iter()
                            .filter(|p| p.active)
                            .for_each(|p| hit(Hit::Stream(&p.stream), &derived));
                    }
                }
            }
        }
        // Recursive watches never receive child events: the server does not send them for
        // recursive watches, and one arriving for a standard child watch is not theirs.
        if event.event_type != EventType::NodeChildrenChanged && !self.recursive.is_empty() {
            let mut at = Some(path);
            while let Some(p) = at {
                if let Some(list) = self.recursive.get(p) {
                    list.iter()
                        .filter(|p| p.active)
                        .for_each(|p| hit(Hit::Stream(&p.stream), event));
                }
                at = crate::path::parent(p);
            }
        }
    }

    /// Removes every watcher, reporting each to the callbacks (used when the session ends).
    pub(crate) fn drain_all(&mut self, mut hit: impl FnMut(Hit<'_, T>, &str)) {
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            table.drain(|token, path| hit(Hit::Oneshot(token), path));
        }
        self.oneshot_len = 0;
        for table in [&mut self.persistent, &mut self.recursive] {
            for (path, list) in table.drain() {
                for p in list.into_vec() {
                    hit(Hit::StreamEnded(p.stream), &path);
                }
            }
        }
        self.by_id.clear();
    }

    /// The SetWatches/SetWatches2 bodies that re-register every watch, in batches whose
    /// paths add up to about `limit` bytes.
    pub(crate) fn set_watches_batches(&self, zxid: i64, limit: usize) -> Vec<(OpCode, Bytes)> {
        let persistent: Vec<&str> = active_paths(&self.persistent)
            .into_iter()
            .filter(|p| !self.recursive_active(p))
            .collect();
        let recursive = active_paths(&self.recursive);
        let lists: [Vec<&str>; 5] = [
            self.data.paths().collect(),
            self.exist.paths().collect(),
            self.child.paths().collect(),
            persistent,
            recursive,
        ];
        let mut out = Vec::new();
        let mut batch = SetWatches {
            relative_zxid: zxid,
            ..Default::default()
        };
        let mut size = 0;
        for (i, list) in lists.iter().enumerate() {
            for &path in list {
                let target = match i {
                    0 => &mut batch.data,
                    1 => &mut batch.exist,
                    2 => &mut batch.child,
                    3 => &mut batch.persistent,
                    _ => &mut batch.persistent_recursive,
                };
                target.push(path);
                size += path.len();
                if size >= limit {
                    out.push(encode_batch(&batch));
                    batch = SetWatches {
                        relative_zxid: zxid,
                        ..Default::default()
                    };
                    size = 0;
                }
            }
        }
        if !batch.is_empty() {
            out.push(encode_batch(&batch));
        }
        out
    }
}

/// The paths of `table` with an active watcher.
fn active_paths<S>(table: &PersistentTable<S>) -> Vec<&str> {
    table
        .iter()
        .filter(|(_, l)| l.iter().any(|p| p.active))
        .map(|(k, _)| &**k)
        .collect()
}

fn encode_batch(batch: &SetWatches<'_>) -> (OpCode, Bytes) {
    let mut body = BytesMut::new();
    batch.encode(&mut body);
    (batch.opcode(), body.freeze())
}
