//! Reads: node data, children, ACLs, the configuration, and the watches they set;
//! persistent watches.

use std::future::Future;
use std::sync::Arc;

use aiozk_proto::{AddWatchMode, ClientInfo, MultiResult, Request, Response, Stat};
use bytes::Bytes;
use tokio::sync::oneshot;

use super::call::{from_record, path_ref, unexpected};
use super::handle::{bounded, recv, Client};
use crate::acl::Acl;
use crate::driver::Command;
use crate::error::{Error, Result};
use crate::path::{validate_path, Chroot};
use crate::session::{KnownNodes, WatchKind};
use crate::watcher::{OneshotWatcher, PersistentWatcher};

/// One read of [`Client::multi_read`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOp {
    /// getData of a path.
    GetData(String),
    /// getChildren of a path.
    GetChildren(String),
}

/// The result of one [`ReadOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadResult {
    /// Data and Stat.
    Data(Bytes, Stat),
    /// Child names.
    Children(Vec<String>),
}

impl Client {
    /// The node's Stat, or `None` if it does not exist.
    ///
    /// # Errors
    /// Connection and session errors; [`Error::InvalidPath`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// match zk.exists("/config").await? {
    ///     Some(stat) => println!("version {}", stat.version),
    ///     None => println!("no /config"),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn exists(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<Stat>>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::Exists {
                path: p,
                watch: false,
            }),
            true,
            map_exists,
        )
    }

    /// Like [`Client::exists`], and sets a watch: it fires when the node is created (if it
    /// was missing), changed or deleted.
    ///
    /// # Errors
    /// As for [`Client::exists`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// // Wait until /ready appears (or changes, if it already exists).
    /// let (stat, watcher) = zk.exists_watched("/ready").await?;
    /// if stat.is_none() {
    ///     let event = watcher.await;
    ///     println!("{:?} {}", event.event_type, event.path);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn exists_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Stat>, OneshotWatcher)>> + Send + 'static {
        let req = self.server_path(path);
        let fut = self.call(
            path_ref(&req).map(|p| Request::Exists {
                path: p,
                watch: true,
            }),
            Some(WatchKind::Data),
            true,
            map_exists,
        );
        with_watcher(fut)
    }

    /// The node's data and Stat. Null data (a node created without data, see
    /// [`Client::create_opt`]) reads as empty data; [`Client::get_data_opt`] tells them
    /// apart.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::NoAuth`] without READ permission; connection errors.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// let (data, stat) = zk.get_data("/config").await?;
    /// println!("{} bytes, version {}", data.len(), stat.version);
    /// # Ok(()) }
    /// ```
    pub fn get_data(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        let fut = self.read_data(path, false, map_data);
        async move { fut.await.map(|(v, _)| v) }
    }

    /// Like [`Client::get_data`], and sets a watch that fires when the data changes or the
    /// node is deleted.
    ///
    /// # Errors
    /// As for [`Client::get_data`]; no watch is set when the node does not exist.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::EventType;
    ///
    /// let (data, _stat, watcher) = zk.get_data_watched("/config").await?;
    /// println!("now: {data:?}");
    /// // One event: the next change or the deletion (or EventType::None if the session ends).
    /// let event = watcher.await;
    /// if event.event_type == EventType::NodeDataChanged {
    ///     let (data, _stat) = zk.get_data("/config").await?;
    ///     println!("changed to: {data:?}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_data_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Bytes, Stat, OneshotWatcher)>> + Send + 'static {
        with_watcher_pair(self.read_data(path, true, map_data))
    }

    /// The node's data and Stat, keeping null data apart from empty data: `None` for a node
    /// that holds null data (created or set without data, e.g. by [`Client::create_opt`]
    /// with `None` or by another client), `Some` of an empty buffer for a node holding
    /// empty data. Otherwise the same as [`Client::get_data`].
    ///
    /// # Errors
    /// As for [`Client::get_data`]: [`Error::NoNode`]; [`Error::NoAuth`] without READ
    /// permission; connection errors.
    pub fn get_data_opt(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Bytes>, Stat)>> + Send + 'static {
        let fut = self.read_data(path, false, map_data_opt);
        async move { fut.await.map(|(v, _)| v) }
    }

    /// Like [`Client::get_data_opt`], and sets a watch as [`Client::get_data_watched`]
    /// does: it fires when the data changes or the node is deleted.
    ///
    /// # Errors
    /// As for [`Client::get_data_opt`]; no watch is set when the node does not exist.
    pub fn get_data_opt_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Bytes>, Stat, OneshotWatcher)>> + Send + 'static {
        with_watcher_pair(self.read_data(path, true, map_data_opt))
    }

    /// A getData request for `path` (setting a data watch when `watch`), its reply mapped
    /// by `map`.
    fn read_data<T: Send + 'static>(
        &self,
        path: &str,
        watch: bool,
        map: fn(Result<Response>, &Chroot) -> Result<T>,
    ) -> impl Future<Output = Result<(T, Option<OneshotWatcher>)>> + Send + 'static {
        let req = self.server_path(path);
        self.call(
            path_ref(&req).map(|p| Request::GetData { path: p, watch }),
            watch.then_some(WatchKind::Data),
            true,
            map,
        )
    }

    /// The names of the node's children, in no particular order.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::NoAuth`]; connection errors.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// let mut workers = zk.get_children("/workers").await?;
    /// workers.sort();
    /// for name in workers {
    ///     println!("/workers/{name}");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn get_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetChildren {
                path: p,
                watch: false,
            }),
            true,
            |r, _| match r? {
                Response::Strings(c) => Ok(c),
                _ => Err(unexpected()),
            },
        )
    }

    /// The children's names and the node's Stat.
    ///
    /// # Errors
    /// As for [`Client::get_children`].
    pub fn get_children_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat)>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetChildren2 {
                path: p,
                watch: false,
            }),
            true,
            map_children2,
        )
    }

    /// Like [`Client::get_children_stat`], and sets a watch that fires when a child is
    /// added or removed or the node is deleted.
    ///
    /// # Errors
    /// As for [`Client::get_children`].
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// let (children, _stat, watcher) = zk.get_children_watched("/workers").await?;
    /// println!("{} workers", children.len());
    /// let event = watcher.await; // a child came or went, or /workers was deleted
    /// println!("{:?}", event.event_type);
    /// # Ok(()) }
    /// ```
    pub fn get_children_watched(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, Stat, OneshotWatcher)>> + Send + 'static {
        let req = self.server_path(path);
        let fut = self.call(
            path_ref(&req).map(|p| Request::GetChildren2 {
                path: p,
                watch: true,
            }),
            Some(WatchKind::Child),
            true,
            map_children2,
        );
        with_watcher_pair(fut)
    }

    /// The node's ACL and Stat.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::NoAuth`] without READ or ADMIN.
    pub fn get_acl(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<Acl>, Stat)>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetAcl { path: p }),
            true,
            |r, _| match r? {
                Response::Acl { acl, stat } => {
                    Ok((acl.into_iter().map(from_record).collect(), stat))
                }
                _ => Err(unexpected()),
            },
        )
    }

    /// Waits until the connected server has caught up with the leader for `path`, so the
    /// next reads see every write committed before this call.
    ///
    /// # Errors
    /// Connection errors.
    pub fn sync(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::Sync { path: p }),
            true,
            |r, _| r.map(|_| ()),
        )
    }

    /// The ephemeral nodes of this session whose paths start with `prefix` (a plain string
    /// prefix, as the server compares; `/` for all), relative to the chroot.
    ///
    /// # Errors
    /// Connection errors; [`Error::Unimplemented`] before ZooKeeper 3.6.
    pub fn get_ephemerals(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<String>>> + Send + 'static {
        let server = if prefix.is_empty() || prefix == "/" {
            Ok(self.inner.chroot.prefix("/"))
        } else if prefix.starts_with('/') {
            Ok(self.inner.chroot.prefix(prefix))
        } else {
            Err(Error::InvalidPath {
                path: prefix.to_owned(),
                reason: "a prefix must start with '/'",
            })
        };
        self.call_plain(
            path_ref(&server).map(|p| Request::GetEphemerals { prefix: p }),
            true,
            |r, chroot| match r? {
                Response::Strings(paths) => Ok(paths
                    .iter()
                    .filter(|p| {
                        chroot.as_str().is_none_or(|c| {
                            p.strip_prefix(c)
                                .is_some_and(|r| r.is_empty() || r.starts_with('/'))
                        })
                    })
                    .map(|p| chroot.strip(p).to_owned())
                    .collect()),
                _ => Err(unexpected()),
            },
        )
    }

    /// The number of all descendants of the node (not counting itself).
    ///
    /// # Errors
    /// [`Error::NoNode`]; connection errors; [`Error::Unimplemented`] before 3.6.
    pub fn get_all_children_number(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<i32>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain(
            path_ref(&req).map(|p| Request::GetAllChildrenNumber { path: p }),
            true,
            |r, _| match r? {
                Response::Count(n) => Ok(n),
                _ => Err(unexpected()),
            },
        )
    }

    /// The identities the server associates with this connection.
    ///
    /// # Errors
    /// Connection errors; [`Error::Unimplemented`] before 3.7.
    pub fn whoami(&self) -> impl Future<Output = Result<Vec<ClientInfo>>> + Send + 'static {
        self.call_plain(Ok(Request::WhoAmI), true, |r, _| match r? {
            Response::WhoAmI(ids) => Ok(ids),
            _ => Err(unexpected()),
        })
    }

    /// The ensemble's dynamic configuration (`/zookeeper/config`, never chrooted).
    ///
    /// # Errors
    /// Connection errors.
    pub fn get_config(&self) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        self.call_plain(
            Ok(Request::GetData {
                path: "/zookeeper/config",
                watch: false,
            }),
            true,
            map_data,
        )
    }

    /// Like [`Client::get_config`], with a watch on the configuration.
    ///
    /// # Errors
    /// Connection errors.
    pub fn get_config_watched(
        &self,
    ) -> impl Future<Output = Result<(Bytes, Stat, OneshotWatcher)>> + Send + 'static {
        let fut = self.call(
            Ok(Request::GetData {
                path: "/zookeeper/config",
                watch: true,
            }),
            Some(WatchKind::Data),
            true,
            map_data,
        );
        with_watcher_pair(fut)
    }

    /// Reads several nodes in one round trip (not atomic); each read has its own result.
    ///
    /// # Errors
    /// The outer result fails for connection errors; [`Error::Unimplemented`] before 3.6.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::{ReadOp, ReadResult};
    ///
    /// let results = zk
    ///     .multi_read(&[ReadOp::GetData("/a".into()), ReadOp::GetChildren("/b".into())])
    ///     .await?;
    /// for result in results {
    ///     match result {
    ///         Ok(ReadResult::Data(data, _stat)) => println!("data: {data:?}"),
    ///         Ok(ReadResult::Children(children)) => println!("children: {children:?}"),
    ///         Err(e) => println!("failed: {e}"),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn multi_read(
        &self,
        ops: &[ReadOp],
    ) -> impl Future<Output = Result<Vec<Result<ReadResult>>>> + Send + 'static {
        let paths: Result<Vec<String>> = ops
            .iter()
            .map(|op| match op {
                ReadOp::GetData(p) | ReadOp::GetChildren(p) => self.server_path(p),
            })
            .collect();
        let req = paths.map(|paths| {
            ops.iter()
                .zip(paths)
                .map(|(op, p)| (matches!(op, ReadOp::GetData(_)), p))
                .collect::<Vec<_>>()
        });
        let built: Result<Vec<Request<'_>>> = match &req {
            Ok(list) => Ok(list
                .iter()
                .map(|(data, p)| {
                    if *data {
                        Request::GetData {
                            path: p,
                            watch: false,
                        }
                    } else {
                        Request::GetChildren {
                            path: p,
                            watch: false,
                        }
                    }
                })
                .collect()),
            Err(e) => Err(e.clone()),
        };
        let encoded = built.and_then(|reqs| self.encode(&Request::MultiRead(&reqs)));
        let sent = encoded.and_then(|(op, body)| self.send(op, body, None));
        let limit = self.inner.request_timeout;
        bounded(self.deadline(), async move {
            let (rx, _) = sent?;
            let Response::Multi(results) = recv(rx, limit).await? else {
                return Err(unexpected());
            };
            Ok(results
                .into_iter()
                .map(|r| match r {
                    MultiResult::GetData { data, stat } => {
                        Ok(ReadResult::Data(data.unwrap_or_default(), stat))
                    }
                    MultiResult::GetChildren { children } => Ok(ReadResult::Children(children)),
                    MultiResult::Error(code) => Err(Error::from_code(code)),
                    _ => Err(unexpected()),
                })
                .collect())
        })
    }

    /// Adds a persistent watch (`recursive` false: the node and its children list;
    /// true: the node and every descendant, without child events). The node need not exist.
    ///
    /// Local watchers of the same path and mode share one server watch.
    ///
    /// # Watches
    /// The events of a watch are each delivered once, in the server's order, across
    /// reconnects and session expiries ([`EventKind`](crate::EventKind) says how each came
    /// about):
    /// * after a reconnect, a plain persistent watch gets a catch-up event for each kind of
    ///   change it missed (data changed, children changed, created, deleted), several of
    ///   one kind coming as one, and nothing when nothing changed;
    /// * a recursive watch cannot be caught up node by node (the client does not know the
    ///   subtree): after a reconnect it gets one [`Resync`](crate::EventKind::Resync) event,
    ///   unless nothing changed on the server at all. A watch with a cache of the subtree
    ///   gets an event per changed node instead: see [`Client::add_watch_with_known_nodes`];
    /// * when the session expires and a new one is opened (the default), the watch is added
    ///   again on it and announced by a [`NewSession`](crate::EventKind::NewSession) event,
    ///   then caught up from the last zxid seen as above;
    /// * the stream ends, after an [`Ended`](crate::EventKind::Ended) event, when the
    ///   client closes, authentication fails, or the session expires without a new one.
    ///
    /// # Errors
    /// Connection errors; [`Error::Unimplemented`] before 3.6.
    ///
    /// # Notable behaviour
    /// On 3.6–3.8 servers a one-shot watch set on the same path by the same session
    /// replaces the server's persistent watch mode for that path (fixed in 3.9,
    /// ZOOKEEPER-4466); avoid mixing both on one path. The client's own catch-up watches
    /// never do (they are sent before the persistent registration they belong to).
    ///
    /// A plain persistent watch is followed by an `exists` of its node (what its catch-up
    /// asks the server depends on whether the node exists).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// // Every change below /app, as a stream, until the watcher is dropped.
    /// let mut watcher = zk.add_watch("/app", true).await?;
    /// while let Some(event) = watcher.next().await {
    ///     println!("{:?} {}", event.event_type, event.path);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn add_watch(
        &self,
        path: &str,
        recursive: bool,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let mode = if recursive {
            AddWatchMode::PersistentRecursive
        } else {
            AddWatchMode::Persistent
        };
        self.add_persistent(path, mode, None)
    }

    /// Adds a persistent recursive watch for a cache of the subtree at `path`: after a
    /// reconnect (or a new session) the client asks the server which of the nodes `known`
    /// lists changed since the last zxid seen, and the watch gets a
    /// [`CatchUp`](crate::EventKind::CatchUp) event for each (`NodeDataChanged`,
    /// `NodeDeleted`, `NodeChildrenChanged` for a known node whose children were created or
    /// deleted, `NodeCreated` for the root when the cache did not hold it), instead of a
    /// `Resync`. A cache that applies these events and the live ones stays complete.
    ///
    /// `known` is asked for its nodes at each reconnect; it must list the nodes it holds
    /// that exist as far as the events delivered so far tell (events still waiting in the
    /// stream count as applied: they are kept across the reconnect).
    ///
    /// # Errors
    /// As for [`Client::add_watch`].
    pub fn add_watch_with_known_nodes(
        &self,
        path: &str,
        known: Arc<dyn KnownNodes>,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let known: Arc<dyn KnownNodes> = Arc::new(ServerPaths {
            chroot: self.inner.chroot.clone(),
            known,
        });
        self.add_persistent(path, AddWatchMode::PersistentRecursive, Some(known))
    }

    fn add_persistent(
        &self,
        path: &str,
        mode: AddWatchMode,
        known: Option<Arc<dyn KnownNodes>>,
    ) -> impl Future<Output = Result<PersistentWatcher>> + Send + 'static {
        let streams = &self.inner.streams;
        let slot = streams.slots.allocate();
        let watcher = PersistentWatcher::new(streams.clone(), slot);
        let (reply, rx) = oneshot::channel();
        let sent = self.server_path(path).and_then(|path| {
            self.inner
                .tx
                .send(Command::AddWatch {
                    path,
                    mode,
                    stream: slot,
                    reply,
                    known,
                })
                .map_err(|_| Error::Closed)
        });
        if sent.is_err() {
            // The driver never saw the slot.
            streams.slots.release(slot);
        }
        let limit = self.inner.request_timeout;
        bounded(self.deadline(), async move {
            sent?;
            recv(rx, limit).await?;
            Ok(watcher)
        })
    }
}

