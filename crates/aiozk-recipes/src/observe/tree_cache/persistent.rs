//! Persistent mode: one persistent recursive watch on the root that knows the cached nodes,
//! events applied as they come, and after every reconnect the catch-up its re-registration
//! brings (the server reports which cached nodes changed).

use std::collections::BTreeSet;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use aiozk::path::join;
use aiozk::{
    Error, EventKind, EventType, KnownNodes, PersistentWatcher, Result, SessionState, Stat,
    WatchedEvent,
};

use super::follower::{stopped, Follower};
use super::state::{ResyncReport, TreeEvent};
use crate::support::across_expiry::{persist, wait_usable, Reconnect};

impl Follower {
    pub(super) async fn add_watch(&mut self) -> Result<()> {
        let client = self.client.clone();
        let root = self.root.clone();
        let known: Arc<dyn KnownNodes> = self.shared.clone();
        let watch = persist(&client, || {
            client.add_watch_with_known_nodes(&root, known.clone())
        })
        .await?;
        self.watch = Some(watch);
        Ok(())
    }

    /// Loads the subtrees at `roots` level by level: data of every node, children of the
    /// nodes that have some. Returns the number of nodes added or changed.
    pub(super) async fn load(&self, roots: Vec<String>) -> Result<u64> {
        let mut changed = 0;
        let mut level = roots;
        while !level.is_empty() {
            let datas = self.pipelined(&level, Self::data).await?;
            let mut parents = Vec::new();
            for (path, read) in level.iter().zip(datas) {
                match read {
                    Some((data, stat)) => {
                        changed += u64::from(self.upsert(path, data, stat));
                        if !self.children_known(path, &stat) {
                            parents.push(path.clone());
                        }
                    }
                    None => changed += self.remove_subtree(path),
                }
            }
            let (more, new) = self.list_children(&parents).await?;
            changed += more;
            level = new;
        }
        Ok(changed)
    }

    /// What a Stat read tells about a node's children: with none, the cached children are
    /// complete as of its pzxid (any cached ones are gone). Returns true when the cached
    /// children are known to be complete.
    pub(super) fn children_known(&self, path: &str, stat: &Stat) -> bool {
        if stat.num_children == 0 {
            for gone in self.cached_children(path) {
                self.remove_subtree(&join(path, &gone));
            }
            self.set_synced(path, stat.pzxid);
            return true;
        }
        self.synced_at(path) == Some(stat.pzxid)
    }

    pub(super) fn synced_at(&self, path: &str) -> Option<i64> {
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .copied()
    }

    pub(super) fn set_synced(&self, path: &str, pzxid: i64) {
        self.synced
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(path.to_owned(), pzxid);
    }

    /// Lists the children of `parents` (with their Stat, atomically), drops cached children
    /// that are gone, and returns (changes, paths of children not cached yet).
    pub(super) async fn list_children(&self, parents: &[String]) -> Result<(u64, Vec<String>)> {
        let mut changed = 0;
        let mut new = Vec::new();
        let lists = self.pipelined(parents, Self::children).await?;
        for (parent, list) in parents.iter().zip(lists) {
            let Some((list, stat)) = list else {
                changed += self.remove_subtree(parent);
                continue;
            };
            let now: BTreeSet<String> = list.into_iter().collect();
            let was = self.cached_children(parent);
            for gone in was.difference(&now) {
                changed += self.remove_subtree(&join(parent, gone));
            }
            new.extend(now.difference(&was).map(|c| join(parent, c)));
            self.set_synced(parent, stat.pzxid);
            // The listing's Stat is newer than the cached one; take it unless the data
            // changed too (then a data read is due anyway).
            if self
                .cached_stat(parent)
                .is_some_and(|c| c.mzxid == stat.mzxid)
            {
                changed += u64::from(self.update_stat(parent, stat));
            }
        }
        Ok((changed, new))
    }

