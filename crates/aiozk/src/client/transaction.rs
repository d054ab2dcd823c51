//! Transactions (ZooKeeper's multi): a batch of writes that all take effect or none does.

use std::future::Future;

use aiozk_proto::{AclRecord, CreateMode, MultiResult, Request, Response, Stat};

use super::call::unexpected;
use super::handle::{bounded, recv, Client};
use super::write::CreateOptions;
use crate::error::{Error, Result};
use crate::path::{validate_path, validate_sequential_prefix, Chroot};

/// One operation of a [`Transaction`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum TxnOp {
    Create {
        path: String,
        data: Option<Vec<u8>>,
        acl: Vec<AclRecord>,
        mode: CreateMode,
        ttl: Option<i64>,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// The outcome of one operation of a committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// A node was created at this path (chroot removed), with its Stat: always for container
    /// and TTL creates, for the others from ZooKeeper 3.8.2 and 3.9.0 (ZOOKEEPER-4026; older
    /// servers send none).
    Created {
        /// The created path.
        path: String,
        /// Its Stat, when the server sent it.
        stat: Option<Stat>,
    },
    /// A node was deleted.
    Deleted,
    /// Data was set; the node's new Stat.
    Updated(Stat),
    /// A version check passed.
    Checked,
}

/// An atomic batch of writes (ZooKeeper's multi): all take effect or none does.
///
/// Build it with [`Client::transaction`] (aiozk: `begin_transaction`), add operations, then
/// [`Transaction::commit`].
#[derive(Debug, Clone)]
#[must_use = "a transaction does nothing until committed"]
pub struct Transaction {
    client: Client,
    ops: Vec<TxnOp>,
    error: Option<Error>,
}

impl Transaction {
    fn path(&mut self, path: &str, sequential: bool) -> Option<String> {
        let checked = if sequential {
            validate_sequential_prefix(path)
        } else {
            validate_path(path)
        };
        match checked {
            Ok(()) => Some(self.client.inner.chroot.prefix(path)),
            Err(e) => {
                self.error.get_or_insert(e);
                None
            }
        }
    }

    /// Checks that the node's version is `version` (-1: that the node exists).
    pub fn check_version(mut self, path: &str, version: i32) -> Self {
        if let Some(path) = self.path(path, false) {
            self.ops.push(TxnOp::Check { path, version });
        }
        self
    }

    /// Creates a node.
    pub fn create(self, path: &str, data: &[u8], options: &CreateOptions) -> Self {
        self.create_opt(path, Some(data), options)
    }

