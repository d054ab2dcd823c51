//! The local watch registry: which local watchers wait for which server watch.
//!
//! The server keeps at most one watch per (connection, path, table); many local watchers can
//! share it. This registry fans each notification out to the right local watchers and lists
//! the watches to re-register after a reconnect (`catch_up` turns them into SetWatches
//! records).

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use hashbrown::HashTable;

use aiozk_proto::{AddWatchMode, EventType, OpCode, Response};

use super::types::{KnownNodes, Tokens, WatchKind, WatchedEvent};
use crate::error::Error;

/// The table the one-shot watch of a watch-setting read (`op`, asking for `requested`) lands
/// in, judging by its reply; `None` when the read set no watch (its token is then dropped).
/// exists sets a watch even when the node is missing (an exist watch); the other reads set
/// one only on success.
pub(crate) fn watch_set_by(
    op: OpCode,
    requested: WatchKind,
    result: &Result<Response, Error>,
) -> Option<WatchKind> {
    match (op, result) {
        (OpCode::Exists, Ok(_)) => Some(WatchKind::Data),
        (OpCode::Exists, Err(Error::NoNode)) => Some(WatchKind::Exist),
        (_, Ok(_)) => Some(requested),
        _ => None,
    }
}

/// How the server of the current connection removes persistent watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WatchRemoval {
    /// Not known yet: the next removal is sent typed and tells.
    Unknown,
    /// 3.9+: by type Persistent or PersistentRecursive, beside one-shot watches.
    Typed,
    /// 3.6–3.8: with type Any, once the path's one-shot watches have fired.
    AnyOnly,
}

/// What the server watch of a path needs after a persistent watcher was removed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Removal {
    /// Other local watchers still need the server watch as it is.
    Keep,
    /// No local persistent watcher is left: remove the server watch, which is recursive
    /// when the flag says so (the mode of the last watcher removed).
    Remove(String, bool),
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

/// Whether the node of a persistent watch exists, as last heard (from the read that
/// follows its addWatch, then from its events): what its catch-up after a reconnect asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Existence {
    /// Not heard yet (the read did not complete before the connection was lost).
    Unknown,
    Present,
    Absent,
}

impl Existence {
    /// What an event on the node itself says.
    fn after(self, event: EventType) -> Self {
        match event {
            EventType::NodeDeleted => Self::Absent,
            EventType::NodeCreated
            | EventType::NodeDataChanged
            | EventType::NodeChildrenChanged => Self::Present,
            _ => self,
        }
    }
}

/// The persistent watchers of one path in one mode: 24 bytes with a 4-byte stream handle.
/// The first watcher is kept inline; the others (rare: a path watched twice) wait in
/// [`PersistentTable::more`].
struct PathWatch<S> {
    path: Box<str>,
    first: S,
    /// The server acknowledged the addWatch of the first watcher (or already held the
    /// watch).
    first_active: bool,
    /// More watchers of this path wait in [`PersistentTable::more`].
    shared: bool,
    /// Whether the node exists (kept in the plain persistent table only).
    exists: Existence,
}

impl<S: Copy + Eq> PathWatch<S> {
    /// Whether `stream` is one of this path's watchers (`more`: [`PersistentTable::more`]).
    fn holds(&self, stream: S, more: &HashMap<Box<str>, Vec<Persistent<S>>>) -> bool {
        self.first == stream
            || (self.shared
                && more
                    .get(&*self.path)
                    .is_some_and(|l| l.iter().any(|p| p.stream == stream)))
    }
}

/// A persistent watcher after the first of its path.
struct Persistent<S> {
    stream: S,
    active: bool,
}

/// The persistent watchers of one mode.
///
/// Paths are stored once: the table holds [`PathWatch`]es found by a 32-bit hash of the
/// path, and the registry remembers that hash for each watcher (by its stream's index), so
/// that a watcher is found again without a second table of paths.
struct PersistentTable<S> {
    paths: HashTable<PathWatch<S>>,
    /// Hashes the paths again when the table grows.
    hasher: PathHasher,
    /// The watchers after the first of each shared path, in registration order; never an
    /// empty list, never a path missing from `paths`.
    more: HashMap<Box<str>, Vec<Persistent<S>>>,
}

