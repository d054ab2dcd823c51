//! The task that keeps a tree cache in step with the server: its state, its reads, and
//! the updates it applies to the cache. How it follows changes depends on the watch mode
//! (`persistent`, `oneshot`).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use aiozk::path::join;
use aiozk::{Client, Error, PersistentWatcher, Result, SessionState, Stat, WatchedEvent};
use bytes::Bytes;
use tokio::sync::broadcast;
use tokio::task::JoinSet;

use super::state::{NodeEntry, Shared, TreeEvent, PIPELINE};
use crate::support::across_expiry::{is_transient, persist, SessionWatch};

/// A read queued now, whose reply comes later; `None` for a missing node.
pub(super) type Read<T> = Pin<Box<dyn Future<Output = Result<Option<T>>> + Send>>;

/// Which one-shot watch fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Data,
    Child,
    /// An exist watch on the missing root.
    Exist,
}

/// The task that keeps the cache in step with the server.
pub(super) struct Follower {
    pub(super) client: Client,
    pub(super) root: String,
    pub(super) shared: Arc<Shared>,
    pub(super) events: broadcast::Sender<TreeEvent>,
    pub(super) session: SessionWatch,
    /// The persistent recursive watch (persistent mode), `None` when it must be added again.
    pub(super) watch: Option<PersistentWatcher>,
    /// Persistent mode: for each node, the child zxid (pzxid) as of which its cached
    /// children are known to be complete. A Stat read alone does not prove that: the
    /// events of children created while the connection was down are never sent.
    pub(super) synced: Mutex<HashMap<String, i64>>,
    /// One-shot mode: the armed watches.
    pub(super) oneshots: JoinSet<(Kind, String, WatchedEvent)>,
    pub(super) data_armed: HashSet<String>,
    pub(super) child_armed: HashSet<String>,
}

impl Follower {
    // Reads.

    /// get_data, queued now; `None` for a missing (or unreadable) node.
    pub(super) fn data(&self, path: &str) -> Read<(Option<Bytes>, Stat)> {
        self.shared.data_reads.fetch_add(1, Ordering::Relaxed);
        let first = self.client.get_data_opt(path);
        let (client, shared, path) = (self.client.clone(), self.shared.clone(), path.to_owned());
        Box::pin(async move {
            let r = match first.await {
                Err(e) if is_transient(&e) => {
                    persist(&client, || {
                        shared.data_reads.fetch_add(1, Ordering::Relaxed);
                        client.get_data_opt(&path)
                    })
                    .await
                }
                r => r,
            };
            missing_is_none(r)
        })
    }

    /// get_children with the parent's Stat (one atomic read), queued now.
    pub(super) fn children(&self, path: &str) -> Read<(Vec<String>, Stat)> {
        self.shared.children_reads.fetch_add(1, Ordering::Relaxed);
        let first = self.client.get_children_stat(path);
        let (client, shared, path) = (self.client.clone(), self.shared.clone(), path.to_owned());
        Box::pin(async move {
            let r = match first.await {
                Err(e) if is_transient(&e) => {
                    persist(&client, || {
                        shared.children_reads.fetch_add(1, Ordering::Relaxed);
                        client.get_children_stat(&path)
                    })
                    .await
                }
                r => r,
            };
            missing_is_none(r)
        })
    }

