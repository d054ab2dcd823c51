//! One-shot mode, for servers before 3.6 (or when asked): a data watch and a child watch
//! on every node, armed again each time one fires.

use std::collections::BTreeSet;
use std::sync::atomic::Ordering;

use aiozk::path::join;
use aiozk::{Error, EventType, OneshotWatcher, Result, SessionState, Stat, WatchedEvent};
use bytes::Bytes;

use super::follower::{missing_is_none, stopped, Follower, Kind};
use crate::support::across_expiry::persist;

impl Follower {
    pub(super) fn arm(&mut self, kind: Kind, path: &str, watcher: OneshotWatcher) {
        let path = path.to_owned();
        self.oneshots
            .spawn(async move { (kind, path, watcher.await) });
    }

    /// Reads a node's data, with a data watch unless one is armed.
    pub(super) async fn data_watched(
        &mut self,
        path: &str,
    ) -> Result<Option<(Option<Bytes>, Stat)>> {
        if self.data_armed.contains(path) {
            return self.data(path).await;
        }
        self.shared.data_reads.fetch_add(1, Ordering::Relaxed);
        let client = self.client.clone();
        match persist(&client, || client.get_data_opt_watched(path)).await {
            Ok((data, stat, w)) => {
                self.data_armed.insert(path.to_owned());
                self.arm(Kind::Data, path, w);
                Ok(Some((data, stat)))
            }
            Err(Error::NoNode | Error::NoAuth) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Reads a node's children and Stat, with a child watch unless one is armed.
    pub(super) async fn children_watched(
        &mut self,
        path: &str,
    ) -> Result<Option<(Vec<String>, Stat)>> {
        self.shared.children_reads.fetch_add(1, Ordering::Relaxed);
        let client = self.client.clone();
        if self.child_armed.contains(path) {
            return missing_is_none(persist(&client, || client.get_children_stat(path)).await);
        }
        match persist(&client, || client.get_children_watched(path)).await {
            Ok((children, stat, w)) => {
                self.child_armed.insert(path.to_owned());
                self.arm(Kind::Child, path, w);
                Ok(Some((children, stat)))
            }
            Err(Error::NoNode | Error::NoAuth) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Loads subtrees with a data and a child watch on every node.
    pub(super) async fn load_oneshot(&mut self, roots: Vec<String>) -> Result<()> {
        let mut stack = roots;
        while let Some(path) = stack.pop() {
            match self.data_watched(&path).await? {
                Some((data, stat)) => {
                    self.upsert(&path, data, stat);
                }
                None => {
                    self.remove_subtree(&path);
                    if path == self.root {
                        self.watch_root_creation().await?;
                    }
                    continue;
                }
            }
            if let Some(children) = self.refresh_children(&path).await? {
                stack.extend(children);
            }
        }
        Ok(())
    }

    /// Re-reads the children of `path` (re-arming its child watch); returns the paths of
    /// children that are new to the cache.
    pub(super) async fn refresh_children(&mut self, path: &str) -> Result<Option<Vec<String>>> {
        let Some((list, stat)) = self.children_watched(path).await? else {
            self.remove_subtree(path);
            return Ok(None);
        };
        // The child list changed the parent's Stat (cversion, pzxid, numChildren).
        let data_changed = self
            .cached_stat(path)
            .is_some_and(|s| s.mzxid != stat.mzxid);
        if !data_changed {
            self.update_stat(path, stat);
        }
        let now: BTreeSet<String> = list.into_iter().collect();
        let was = self.cached_children(path);
        for gone in was.difference(&now) {
            self.remove_subtree(&join(path, gone));
        }
        Ok(Some(now.difference(&was).map(|c| join(path, c)).collect()))
    }

    pub(super) async fn watch_root_creation(&mut self) -> Result<()> {
        let client = self.client.clone();
        let root = self.root.clone();
        let (stat, w) = persist(&client, || client.exists_watched(&root)).await?;
        self.shared.stat_reads.fetch_add(1, Ordering::Relaxed);
        self.arm(Kind::Exist, &root, w);
        if stat.is_some() {
            // Created in the meantime: the exist watch fires on its next change; load now.
            Box::pin(self.load_oneshot(vec![root])).await?;
        }
        Ok(())
    }

    pub(super) async fn follow_oneshot(&mut self) -> Result<()> {
        loop {
            tokio::select! {
                Some(joined) = self.oneshots.join_next() => {
                    let Ok(first) = joined else { continue };
                    let mut batch = vec![first];
                    while let Some(Ok(more)) = self.oneshots.try_join_next() {
                        batch.push(more);
                    }
                    self.apply_oneshot(batch).await?;
                }
                r = self.session.next() => {
                    if r.is_none() {
                        return Err(stopped(&self.client));
                    }
                    // Same session: the client re-registered the watches and the server
                    // reported missed changes. New session: every watch fires with the
                    // expiry and is re-read. Nothing to do here either way.
                }
            }
        }
    }

    pub(super) async fn apply_oneshot(
        &mut self,
        batch: Vec<(Kind, String, WatchedEvent)>,
    ) -> Result<()> {
        self.shared
            .events
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        for (kind, path, ev) in batch {
            if ev.event_type == EventType::None {
                match ev.state {
                    SessionState::Closed => return Err(Error::Closed),
                    SessionState::AuthFailed => return Err(Error::AuthFailed),
                    _ => {}
                }
            }
            match kind {
                Kind::Data => {
                    self.data_armed.remove(&path);
                    match self.data_watched(&path).await? {
                        Some((data, stat)) => {
                            let created = self.cached_stat(&path).is_none();
                            self.upsert(&path, data, stat);
                            if created {
                                // Re-created: its children need a watch and a read too.
                                if let Some(new) = self.refresh_children(&path).await? {
                                    self.load_oneshot(new).await?;
                                }
                            }
                        }
                        None => {
                            self.remove_subtree(&path);
                            if path == self.root {
                                self.watch_root_creation().await?;
                            }
                        }
                    }
                }
                Kind::Child => {
                    self.child_armed.remove(&path);
                    if let Some(new) = self.refresh_children(&path).await? {
                        self.load_oneshot(new).await?;
                    }
                }
                Kind::Exist => {
                    if self.cached_stat(&path).is_none() {
                        self.load_oneshot(vec![path]).await?;
                    }
                }
            }
        }
        Ok(())
    }
}