impl<S> PersistentTable<S> {
    fn new(hasher: PathHasher) -> Self {
        Self {
            paths: HashTable::new(),
            hasher,
            more: HashMap::new(),
        }
    }
}

/// The table hash of a 32-bit path hash: spread over 64 bits (the table takes its bucket
/// from the low bits and a tag from the top ones).
fn spread(h: u32) -> u64 {
    u64::from(h).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}

impl<S: Copy + Eq> PersistentTable<S> {
    fn get(&self, h: u32, path: &str) -> Option<&PathWatch<S>> {
        self.paths.find(spread(h), |w| &*w.path == path)
    }

    fn contains(&self, h: u32, path: &str) -> bool {
        self.get(h, path).is_some()
    }

    fn is_empty(&self) -> bool {
        self.paths.is_empty()
    }

    /// Every watcher of `w` with its active flag, in registration order.
    fn watchers<'a>(&'a self, w: &'a PathWatch<S>) -> impl Iterator<Item = (&'a S, bool)> {
        let more = if w.shared {
            self.more.get(&*w.path).map(Vec::as_slice).unwrap_or(&[])
        } else {
            &[]
        };
        std::iter::once((&w.first, w.first_active))
            .chain(more.iter().map(|p| (&p.stream, p.active)))
    }

    fn any_active(&self, h: u32, path: &str) -> bool {
        self.get(h, path)
            .is_some_and(|w| self.watchers(w).any(|(_, active)| active))
    }

    /// Adds a watcher, active at once when `served` (the server already holds a watch that
    /// serves it) or when another watcher of the path is active. Returns whether it is.
    fn add(&mut self, h: u32, path: Box<str>, stream: S, served: bool) -> bool {
        let more = &mut self.more;
        if let Some(w) = self.paths.find_mut(spread(h), |w| w.path == path) {
            let active = served
                || w.first_active
                || (w.shared && more.get(&path).is_some_and(|l| l.iter().any(|p| p.active)));
            w.shared = true;
            more.entry(path)
                .or_default()
                .push(Persistent { stream, active });
            return active;
        }
        let w = PathWatch {
            path,
            first: stream,
            first_active: served,
            shared: false,
            exists: Existence::Unknown,
        };
        self.paths
            .insert_unique(spread(h), w, |w| spread(self.hasher.hash(&w.path)));
        served
    }

    /// Marks watcher `stream` active.
    fn activate(&mut self, h: u32, stream: S) {
        let more = &mut self.more;
        let Some(w) = self.paths.find_mut(spread(h), |w| w.holds(stream, more)) else {
            return;
        };
        if w.first == stream {
            w.first_active = true;
        } else if let Some(list) = more.get_mut(&*w.path) {
            for p in list.iter_mut().filter(|p| p.stream == stream) {
                p.active = true;
            }
        }
    }

    /// Removes watcher `stream`; returns its path and whether the watcher was active, or
    /// `None` when the table does not hold the watcher.
    fn remove(&mut self, h: u32, stream: S) -> Option<(Box<str>, bool)> {
        let more = &mut self.more;
        let Ok(entry) = self.paths.find_entry(spread(h), |w| w.holds(stream, more)) else {
            return None;
        };
        if !entry.get().shared {
            let (w, _) = entry.remove();
            return Some((w.path, w.first_active));
        }
        let w = entry.into_mut();
        let list = more.get_mut(&*w.path)?;
        let active;
        if w.first == stream {
            // The next watcher takes the first place.
            let next = list.remove(0);
            active = w.first_active;
            w.first = next.stream;
            w.first_active = next.active;
        } else {
            active = list.iter().any(|p| p.stream == stream && p.active);
            list.retain(|p| p.stream != stream);
        }
        if list.is_empty() {
            more.remove(&*w.path);
            w.shared = false;
        }
        Some((w.path.clone(), active))
    }

    /// Paths with an active watcher.
    fn active_paths(&self) -> impl Iterator<Item = &str> {
        self.active().map(|w| &*w.path)
    }

    /// The entries of the paths with an active watcher.
    fn active(&self) -> impl Iterator<Item = &PathWatch<S>> {
        self.paths
            .iter()
            .filter(|w| self.watchers(w).any(|(_, active)| active))
    }

    /// The active watchers of `w`.
    fn active_watchers<'a>(&'a self, w: &'a PathWatch<S>) -> impl Iterator<Item = S> + 'a {
        self.watchers(w)
            .filter(|(_, active)| *active)
            .map(|(s, _)| *s)
    }

    /// Records whether the node of `path` exists.
    fn set_exists(&mut self, h: u32, path: &str, exists: Existence) {
        if let Some(w) = self.paths.find_mut(spread(h), |w| &*w.path == path) {
            w.exists = exists;
        }
    }

    /// Empties the table, reporting each watcher with its path.
    fn drain(&mut self, mut f: impl FnMut(S, &str)) {
        let mut more = std::mem::take(&mut self.more);
        for w in self.paths.drain() {
            f(w.first, &w.path);
            for p in more.remove(&*w.path).into_iter().flatten() {
                f(p.stream, &w.path);
            }
        }
    }
}