    pub(super) async fn follow_persistent(&mut self) -> Result<()> {
        loop {
            if self.watch.is_none() {
                wait_usable(&self.client).await?;
                self.add_watch().await?;
                self.resync().await?;
            }
            let Some(watch) = self.watch.as_mut() else {
                continue;
            };
            // A reconnection first: its catch-up events are already in the stream once the
            // session reports it, and they belong to the catch-up pass.
            tokio::select! {
                biased;
                r = self.session.next() => match r {
                    Some(Reconnect::Connected { .. }) => self.catch_up().await?,
                    Some(Reconnect::Unknown) => self.resync().await?,
                    None => return Err(stopped(&self.client)),
                },
                ev = watch.next() => match ev {
                    Some(ev) => {
                        let mut batch = vec![ev];
                        drain(watch, &mut batch);
                        if self.apply_events(batch).await?.resync {
                            self.resync().await?;
                        }
                    }
                    None => self.watch = None,
                },
            }
        }
    }

    /// After a reconnect (or a new session): applies what the client's re-registration
    /// reported. Its catch-up events are all in the stream once a request sent after it is
    /// answered: a read of the root.
    pub(super) async fn catch_up(&mut self) -> Result<()> {
        let started = Instant::now();
        let before = self.counters();
        let known = self.shared.read().len() as u64;
        self.stat(&self.root).await?;
        let mut batch = Vec::new();
        if let Some(watch) = self.watch.as_mut() {
            drain(watch, &mut batch);
        }
        let applied = self.apply_events(batch).await?;
        if applied.resync {
            return self.resync().await;
        }
        self.report(started, before, known, applied.changed);
        Ok(())
    }

    /// Applies a batch of events from the recursive watch.
    pub(super) async fn apply_events(&mut self, batch: Vec<WatchedEvent>) -> Result<Applied> {
        self.shared
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let mut applied = Applied::default();
        let mut refresh = BTreeSet::new();
        let mut list = BTreeSet::new();
        let mut roots = Vec::new();
        for ev in batch {
            let catch_up = ev.kind == EventKind::CatchUp;
            match (ev.kind, ev.event_type) {
                (EventKind::Ended, _) => match ev.state {
                    SessionState::Closed => return Err(Error::Closed),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    // Expired for good: the stream ends next.
                    _ => {}
                },
                (EventKind::Resync, _) => applied.resync = true,
                (_, EventType::None) => {}
                (_, EventType::NodeDeleted) => {
                    applied.changed += self.remove_subtree(&ev.path);
                    refresh.remove(&ev.path);
                    list.remove(&ev.path);
                    // A catch-up reports the parent's children change on its own.
                    if !catch_up {
                        refresh.extend(self.parent_inside(&ev.path));
                    }
                }
                (_, EventType::NodeCreated) if catch_up => roots.push(ev.path),
                (_, EventType::NodeCreated) => {
                    refresh.extend(self.parent_inside(&ev.path));
                    refresh.insert(ev.path);
                }
                // Children of a known node were created or deleted while disconnected.
                (_, EventType::NodeChildrenChanged) => {
                    list.insert(ev.path);
                }
                _ => {
                    refresh.insert(ev.path);
                }
            }
        }
        let paths: Vec<String> = refresh.into_iter().collect();
        let reads = self.pipelined(&paths, Self::data).await?;
        for (path, read) in paths.iter().zip(reads) {
            match read {
                Some((data, stat)) => {
                    applied.changed += u64::from(self.upsert(path, data, stat));
                    // Children normally arrive through their own events; a count that
                    // disagrees means some were created or deleted unseen: list them.
                    if !self.children_known(path, &stat)
                        && self.cached_children(path).len() != stat.num_children as usize
                    {
                        list.insert(path.clone());
                    }
                }
                None => {
                    applied.changed += self.remove_subtree(path);
                    list.remove(path);
                }
            }
        }
        let list: Vec<String> = list.into_iter().collect();
        let (more, new) = self.list_children(&list).await?;
        applied.changed += more;
        roots.extend(new);
        applied.changed += self.load(roots).await?;
        Ok(applied)
    }