/// The known nodes of a cache as server paths (with the chroot).
struct ServerPaths {
    chroot: Chroot,
    known: Arc<dyn KnownNodes>,
}

impl KnownNodes for ServerPaths {
    fn for_each(&self, visit: &mut dyn FnMut(&str)) {
        self.known.for_each(&mut |path| {
            // A path the server would not accept cannot be a node the cache holds.
            if validate_path(path).is_ok() {
                visit(&self.chroot.prefix(path));
            }
        });
    }
}

/// [`with_watcher`] for reads whose value is a pair, flattened into a triple.
async fn with_watcher_pair<A, B>(
    fut: impl Future<Output = Result<((A, B), Option<OneshotWatcher>)>>,
) -> Result<(A, B, OneshotWatcher)> {
    let ((a, b), watcher) = with_watcher(fut).await?;
    Ok((a, b, watcher))
}

async fn with_watcher<T>(
    fut: impl Future<Output = Result<(T, Option<OneshotWatcher>)>>,
) -> Result<(T, OneshotWatcher)> {
    let (value, watcher) = fut.await?;
    // `call` returns a watcher whenever a watch kind was passed; the error is unreachable.
    Ok((value, watcher.ok_or_else(unexpected)?))
}

fn map_exists(r: Result<Response>, _: &Chroot) -> Result<Option<Stat>> {
    match r {
        Ok(Response::Stat(s)) => Ok(Some(s)),
        Err(Error::NoNode) => Ok(None),
        Err(e) => Err(e),
        Ok(_) => Err(unexpected()),
    }
}