    /// exists, queued now.
    pub(super) fn stat(&self, path: &str) -> Read<Stat> {
        self.shared.stat_reads.fetch_add(1, Ordering::Relaxed);
        let first = self.client.exists(path);
        let (client, shared, path) = (self.client.clone(), self.shared.clone(), path.to_owned());
        Box::pin(async move {
            let r = match first.await {
                Err(e) if is_transient(&e) => {
                    persist(&client, || {
                        shared.stat_reads.fetch_add(1, Ordering::Relaxed);
                        client.exists(&path)
                    })
                    .await
                }
                r => r,
            };
            match r {
                Ok(s) => Ok(s),
                Err(Error::NoAuth) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Issues `read` for every path, at most [`PIPELINE`] at a time, and returns the results
    /// in order.
    pub(super) async fn pipelined<T>(
        &self,
        paths: &[String],
        read: impl Fn(&Self, &str) -> Read<T>,
    ) -> Result<Vec<Option<T>>> {
        let mut out = Vec::with_capacity(paths.len());
        for chunk in paths.chunks(PIPELINE) {
            let futs: Vec<_> = chunk.iter().map(|p| read(self, p)).collect();
            for f in futs {
                out.push(f.await?);
            }
        }
        Ok(out)
    }

    // Cache updates.

    pub(super) fn emit(&self, ev: TreeEvent) {
        let _ = self.events.send(ev);
    }

    /// Stores a node (`None`: null data); returns whether anything changed.
    pub(super) fn upsert(&self, path: &str, data: Option<Bytes>, stat: Stat) -> bool {
        let entry = NodeEntry {
            null_data: data.is_none(),
            data: data.unwrap_or_default(),
            stat,
        };
        let previous = self.shared.write().insert(path.to_owned(), entry.clone());
        match previous {
            None => {
                self.emit(TreeEvent::Added(path.to_owned()));
                true
            }
            Some(p) if p != entry => {
                self.emit(TreeEvent::Updated(path.to_owned()));
                true
            }
            Some(_) => false,
        }
    }

    /// Replaces a cached node's Stat, keeping its data.
    pub(super) fn update_stat(&self, path: &str, stat: Stat) -> bool {
        let changed = {
            let mut nodes = self.shared.write();
            match nodes.get_mut(path) {
                Some(e) if e.stat != stat => {
                    e.stat = stat;
                    true
                }
                _ => false,
            }
        };
        if changed {
            self.emit(TreeEvent::Updated(path.to_owned()));
        }
        changed
    }

    /// Removes a node and everything below it; returns how many nodes went.
    pub(super) fn remove_subtree(&self, path: &str) -> u64 {
        let removed: Vec<String> = {
            let mut nodes = self.shared.write();
            let prefix = join(path, "");
            let mut gone: Vec<String> = nodes
                .range(prefix.clone()..)
                .take_while(|(p, _)| p.starts_with(&prefix))
                .filter(|(p, _)| p.as_str() != path)
                .map(|(p, _)| p.clone())
                .collect();
            if nodes.contains_key(path) {
                gone.push(path.to_owned());
            }
            for p in &gone {
                nodes.remove(p);
            }
            gone
        };
        {
            let mut synced = self.synced.lock().unwrap_or_else(|e| e.into_inner());
            for p in &removed {
                synced.remove(p);
            }
        }
        // Deepest first, the order in which the server deletes.
        for p in removed.iter().rev() {
            self.emit(TreeEvent::Removed(p.clone()));
        }
        removed.len() as u64
    }

    pub(super) fn cached_stat(&self, path: &str) -> Option<Stat> {
        self.shared.read().get(path).map(|e| e.stat)
    }

    pub(super) fn cached_children(&self, path: &str) -> BTreeSet<String> {
        let nodes = self.shared.read();
        let prefix = join(path, "");
        nodes
            .range(prefix.clone()..)
            .take_while(|(p, _)| p.starts_with(&prefix))
            .filter(|(p, _)| p.len() > prefix.len() && !p[prefix.len()..].contains('/'))
            .map(|(p, _)| p[prefix.len()..].to_owned())
            .collect()
    }

    /// The parent of `path` if it is inside the mirrored subtree.
    pub(super) fn parent_inside(&self, path: &str) -> Option<String> {
        if path == self.root {
            return None;
        }
        aiozk::path::parent(path).map(str::to_owned)
    }
}

pub(super) fn missing_is_none<T>(r: Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NoNode | Error::NoAuth) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Why the client stopped.
pub(super) fn stopped(client: &Client) -> Error {
    match client.state() {
        SessionState::AuthFailed => Error::AuthFailed,
        SessionState::Expired => Error::SessionExpired,
        _ => Error::Closed,
    }
}
