//! Writes: create (with its options and protected mode), delete, set data and ACLs,
//! reconfigure the ensemble.

use std::future::Future;
use std::time::Duration;

use aiozk_proto::{AclRecord, CreateMode, Request, Response, Stat};
use bytes::Bytes;

use super::call::{path_ref, to_record, unexpected, Retry};
use super::handle::Client;
use super::read::map_data;
use crate::acl::Acl;
use crate::error::{Error, Result};
use crate::path::{validate_path, validate_sequential_prefix, Chroot};

/// Options of [`Client::create_with`].
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    pub(super) mode: CreateMode,
    pub(super) acl: Option<Vec<Acl>>,
    pub(super) ttl: Option<Duration>,
    pub(super) protected: bool,
}

impl CreateOptions {
    /// A persistent node with the client's default ACL.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the creation mode.
    pub fn mode(mut self, mode: CreateMode) -> Self {
        self.mode = mode;
        self
    }

    /// The node is deleted when the session ends.
    pub fn ephemeral(mut self) -> Self {
        self.mode = match self.mode {
            CreateMode::PersistentSequential | CreateMode::EphemeralSequential => {
                CreateMode::EphemeralSequential
            }
            _ => CreateMode::Ephemeral,
        };
        self
    }

    /// The server appends a 10-digit sequence number to the name.
    pub fn sequential(mut self) -> Self {
        self.mode = match self.mode {
            CreateMode::Ephemeral | CreateMode::EphemeralSequential => {
                CreateMode::EphemeralSequential
            }
            CreateMode::PersistentWithTtl | CreateMode::PersistentSequentialWithTtl => {
                CreateMode::PersistentSequentialWithTtl
            }
            _ => CreateMode::PersistentSequential,
        };
        self
    }

    /// A container node: the server deletes it some time after its last child goes.
    pub fn container(mut self) -> Self {
        self.mode = CreateMode::Container;
        self
    }

    /// A TTL node: deleted once it has not been modified for `ttl` and has no children.
    /// Needs `extendedTypesEnabled=true` on the server.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self.mode = if self.mode.is_sequential() {
            CreateMode::PersistentSequentialWithTtl
        } else {
            CreateMode::PersistentWithTtl
        };
        self
    }

    /// The ACL of the new node.
    pub fn acl(mut self, acl: Vec<Acl>) -> Self {
        self.acl = Some(acl);
        self
    }

    /// Protected mode for sequential nodes: a unique id is put in the node name, so that
    /// after a connection loss the client can find out whether the create happened (by
    /// looking for the id among the parent's children) instead of creating a duplicate.
    pub fn protected(mut self) -> Self {
        self.protected = true;
        self
    }
}

/// Why [`Client::deleteall`] could not delete everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteAllReport {
    /// Nodes deleted.
    pub deleted: usize,
    /// Nodes that could not be deleted, with the reason.
    pub failed: Vec<(String, Error)>,
}

impl Client {
    /// Creates a persistent node with the default ACL; returns its path and Stat.
    ///
    /// # Errors
    /// [`Error::NodeExists`]; [`Error::NoNode`] when the parent is missing;
    /// [`Error::NoChildrenForEphemerals`]; [`Error::NoAuth`]; [`Error::InvalidPath`];
    /// [`Error::FrameTooLarge`] for data over the frame limit.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// let (path, stat) = zk.create("/config", b"v1").await?;
    /// assert_eq!(path, "/config");
    /// assert_eq!(stat.version, 0);
    /// // A second create fails: the node exists.
    /// assert_eq!(zk.create("/config", b"v2").await, Err(aiozk::Error::NodeExists));
    /// # Ok(()) }
    /// ```
    pub fn create(
        &self,
        path: &str,
        data: &[u8],
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        self.create_with(path, data, &CreateOptions::new())
    }