    /// Creates a node whose data may be null: `None` creates it without data (null data,
    /// which [`Client::get_data_opt`] reads as `None`), `Some` as [`Transaction::create`].
    pub fn create_opt(mut self, path: &str, data: Option<&[u8]>, options: &CreateOptions) -> Self {
        let Some(server_path) = self.path(path, options.mode.is_sequential()) else {
            return self;
        };
        match self.client.create_parts(options) {
            Ok((acl, ttl)) => self.ops.push(TxnOp::Create {
                path: server_path,
                data: data.map(<[u8]>::to_vec),
                acl,
                mode: options.mode,
                ttl,
            }),
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
        self
    }

    /// Deletes a node (`version` -1: any version).
    pub fn delete(mut self, path: &str, version: i32) -> Self {
        // As in Client::delete: "/" goes out as "/" (the server refuses it) instead of
        // deleting the chroot node.
        let server_path = if path == "/" {
            Some(path.to_owned())
        } else {
            self.path(path, false)
        };
        if let Some(path) = server_path {
            self.ops.push(TxnOp::Delete { path, version });
        }
        self
    }

    /// Sets a node's data (`version` -1: any version).
    pub fn set_data(self, path: &str, data: &[u8], version: i32) -> Self {
        self.set_data_opt(path, Some(data), version)
    }

    /// Sets a node's data, which may be null: `None` stores null data (see
    /// [`Client::set_data_opt`]), `Some` as [`Transaction::set_data`].
    pub fn set_data_opt(mut self, path: &str, data: Option<&[u8]>, version: i32) -> Self {
        if let Some(path) = self.path(path, false) {
            self.ops.push(TxnOp::SetData {
                path,
                data: data.map(<[u8]>::to_vec),
                version,
            });
        }
        self
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// True when no operation was added.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sends the transaction (queued at once, see [`Client`]'s ordering) and returns each
    /// operation's result.
    ///
    /// # Errors
    /// [`Error::TransactionFailed`] with the failed operation's index and error and every
    /// operation's own outcome; the first argument error met while building; any
    /// connection or session error. An empty transaction succeeds without a round trip.
    /// A transaction is never retried: its outcome after a connection loss is unknown.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::{CreateOptions, Error};
    ///
    /// let result = zk
    ///     .transaction()
    ///     .check_version("/config", 3)
    ///     .create("/config/a", b"", &CreateOptions::new())
    ///     .commit()
    ///     .await;
    /// if let Err(Error::TransactionFailed { index, error, .. }) = &result {
    ///     println!("operation {index} failed: {error}"); // nothing was applied
    /// }
    /// # Ok(()) }
    /// ```
    pub fn commit(self) -> impl Future<Output = Result<Vec<OpResult>>> + Send + 'static {
        let chroot = self.client.inner.chroot.clone();
        let sent = match self.error {
            Some(e) => Err(e),
            None if self.ops.is_empty() => Ok(None),
            None => {
                let reqs: Vec<Request<'_>> = self
                    .ops
                    .iter()
                    .map(|op| match op {
                        TxnOp::Create {
                            path,
                            data,
                            acl,
                            mode,
                            ttl,
                        } => Request::Create {
                            path,
                            data: data.as_deref(),
                            acl,
                            mode: *mode,
                            ttl: *ttl,
                        },
                        TxnOp::Delete { path, version } => Request::Delete {
                            path,
                            version: *version,
                        },
                        TxnOp::SetData {
                            path,
                            data,
                            version,
                        } => Request::SetData {
                            path,
                            data: data.as_deref(),
                            version: *version,
                        },
                        TxnOp::Check { path, version } => Request::Check {
                            path,
                            version: *version,
                        },
                    })
                    .collect();
                self.client
                    .encode(&Request::Multi(&reqs))
                    .and_then(|(op, body)| self.client.send(op, body, None))
                    .map(|(rx, _)| Some(rx))
            }
        };
        let limit = self.client.inner.request_timeout;
        bounded(self.client.deadline(), async move {
            let Some(rx) = sent? else {
                return Ok(Vec::new());
            };
            let Response::Multi(results) = recv(rx, limit).await? else {
                return Err(unexpected());
            };
            multi_outcome(&chroot, results)
        })
    }
}

fn multi_outcome(chroot: &Chroot, results: Vec<MultiResult>) -> Result<Vec<OpResult>> {
    if results.iter().all(|r| matches!(r, MultiResult::Error(_))) && !results.is_empty() {
        let errors: Vec<Error> = results
            .iter()
            .map(|r| match r {
                MultiResult::Error(0) => Error::RolledBack,
                MultiResult::Error(code) => Error::from_code(*code),
                _ => Error::RolledBack,
            })
            .collect();
        let index = results
            .iter()
            .position(|r| !matches!(r, MultiResult::Error(0) | MultiResult::Error(-2)))
            .unwrap_or(0);
        return Err(Error::TransactionFailed {
            index,
            error: Box::new(errors[index].clone()),
            results: errors,
        });
    }
    results
        .into_iter()
        .map(|r| {
            Ok(match r {
                MultiResult::Create { path } => OpResult::Created {
                    path: chroot.strip(&path).to_owned(),
                    stat: None,
                },
                MultiResult::Create2 { path, stat } => OpResult::Created {
                    path: chroot.strip(&path).to_owned(),
                    stat: Some(stat),
                },
                MultiResult::Delete => OpResult::Deleted,
                MultiResult::SetData { stat } => OpResult::Updated(stat),
                MultiResult::Check => OpResult::Checked,
                _ => return Err(unexpected()),
            })
        })
        .collect()
}

impl Client {
    /// Starts a transaction (aiozk: `begin_transaction`).
    ///
    /// # Examples
    /// ```no_run
    /// # async fn example() -> aiozk::Result<()> {
    /// # let zk = aiozk::Client::connect("127.0.0.1:2181").await?;
    /// use aiozk::{CreateOptions, OpResult};
    ///
    /// // Move /jobs/42 from the queue to /done, atomically.
    /// let (data, stat) = zk.get_data("/jobs/42").await?;
    /// let results = zk
    ///     .transaction()
    ///     .delete("/jobs/42", stat.version)
    ///     .create("/done/42", &data, &CreateOptions::new())
    ///     .commit()
    ///     .await?;
    /// assert_eq!(results[0], OpResult::Deleted);
    /// # Ok(()) }
    /// ```
    pub fn transaction(&self) -> Transaction {
        Transaction {
            client: self.clone(),
            ops: Vec::new(),
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_multi_reports_every_op() {
        let chroot = Chroot::default();
        let err = multi_outcome(
            &chroot,
            vec![
                MultiResult::Error(0),
                MultiResult::Error(-101),
                MultiResult::Error(-2),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::TransactionFailed {
                index: 1,
                error: Box::new(Error::NoNode),
                results: vec![
                    Error::RolledBack,
                    Error::NoNode,
                    Error::RuntimeInconsistency
                ],
            }
        );
    }
}