    /// Brings the cache in line with the server after events may have been missed.
    pub(super) async fn resync(&mut self) -> Result<()> {
        let started = Instant::now();
        let before = self.counters();
        let mut known: Vec<String> = self.shared.read().keys().cloned().collect();
        let report_known = known.len() as u64;
        if !known.contains(&self.root) {
            known.insert(0, self.root.clone());
        }
        let mut changed = 0;
        let mut data_refresh = Vec::new();
        let mut children_check = Vec::new();
        let mut new_roots = Vec::new();
        let stats = self.pipelined(&known, Self::stat).await?;
        for (path, stat) in known.iter().zip(stats) {
            let cached = self.cached_stat(path);
            match (stat, cached) {
                (None, _) => changed += self.remove_subtree(path),
                (Some(_), None) => {
                    // Not cached: the root appeared (descendants of removed nodes are
                    // handled by their own entries).
                    if path == &self.root {
                        new_roots.push(path.clone());
                    }
                }
                (Some(now), Some(was)) if now.czxid != was.czxid => {
                    changed += self.remove_subtree(path);
                    new_roots.push(path.clone());
                }
                (Some(now), Some(was)) => {
                    if now.mzxid != was.mzxid {
                        data_refresh.push(path.clone());
                    } else {
                        changed += u64::from(self.update_stat(path, now));
                    }
                    if !self.children_known(path, &now) {
                        children_check.push(path.clone());
                    }
                }
            }
        }
        let datas = self.pipelined(&data_refresh, Self::data).await?;
        for (path, read) in data_refresh.iter().zip(datas) {
            changed += match read {
                Some((data, stat)) => u64::from(self.upsert(path, data, stat)),
                None => self.remove_subtree(path),
            };
        }
        let (more, new) = self.list_children(&children_check).await?;
        changed += more;
        new_roots.extend(new);
        changed += self.load(new_roots).await?;
        self.report(started, before, report_known, changed);
        Ok(())
    }

    /// Records and announces a resynchronisation pass that started at `started` with the
    /// read counters `before` and `known` nodes, and changed `changed` of them.
    fn report(&self, started: Instant, before: (u64, u64, u64), known: u64, changed: u64) {
        let after = self.counters();
        let report = ResyncReport {
            known,
            stat_reads: after.0 - before.0,
            data_reads: after.1 - before.1,
            children_reads: after.2 - before.2,
            changed,
            took: started.elapsed(),
        };
        self.shared.resyncs.fetch_add(1, Ordering::Relaxed);
        *self
            .shared
            .last_resync
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(report);
        tracing::debug!(root = %self.root, ?report, "tree cache resynchronised");
        self.emit(TreeEvent::Resynced(report));
    }

    pub(super) fn counters(&self) -> (u64, u64, u64) {
        let s = &self.shared;
        (
            s.stat_reads.load(Ordering::Relaxed),
            s.data_reads.load(Ordering::Relaxed),
            s.children_reads.load(Ordering::Relaxed),
        )
    }
}

/// What a batch of events did.
#[derive(Debug, Default)]
pub(super) struct Applied {
    /// Nodes added, updated and removed.
    changed: u64,
    /// A `Resync` came: changes may have been missed that no event tells.
    resync: bool,
}

/// Moves the events already waiting in the stream into `batch`.
fn drain(watch: &mut PersistentWatcher, batch: &mut Vec<WatchedEvent>) {
    let waker = futures_task_noop();
    let mut cx = std::task::Context::from_waker(&waker);
    while let Poll::Ready(Some(ev)) =
        futures_core::Stream::poll_next(Pin::new(&mut *watch), &mut cx)
    {
        batch.push(ev);
    }
}

/// A waker that does nothing (the caller polls again by itself).
fn futures_task_noop() -> std::task::Waker {
    struct Noop;
    impl std::task::Wake for Noop {
        fn wake(self: Arc<Self>) {}
    }
    std::task::Waker::from(Arc::new(Noop))
}