    /// Creates a node with `options` (mode, ACL, TTL, protection); returns its path (with the
    /// sequence number for sequential modes) and Stat.
    ///
    /// # Errors
    /// As for [`Client::create`]; [`Error::Unimplemented`] for TTL nodes when the server
    /// lacks `extendedTypesEnabled`.
    ///
    /// # Notable behaviour
    /// A create is retried after a connection loss only when repeating it cannot create a
    /// second node: non-sequential creates (a retry that finds the node reports
    /// [`Error::NodeExists`]) and protected sequential creates (which look for their node
    /// first). Plain sequential creates are never retried.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::CreateOptions;
    ///
    /// // An ephemeral sequential node: it lives as long as this session, and the server
    /// // appends a sequence number to its name.
    /// let options = CreateOptions::new().ephemeral().sequential();
    /// let (path, _stat) = zk.create_with("/workers/worker-", b"host-1", &options).await?;
    /// println!("registered as {path}"); // /workers/worker-0000000007
    /// # Ok(()) }
    /// ```
    pub fn create_with(
        &self,
        path: &str,
        data: &[u8],
        options: &CreateOptions,
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        self.create_opt(path, Some(data), options)
    }

    /// [`Client::create_with`] with data that may be null: `None` creates the node without
    /// data (null data, a buffer of length -1 on the wire, as the Java client's
    /// `create(path, null, ...)` and aiozk's `create(path)` do), `Some` stores the bytes
    /// given, including empty data. [`Client::get_data`] reads null data as empty;
    /// [`Client::get_data_opt`] reads it as `None`.
    ///
    /// # Errors
    /// As for [`Client::create_with`].
    pub fn create_opt(
        &self,
        path: &str,
        data: Option<&[u8]>,
        options: &CreateOptions,
    ) -> impl Future<Output = Result<(String, Stat)>> + Send + 'static {
        let mode = options.mode;
        let protected = options.protected && mode.is_sequential();
        let guid = protected.then(new_guid);
        let prepared = (|| {
            if mode.is_sequential() {
                validate_sequential_prefix(path)?;
            } else {
                validate_path(path)?;
            }
            let client_path = match &guid {
                Some(g) => protected_path(path, g),
                None => path.to_owned(),
            };
            let (acl, ttl) = self.create_parts(options)?;
            Ok((self.inner.chroot.prefix(&client_path), acl, ttl))
        })();
        let req_parts = prepared.clone();
        let req = req_parts
            .as_ref()
            .map_err(Clone::clone)
            .map(|(p, acl, ttl)| Request::Create {
                path: p,
                data,
                acl,
                mode,
                ttl: *ttl,
            });
        let fut = self.call_plain(req, !mode.is_sequential(), map_create);
        let this = self.clone();
        async move {
            match (fut.await, guid, prepared) {
                (Err(e), Some(_), Ok(_))
                    if e.is_retryable() && crate::mutant("create-loss-is-failure") =>
                {
                    Err(Error::NodeExists)
                }
                (Err(e), Some(guid), Ok((server_path, _, _)))
                    if e.is_retryable() || (e == Error::SessionExpired && !mode.is_ephemeral()) =>
                {
                    this.recover_protected(&server_path, &guid, !mode.is_ephemeral(), e)
                        .await
                }
                (r, _, _) => r,
            }
        }
    }

    /// After a connection loss during a protected create: find the node by its id, or give
    /// up with the original error (the caller may retry; no node with this id exists).
    ///
    /// A persistent node outlives its session, so when the session expired meanwhile the
    /// node is looked for on the next session (the lookup is sent again a few times):
    /// before, the expiry was returned and a caller that created again made a second
    /// node.
    async fn recover_protected(
        &self,
        server_path: &str,
        guid: &str,
        persistent: bool,
        err: Error,
    ) -> Result<(String, Stat)> {
        const EXPIRED_LOOKUPS: u32 = 3;
        let chroot = &self.inner.chroot;
        let client_path = chroot.strip(server_path).to_owned();
        let parent = crate::path::parent(&client_path).unwrap_or("/").to_owned();
        let mut expired = 0;
        let children = loop {
            match self.get_children(&parent).await {
                Ok(children) => break children,
                Err(Error::SessionExpired) if persistent && expired < EXPIRED_LOOKUPS => {
                    expired += 1;
                }
                Err(e) => return Err(e),
            }
        };
        match children.iter().find(|c| c.contains(guid)) {
            Some(name) => {
                let path = crate::path::join(&parent, name);
                let stat = self.exists(&path).await?.ok_or(err)?;
                Ok((path, stat))
            }
            None => Err(err),
        }
    }

    pub(super) fn create_parts(
        &self,
        options: &CreateOptions,
    ) -> Result<(Vec<AclRecord>, Option<i64>)> {
        let acl = match &options.acl {
            Some(acl) if acl.is_empty() => {
                return Err(Error::InvalidArgument("empty ACL".into()));
            }
            Some(acl) => acl.iter().map(to_record).collect(),
            None => self.inner.default_acl.clone(),
        };
        let ttl = if options.mode.is_ttl() {
            let ttl = options
                .ttl
                .ok_or_else(|| Error::InvalidArgument("a TTL mode needs a TTL".into()))?;
            let ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
            if ms <= 0 || ms > aiozk_proto::consts::MAX_TTL_MS {
                return Err(Error::InvalidArgument(format!(
                    "TTL of {ms} ms is outside 1..={} ms",
                    aiozk_proto::consts::MAX_TTL_MS
                )));
            }
            Some(ms)
        } else if options.ttl.is_some() {
            return Err(Error::InvalidArgument(
                "a TTL is only allowed with a TTL mode".into(),
            ));
        } else {
            None
        };
        Ok((acl, ttl))
    }

    /// Creates `path` and any missing ancestors as persistent nodes (mkdir -p), tolerating
    /// concurrent creators. The nodes are created without data (null data, as aiozk's
    /// `ensure_path` does), which [`Client::get_data`] reads as empty.
    ///
    /// # Errors
    /// [`Error::NoAuth`], [`Error::NoChildrenForEphemerals`], connection errors.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// zk.ensure_path("/app/config/db").await?; // creates /app, /app/config and /app/config/db
    /// zk.ensure_path("/app/config/db").await?; // nothing to do
    /// # Ok(()) }
    /// ```
    pub fn ensure_path(&self, path: &str) -> impl Future<Output = Result<()>> + Send + 'static {
        self.ensure_path_with(path, &CreateOptions::new())
    }

    /// [`Client::ensure_path`] with options for the created nodes (ACL, or
    /// [`CreateOptions::container`] for container nodes).
    ///
    /// # Errors
    /// As for [`Client::ensure_path`].
    pub fn ensure_path_with(
        &self,
        path: &str,
        options: &CreateOptions,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let this = self.clone();
        let options = options.clone();
        let checked = validate_path(path).map(|_| path.to_owned());
        // The first request is queued now, like every other call's (see `Client`'s
        // ordering): the node usually exists already.
        let first = (checked.is_ok() && path != "/").then(|| self.exists(path));
        async move {
            let path = checked?;
            let Some(first) = first else {
                return Ok(());
            };
            if first.await?.is_some() {
                return Ok(());
            }
            let mut prefix = String::new();
            for segment in path.split('/').skip(1) {
                prefix.push('/');
                prefix.push_str(segment);
                match this.create_opt(&prefix, None, &options).await {
                    Ok(_) | Err(Error::NodeExists) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }

    /// Deletes a node. `version`: the expected data version, `None` for any.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::BadVersion`]; [`Error::NotEmpty`]; [`Error::NoAuth`].
    ///
    /// # Notable behaviour
    /// With a version, the delete is retried after a connection loss. A retry that fails
    /// with `NoNode` or `BadVersion` may have met our own first attempt, so the call then
    /// fails with the connection error (outcome unknown), never with those.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// let (_, stat) = zk.get_data("/config").await?;
    /// // Only if nobody changed it since we read it.
    /// zk.delete("/config", Some(stat.version)).await?;
    /// # Ok(()) }
    /// ```
    pub fn delete(
        &self,
        path: &str,
        version: Option<i32>,
    ) -> impl Future<Output = Result<()>> + Send + 'static {
        let req = self.server_path(path);
        // Deleting "/" goes out as "/" so that it fails (BadArguments) instead of deleting
        // the chroot node.
        let req = if path == "/" { Ok("/".to_owned()) } else { req };
        self.call_plain_with(
            path_ref(&req).map(|p| Request::Delete {
                path: p,
                version: version.unwrap_or(-1),
            }),
            versioned(version, |e| matches!(e, Error::NoNode | Error::BadVersion)),
            |r, _| r.map(|_| ()),
        )
    }

    /// Deletes `path` and everything below it (deepest first). Deletes what it can and
    /// reports the rest; nodes that vanish meanwhile are not failures.
    ///
    /// # Errors
    /// Only for an invalid path; everything else is in the report.
    pub fn deleteall(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<DeleteAllReport>> + Send + 'static {
        let this = self.clone();
        let checked = validate_path(path).map(|_| path.to_owned());
        // The first listing is queued now, like every other call's (see `Client`'s ordering).
        let mut first = checked
            .as_ref()
            .ok()
            .map(|root| vec![(root.clone(), self.get_children(root))]);
        async move {
            let root = checked?;
            let mut report = DeleteAllReport::default();
            // Collect the subtree breadth-first, one pipelined round trip per level, then
            // delete in reverse (children first).
            let mut order = vec![root.clone()];
            let mut level = vec![root.clone()];
            while !level.is_empty() {
                let listings: Vec<_> = match first.take() {
                    Some(listings) => listings,
                    None => level
                        .iter()
                        .map(|node| (node.clone(), this.get_children(node)))
                        .collect(),
                };
                let mut next = Vec::new();
                for (node, listing) in listings {
                    match listing.await {
                        Ok(children) => {
                            next.extend(children.iter().map(|c| crate::path::join(&node, c)))
                        }
                        Err(Error::NoNode) => {}
                        Err(e) => report.failed.push((node, e)),
                    }
                }
                order.extend(next.iter().cloned());
                level = next;
            }
            // Pipeline the deletes level by level: deepest nodes were listed last.
            let futures: Vec<_> = order
                .iter()
                .rev()
                .map(|p| (p.clone(), this.delete(p, None)))
                .collect();
            for (p, fut) in futures {
                match fut.await {
                    Ok(()) => report.deleted += 1,
                    Err(Error::NoNode) => {}
                    Err(e) => report.failed.push((p, e)),
                }
            }
            Ok(report)
        }
    }

    /// Sets a node's data. `version`: the expected data version, `None` for any. Returns the
    /// new Stat.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::BadVersion`]; [`Error::NoAuth`];
    /// [`Error::FrameTooLarge`] for data over the frame limit.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::Error;
    ///
    /// // Compare-and-set: read, then write only if the version is still the one read.
    /// let (data, stat) = zk.get_data("/counter").await?;
    /// let next: u64 = String::from_utf8_lossy(&data).parse().unwrap_or(0) + 1;
    /// match zk.set_data("/counter", next.to_string().as_bytes(), Some(stat.version)).await {
    ///     Ok(stat) => println!("now {next}, version {}", stat.version),
    ///     Err(Error::BadVersion) => println!("someone else wrote first; read again"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    ///
    /// # Notable behaviour
    /// With a version (compare-and-set), the write is retried after a connection loss. A
    /// retry that fails with `BadVersion` may have met our own first attempt, so the call
    /// then fails with the connection error (outcome unknown), never with `BadVersion`.
    /// Without a version the write is not retried.
    pub fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        self.set_data_opt(path, Some(data), version)
    }

    /// [`Client::set_data`] with data that may be null: `None` stores null data (as the
    /// Java client's `setData(path, null, version)` and aiozk's `set_data(path, None)` do),
    /// which [`Client::get_data_opt`] then reads as `None`.
    ///
    /// # Errors
    /// As for [`Client::set_data`].
    pub fn set_data_opt(
        &self,
        path: &str,
        data: Option<&[u8]>,
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let req = self.server_path(path);
        self.call_plain_with(
            path_ref(&req).map(|p| Request::SetData {
                path: p,
                data,
                version: version.unwrap_or(-1),
            }),
            versioned(version, |e| matches!(e, Error::BadVersion)),
            map_stat,
        )
    }

    /// Sets a node's ACL. `version`: the expected ACL version (`aversion`), `None` for any.
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::BadVersion`]; [`Error::NoAuth`] without ADMIN;
    /// [`Error::InvalidAcl`].
    pub fn set_acl(
        &self,
        path: &str,
        acl: &[Acl],
        version: Option<i32>,
    ) -> impl Future<Output = Result<Stat>> + Send + 'static {
        let records: Vec<AclRecord> = acl.iter().map(to_record).collect();
        let req = if acl.is_empty() {
            Err(Error::InvalidArgument("empty ACL".into()))
        } else {
            self.server_path(path)
        };
        self.call_plain_with(
            path_ref(&req).map(|p| Request::SetAcl {
                path: p,
                acl: &records,
                version: version.unwrap_or(-1),
            }),
            versioned(version, |e| matches!(e, Error::BadVersion)),
            map_stat,
        )
    }

    /// Changes the ensemble membership: incrementally (`joining`, `leaving`) or as a whole
    /// (`new_members`); `from_config` is the expected config version (-1 for any). Returns
    /// the new configuration.
    ///
    /// # Errors
    /// [`Error::ReconfigDisabled`] unless the server has `reconfigEnabled=true`;
    /// [`Error::NewConfigNoQuorum`], [`Error::ReconfigInProgress`], [`Error::NoAuth`].
    pub fn reconfig(
        &self,
        joining: &str,
        leaving: &str,
        new_members: &str,
        from_config: i64,
    ) -> impl Future<Output = Result<(Bytes, Stat)>> + Send + 'static {
        self.call_plain(
            Ok(Request::Reconfig {
                joining,
                leaving,
                new_members,
                from_config,
            }),
            false,
            map_data,
        )
    }
}

fn map_stat(r: Result<Response>, _: &Chroot) -> Result<Stat> {
    match r? {
        Response::Stat(s) => Ok(s),
        _ => Err(unexpected()),
    }
}

fn map_create(r: Result<Response>, chroot: &Chroot) -> Result<(String, Stat)> {
    match r? {
        Response::Create2 { path, stat } => Ok((chroot.strip(&path).to_owned(), stat)),
        _ => Err(unexpected()),
    }
}

fn new_guid() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `/a/b-` with id `g` becomes `/a/_c_g-b-` (Curator's protected-name layout).
fn protected_path(path: &str, guid: &str) -> String {
    let (parent, name) = match path.rfind('/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => ("/", path),
    };
    format!("{parent}_c_{guid}-{name}")
}

/// The retry rule of a write with an optional expected version: without one it is never
/// repeated (it could apply twice); with one it is, and `ambiguous` names the errors a
/// repeat gets when the first attempt was applied.
fn versioned(version: Option<i32>, ambiguous: fn(&Error) -> bool) -> Retry {
    match version {
        Some(_) => Retry::UnlessAmbiguous(ambiguous),
        None => Retry::Never,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protected_names_keep_the_parent() {
        assert_eq!(protected_path("/a/lock-", "g"), "/a/_c_g-lock-");
        assert_eq!(protected_path("/q/", "g"), "/q/_c_g-");
        assert_eq!(protected_path("/x", "g"), "/_c_g-x");
    }

    #[test]
    fn create_options_compose() {
        assert_eq!(
            CreateOptions::new().ephemeral().sequential().mode,
            CreateMode::EphemeralSequential
        );
        assert_eq!(
            CreateOptions::new()
                .sequential()
                .ttl(Duration::from_secs(1))
                .mode,
            CreateMode::PersistentSequentialWithTtl
        );
    }
}