/// The hash of a path, the same in both persistent tables.
#[derive(Clone, Default)]
struct PathHasher(RandomState);

impl PathHasher {
    fn hash(&self, path: &str) -> u32 {
        let h = self.0.hash_one(path);
        // The two halves folded together; the mask makes the conversion lossless.
        u32::try_from((h ^ (h >> 32)) & u64::from(u32::MAX)).unwrap_or_default()
    }
}

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
    hasher: PathHasher,
    /// The path hash of each persistent watcher, by the index of its stream: how a watcher
    /// is found again in its table.
    hashes: Vec<u32>,
    /// The nodes known to the recursive watchers that have a cache, by stream index.
    known: HashMap<usize, Arc<dyn KnownNodes>>,
    /// Persistent watchers registered.
    persistent_len: usize,
    /// One-shot watchers in the three tables. Kept as a count: the driver reads `len` after
    /// every wake-up, and summing the tables made that O(watches).
    oneshot_len: usize,
}

impl<T: Tokens> Default for WatchRegistry<T> {
    fn default() -> Self {
        let hasher = PathHasher::default();
        Self {
            data: OneshotTable::default(),
            exist: OneshotTable::default(),
            child: OneshotTable::default(),
            persistent: PersistentTable::new(hasher.clone()),
            recursive: PersistentTable::new(hasher.clone()),
            hasher,
            hashes: Vec::new(),
            known: HashMap::new(),
            persistent_len: 0,
            oneshot_len: 0,
        }
    }
}