pub(super) fn map_data(r: Result<Response>, _: &Chroot) -> Result<(Bytes, Stat)> {
    match r? {
        Response::Data { data, stat } => Ok((data.unwrap_or_default(), stat)),
        _ => Err(unexpected()),
    }
}

fn map_data_opt(r: Result<Response>, _: &Chroot) -> Result<(Option<Bytes>, Stat)> {
    match r? {
        Response::Data { data, stat } => Ok((data, stat)),
        _ => Err(unexpected()),
    }
}

fn map_children2(r: Result<Response>, _: &Chroot) -> Result<(Vec<String>, Stat)> {
    match r? {
        Response::Children2 { children, stat } => Ok((children, stat)),
        _ => Err(unexpected()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::SessionState;
    use aiozk_proto::EventType;

    /// One-shot slots are given back whatever becomes of their watch: set and fired, set
    /// and abandoned, not set by a failed read, ended by the client's close.
    #[tokio::test]
    async fn oneshot_slots_are_freed() {
        let server = aiozk_testkit::Ensemble::start(1, aiozk_testkit::ServerConfig::new())
            .expect("start ZooKeeper (apt-get install -y zookeeper)");
        let zk = Client::connect(&server.connect_string()).await.unwrap();
        let slots = zk.inner.slots.clone();
        zk.create("/slots", b"").await.unwrap();
        // Failed reads set no watch: their slots go as soon as the reply comes.
        for _ in 0..10 {
            let err = zk.get_data_watched("/missing").await.unwrap_err();
            assert_eq!(err, Error::NoNode);
        }
        assert_eq!(slots.live(), 0);
        // exists on a missing node sets a watch; it fires on creation.
        let (stat, w) = zk.exists_watched("/slots/a").await.unwrap();
        assert!(stat.is_none());
        assert_eq!(slots.live(), 1);
        zk.create("/slots/a", b"").await.unwrap();
        assert_eq!(w.await.event_type, EventType::NodeCreated);
        assert_eq!(slots.live(), 0);
        // A watcher dropped before its event: the slot goes when the event comes.
        let (_, _, w) = zk.get_data_watched("/slots").await.unwrap();
        drop(w);
        assert_eq!(slots.live(), 1);
        zk.set_data("/slots", b"x", None).await.unwrap();
        zk.sync("/slots").await.unwrap();
        assert_eq!(slots.live(), 0);
        // Watches still set when the client closes end with it.
        let (_, _, w) = zk.get_data_watched("/slots").await.unwrap();
        zk.close().await;
        assert_eq!(w.await.state, SessionState::Closed);
        assert_eq!(slots.live(), 0);
    }

    /// Stream slots are given back once both the watcher and the session are done: a
    /// dropped watcher's slot goes when the driver has removed its watch, and streams still
    /// open end with the client.
    #[tokio::test]
    async fn stream_slots_are_freed() {
        let server = aiozk_testkit::Ensemble::start(1, aiozk_testkit::ServerConfig::new())
            .expect("start ZooKeeper (apt-get install -y zookeeper)");
        let zk = Client::connect(&server.connect_string()).await.unwrap();
        let streams = zk.inner.streams.clone();
        zk.create("/streams", b"").await.unwrap();
        let a = zk.add_watch("/streams", false).await.unwrap();
        assert_eq!(streams.slots.live(), 1);
        drop(a);
        // The removal goes through the driver before the slot is free.
        zk.sync("/streams").await.unwrap();
        assert_eq!(streams.slots.live(), 0);
        // Invalid paths never reach the driver: their slot goes at once.
        assert!(zk.add_watch("no-slash", false).await.is_err());
        assert_eq!(streams.slots.live(), 0);
        let mut b = zk.add_watch("/streams/b", true).await.unwrap();
        assert_eq!(streams.slots.live(), 1);
        zk.set_data("/streams", b"x", None).await.unwrap();
        zk.create("/streams/b", b"").await.unwrap();
        let ev = b.next().await.unwrap();
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (EventType::NodeCreated, "/streams/b")
        );
        zk.close().await;
        assert_eq!(b.next().await.unwrap().state, SessionState::Closed);
        assert_eq!(b.next().await, None);
        drop(b);
        assert_eq!(streams.slots.live(), 0);
    }
}