impl<T: Tokens> WatchRegistry<T> {
    pub(crate) fn len(&self) -> usize {
        self.oneshot_len + self.persistent_len
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

    /// Adds a persistent watcher, named by its stream (unique among the registered
    /// watchers), with the nodes it knows (a recursive watcher with a cache); returns
    /// whether the server already holds the watch for another active local watcher.
    pub(crate) fn add_persistent(
        &mut self,
        path: String,
        mode: AddWatchMode,
        stream: T::Stream,
        known: Option<Arc<dyn KnownNodes>>,
    ) -> bool {
        let h = self.hasher.hash(&path);
        let at = T::stream_index(&stream);
        if self.hashes.len() <= at {
            self.hashes.resize(at + 1, 0);
        }
        self.hashes[at] = h;
        match known {
            Some(known) if mode == AddWatchMode::PersistentRecursive => {
                self.known.insert(at, known);
            }
            _ => {
                self.known.remove(&at);
            }
        }
        self.persistent_len += 1;
        // A 3.6–3.8 server keeps one watch mode per path and connection, so a recursive
        // watch also serves the persistent watchers of its path: their child events are
        // derived from the recursive watch's creations and deletions of direct children.
        let served_by_recursive =
            mode == AddWatchMode::Persistent && self.recursive.any_active(h, &path);
        self.persistent_table(mode)
            .add(h, path.into_boxed_str(), stream, served_by_recursive)
    }

    /// The path hash recorded for `stream`.
    fn hash_of(&self, stream: &T::Stream) -> Option<u32> {
        self.hashes.get(T::stream_index(stream)).copied()
    }

    pub(crate) fn activate_persistent(&mut self, stream: T::Stream) {
        let Some(h) = self.hash_of(&stream) else {
            return;
        };
        self.persistent.activate(h, stream);
        self.recursive.activate(h, stream);
    }

    fn recursive_active(&self, path: &str) -> bool {
        self.recursive.any_active(self.hasher.hash(path), path)
    }

    /// Removes a persistent watcher and says what the server watch of its path needs;
    /// `None` when the watcher is not registered.
    pub(crate) fn remove_persistent(&mut self, stream: T::Stream) -> Option<Removal> {
        let h = self.hash_of(&stream)?;
        let (path, was_recursive) = match self.persistent.remove(h, stream) {
            Some((path, _)) => {
                let was_recursive = self.recursive.any_active(h, &path);
                (path, was_recursive)
            }
            None => {
                let (path, active) = self.recursive.remove(h, stream)?;
                let was_recursive = active || self.recursive.any_active(h, &path);
                (path, was_recursive)
            }
        };
        self.persistent_len -= 1;
        self.known.remove(&T::stream_index(&stream));
        if self.persistent_len == 0 {
            // Give the memory of a burst of watches back.
            self.hashes = Vec::new();
        }
        if self.recursive.contains(h, &path) {
            return Some(Removal::Keep);
        }
        if self.persistent.contains(h, &path) {
            // The last recursive watcher went: the server must be told to keep a plain
            // persistent watch for the others.
            return Some(if was_recursive {
                Removal::Downgrade(path.into_string())
            } else {
                Removal::Keep
            });
        }
        Some(Removal::Remove(path.into_string(), was_recursive))
    }

    /// True when a persistent watcher of either mode is registered on `path`.
    pub(crate) fn has_persistent(&self, path: &str) -> bool {
        let h = self.hasher.hash(path);
        self.persistent.contains(h, path) || self.recursive.contains(h, path)
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

    /// Delivers a server notification to every local watcher it concerns. A catch-up
    /// event (`catch_up`: reported by the re-registration after a reconnect) also reaches
    /// the recursive watchers with a cache when it is a child event of a node they know.
    pub(crate) fn fire(
        &mut self,
        event: &WatchedEvent,
        catch_up: bool,
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
        let h = self.hasher.hash(path);
        if let Some(w) = self.persistent.get(h, path) {
            let exists = w.exists.after(event.event_type);
            self.persistent
                .watchers(w)
                .filter(|(_, active)| *active)
                .for_each(|(s, _)| hit(Hit::Stream(s), event));
            self.persistent.set_exists(h, path, exists);
        }
        // Persistent watchers served by a recursive watch on the same path (see
        // `add_persistent`) learn of child changes from creations and deletions below. Not
        // from catch-up events: those watchers get their own catch-up child event.
        if !catch_up
            && matches!(
                event.event_type,
                EventType::NodeCreated | EventType::NodeDeleted
            )
        {
            if let Some(parent) = crate::path::parent(path) {
                let hp = self.hasher.hash(parent);
                if self.recursive.any_active(hp, parent) {
                    if let Some(w) = self.persistent.get(hp, parent) {
                        let derived = WatchedEvent {
                            event_type: EventType::NodeChildrenChanged,
                            path: parent.to_owned(),
                            ..event.clone()
                        };
                        self.persistent
                            .watchers(w)
                            .filter(|(_, active)| *active)
                            .for_each(|(s, _)| hit(Hit::Stream(s), &derived));
                    }
                }
            }
        }
        // Recursive watches never receive live child events: the server does not send them
        // for recursive watches, and one arriving for a standard child watch is not theirs.
        // A catch-up child event of a known node goes to the watchers that know it.
        let child_event = event.event_type == EventType::NodeChildrenChanged;
        if (!child_event || (catch_up && !self.known.is_empty())) && !self.recursive.is_empty() {
            let known = &self.known;
            let mut at = Some(path);
            while let Some(p) = at {
                if let Some(w) = self.recursive.get(self.hasher.hash(p), p) {
                    self.recursive
                        .watchers(w)
                        .filter(|(s, active)| {
                            *active && (!child_event || known.contains_key(&T::stream_index(s)))
                        })
                        .for_each(|(s, _)| hit(Hit::Stream(s), event));
                }
                at = crate::path::parent(p);
            }
        }
    }

    /// Whether the node of the persistent watch on `path` exists, as last heard.
    pub(crate) fn existence(&self, path: &str) -> Existence {
        let h = self.hasher.hash(path);
        self.persistent
            .get(h, path)
            .map_or(Existence::Unknown, |w| w.exists)
    }

    /// True while persistent watcher `stream` is registered.
    pub(crate) fn holds_stream(&self, stream: T::Stream) -> bool {
        let Some(h) = self.hash_of(&stream) else {
            return false;
        };
        let holds = |t: &PersistentTable<T::Stream>| {
            t.paths
                .find(spread(h), |w| w.holds(stream, &t.more))
                .is_some()
        };
        holds(&self.persistent) || holds(&self.recursive)
    }

    /// Records whether the node of the persistent watch on `path` exists.
    pub(crate) fn set_existence(&mut self, path: &str, exists: Existence) {
        let h = self.hasher.hash(path);
        self.persistent.set_exists(h, path, exists);
    }

    /// Removes every one-shot watcher, reporting each to the callback (used when the session
    /// expires and the persistent watches carry over to the next one).
    pub(crate) fn drain_oneshot(&mut self, mut hit: impl FnMut(T::Oneshot, &str)) {
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            table.drain(&mut hit);
        }
        self.oneshot_len = 0;
    }

    /// Removes every watcher, reporting each to the callbacks (used when the session ends).
    pub(crate) fn drain_all(&mut self, mut hit: impl FnMut(Hit<'_, T>, &str)) {
        for table in [&mut self.data, &mut self.exist, &mut self.child] {
            table.drain(|token, path| hit(Hit::Oneshot(token), path));
        }
        self.oneshot_len = 0;
        for table in [&mut self.persistent, &mut self.recursive] {
            table.drain(|stream, path| hit(Hit::StreamEnded(stream), path));
        }
        self.persistent_len = 0;
        self.hashes = Vec::new();
        self.known.clear();
    }

    // ------------------------------------------------------------ re-registration

    /// The hash of `path` that the registry uses.
    pub(crate) fn path_hash(&self, path: &str) -> u32 {
        self.hasher.hash(path)
    }

    /// The paths of one table of one-shot watches.
    pub(crate) fn oneshot_paths(&self, kind: WatchKind) -> impl Iterator<Item = &str> {
        match kind {
            WatchKind::Data => self.data.paths(),
            WatchKind::Exist => self.exist.paths(),
            WatchKind::Child => self.child.paths(),
        }
    }

    /// The paths whose plain persistent watch the server must hold (those not served by a
    /// recursive watch on the same path).
    pub(crate) fn persistent_paths(&self) -> impl Iterator<Item = &str> {
        self.persistent
            .active_paths()
            .filter(|p| !self.recursive_active(p))
    }

    /// The paths whose recursive watch the server must hold.
    pub(crate) fn recursive_paths(&self) -> impl Iterator<Item = &str> {
        self.recursive.active_paths()
    }

    /// Every path with active plain persistent watchers (served by a recursive watch or
    /// not), whether its node exists, and those watchers.
    pub(crate) fn persistent_watches(
        &self,
    ) -> impl Iterator<Item = (&str, Existence, impl Iterator<Item = T::Stream> + '_)> {
        self.persistent
            .active()
            .map(|w| (&*w.path, w.exists, self.persistent.active_watchers(w)))
    }

    /// Every path with active recursive watchers, with those watchers.
    pub(crate) fn recursive_watches(
        &self,
    ) -> impl Iterator<Item = (&str, impl Iterator<Item = T::Stream> + '_)> {
        self.recursive
            .active()
            .map(|w| (&*w.path, self.recursive.active_watchers(w)))
    }

    /// The nodes that recursive watcher `stream` knows, if it has a cache.
    pub(crate) fn known_nodes(&self, stream: &T::Stream) -> Option<&Arc<dyn KnownNodes>> {
        self.known.get(&T::stream_index(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_entry_is_24_bytes_with_a_4_byte_handle() {
        assert_eq!(std::mem::size_of::<PathWatch<u32>>(), 24);
    }
}
