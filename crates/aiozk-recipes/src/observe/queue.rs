//! `Queue`: a FIFO of persistent items with at-least-once, claim-based consumption.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use aiozk::path::join;
use aiozk::{Client, CreateOptions, Error, EventType, OpResult, Result, SessionState};
use bytes::Bytes;

use crate::support::across_expiry::{
    delete_quietly, is_transient, persist, wait_usable, SessionWatch,
};
use crate::support::naming::sequence_of;
use crate::support::task::{deadline_after, sleep_until, until};

/// The prefix of item nodes (after the protected-create id, see [`Queue`]).
const ITEM: &str = "item-";
/// The suffix of claim nodes.
const CLAIM: &str = ".lock";

/// A distributed FIFO queue with at-least-once delivery.
///
/// # Znode layout
/// Everything lives directly under `<base>`:
/// * `_c_<id>-item-<10-digit sequence>`: one persistent sequential node per item, holding
///   its payload. The `_c_<id>-` prefix comes from the client's protected create, which
///   lets [`put`](Queue::put) find out after a connection loss whether the item was
///   created, so an item is never enqueued twice by one call. Order is by sequence number.
/// * `<item name>.lock`: an ephemeral node created by the consumer that claimed the item;
///   its data is the consumer's session id in hex.
///
/// # Guarantees
/// * FIFO: [`take`](Queue::take) claims the unclaimed item with the lowest sequence number.
/// * A claim is exclusive: the lock node and the check that the item still exists are
///   one transaction, so two consumers never hold the same item at the same time (within
///   one session's lifetime, see below).
/// * At least once: an item is deleted only by [`QueueItem::complete`], atomically with its
///   claim. If a consumer dies, its session ends, its ephemeral claim vanishes, and the
///   item is handed to another consumer. An item can therefore be processed more than once;
///   processing should be idempotent.
///
/// # Connection loss and session expiry
/// Waiting consumers survive reconnects. A claim made in a transaction whose reply was lost
/// is recognised afterwards by the lock's owner session. A claim survives reconnects but
/// not session expiry: after expiry [`QueueItem::complete`] fails with
/// [`Error::SessionExpired`]-like errors (the item was, or will be, given to another
/// consumer) and should not be retried.
///
/// # Cancellation safety
/// Dropping [`take`](Queue::take) never leaves a claim behind: a claim transaction still in
/// flight is undone by a spawned task. Dropping a [`QueueItem`] without completing it
/// releases the claim (the delete is queued immediately). Dropping [`put`](Queue::put) may
/// or may not enqueue the item.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Queue;
///
/// let queue = Queue::new(&zk, "/queues/mail");
/// queue.put(b"to: alice@example.com").await?;
/// let item = queue.take(None).await?; // claimed by this session until completed
/// println!("sending {:?}", item.data());
/// item.complete().await?; // gone for good; dropping it instead hands it back
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Queue {
    client: Client,
    base: String,
}

/// An item claimed by [`Queue::take`]. Process it, then [`complete`](QueueItem::complete)
/// it; dropping it (or [`release`](QueueItem::release)) gives it back to the queue.
#[derive(Debug)]
pub struct QueueItem {
    client: Client,
    path: String,
    lock: String,
    data: Bytes,
    done: bool,
}

impl Queue {
    /// A queue under `base_path` (created when the first item is put).
    pub fn new(client: &Client, base_path: &str) -> Self {
        Self {
            client: client.clone(),
            base: base_path.to_owned(),
        }
    }

    /// The base path.
    pub fn base_path(&self) -> &str {
        &self.base
    }

    /// Appends an item. Returns its node's path.
    ///
    /// # Errors
    /// [`Error::NoAuth`]; [`Error::FrameTooLarge`] for data over the frame limit; a
    /// connection error when the outcome could not be established (then the item was not
    /// created).
    pub async fn put(&self, data: &[u8]) -> Result<String> {
        let options = CreateOptions::new().sequential().protected();
        let prefix = join(&self.base, ITEM);
        let mut made_parents = false;
        loop {
            match self.client.create_with(&prefix, data, &options).await {
                Ok((path, _)) => return Ok(path),
                Err(Error::NoNode) if !made_parents => {
                    made_parents = true;
                    persist(&self.client, || self.client.ensure_path(&self.base)).await?;
                }
                // The protected create already looked for our node: it was not created.
                Err(e) if is_transient(&e) => wait_usable(&self.client).await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// The number of items, claimed or not.
    ///
    /// # Errors
    /// Errors that end the session.
    pub async fn len(&self) -> Result<usize> {
        Ok(self.items().await?.0.len())
    }

    /// True when there is no item.
    ///
    /// # Errors
    /// As for [`Queue::len`].
    pub async fn is_empty(&self) -> Result<bool> {
        Ok(self.len().await? == 0)
    }

    /// The item names (by sequence) and claim names.
    async fn items(&self) -> Result<(Vec<String>, Vec<String>)> {
        let children = match persist(&self.client, || self.client.get_children(&self.base)).await {
            Ok(c) => c,
            Err(Error::NoNode) => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(split(children))
    }

    /// Claims the oldest unclaimed item, waiting for one at most `timeout` (`None`: no
    /// limit).
    ///
    /// # Errors
    /// [`Error::Timeout`]; [`Error::Closed`] and other errors that end the session.
    ///
    /// # Cancellation safety
    /// Cancel safe: no claim is left behind (see the type's documentation).
    pub async fn take(&self, timeout: Option<Duration>) -> Result<QueueItem> {
        let deadline = deadline_after(timeout);
        let mut session = SessionWatch::new(&self.client);
        loop {
            let client = &self.client;
            let read = until(
                deadline,
                persist(client, || client.get_children_watched(&self.base)),
            )
            .await;
            let watcher = match read {
                Ok((children, _, watcher)) => {
                    let (items, claims) = split(children);
                    for item in items.iter().filter(|i| !claims.contains(&claim_name(i))) {
                        if let Some(taken) = until(deadline, self.claim(item)).await? {
                            return Ok(taken);
                        }
                    }
                    watcher
                }
                Err(Error::NoNode) => {
                    let (stat, watcher) = until(
                        deadline,
                        persist(client, || client.exists_watched(&self.base)),
                    )
                    .await?;
                    if stat.is_some() {
                        continue;
                    }
                    watcher
                }
                Err(e) => return Err(e),
            };
            tokio::select! {
                ev = watcher => {
                    if ev.event_type == EventType::None && ev.state == SessionState::Closed {
                        return Err(Error::Closed);
                    }
                }
                _ = session.next() => {}
                () = sleep_until(deadline) => return Err(Error::Timeout),
            }
        }
    }

    /// Claims the oldest unclaimed item if there is one, without waiting.
    ///
    /// # Errors
    /// As for [`Queue::take`], without the timeout.
    pub async fn try_take(&self) -> Result<Option<QueueItem>> {
        let (items, claims) = self.items().await?;
        for item in items.iter().filter(|i| !claims.contains(&claim_name(i))) {
            if let Some(taken) = self.claim(item).await? {
                return Ok(Some(taken));
            }
        }
        Ok(None)
    }

    /// Tries to claim `item`: `None` when someone else has it or it is gone.
    async fn claim(&self, item: &str) -> Result<Option<QueueItem>> {
        let client = &self.client;
        let path = join(&self.base, item);
        let lock = join(&self.base, &claim_name(item));
        let mut guard = ClaimGuard {
            client: client.clone(),
            lock: lock.clone(),
            state: Claim::Clear,
        };
        loop {
            let owner = format!("{:x}", client.session_id());
            let commit = client
                .transaction()
                .check_version(&path, -1)
                .create(&lock, owner.as_bytes(), &CreateOptions::new().ephemeral())
                .commit();
            guard.state = Claim::Pending(Box::pin(commit));
            let result = match &mut guard.state {
                Claim::Pending(c) => c.await,
                _ => unreachable!("set just above"),
            };
            guard.state = Claim::Unknown;
            match result {
                Ok(_) => break,
                Err(Error::TransactionFailed { .. }) => {
                    guard.state = Claim::Clear;
                    return Ok(None);
                }
                Err(e) if is_transient(&e) => {
                    // Did the lost transaction go through? Our lock would be owned by our
                    // session (if the session survived).
                    wait_usable(client).await?;
                    match persist(client, || client.exists(&lock)).await? {
                        Some(stat) if stat.ephemeral_owner == client.session_id() => break,
                        Some(_) => {
                            guard.state = Claim::Clear;
                            return Ok(None);
                        }
                        None => continue,
                    }
                }
                Err(e) => {
                    guard.state = Claim::Clear;
                    return Err(e);
                }
            }
        }
        // From here the claim is ours: the item releases it if dropped before it is done.
        guard.state = Claim::Clear;
        let mut taken = QueueItem {
            client: client.clone(),
            path,
            lock,
            data: Bytes::new(),
            done: false,
        };
        match persist(client, || client.get_data(&taken.path)).await {
            Ok((data, _)) => {
                taken.data = data;
                Ok(Some(taken))
            }
            // Completed by a consumer whose claim had expired: not ours to process.
            // Dropping `taken` releases the claim.
            Err(Error::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

type Commit = Pin<Box<dyn Future<Output = Result<Vec<OpResult>>> + Send>>;

/// Where a claim stands while `claim` runs.
enum Claim {
    /// Nothing of ours exists.
    Clear,
    /// The claim transaction is in flight.
    Pending(Commit),
    /// The claim may exist (its reply was lost).
    Unknown,
}

/// Undoes a claim when `take` is dropped half-way: waits for a transaction still in flight,
/// or checks whether a lock of unknown fate is ours, and deletes it.
struct ClaimGuard {
    client: Client,
    lock: String,
    state: Claim,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        let state = std::mem::replace(&mut self.state, Claim::Clear);
        if matches!(state, Claim::Clear) {
            return;
        }
        let client = self.client.clone();
        let lock = std::mem::take(&mut self.lock);
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let unknown = match state {
                Claim::Pending(commit) => match commit.await {
                    Ok(_) => false,
                    Err(e) if is_transient(&e) => true,
                    Err(_) => return,
                },
                _ => true,
            };
            let ours = !unknown
                || matches!(
                    persist(&client, || client.exists(&lock)).await,
                    Ok(Some(s)) if s.ephemeral_owner == client.session_id()
                );
            if ours {
                let _ = delete_quietly(&client, &lock).await;
            }
        });
    }
}

impl QueueItem {
    /// The item's payload.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// The item's node.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Removes the item from the queue (and its claim), atomically.
    ///
    /// # Errors
    /// [`Error::TransactionFailed`] when the claim was lost (session expired; another
    /// consumer may have the item) or the item was already removed; a connection error
    /// when the outcome is unknown.
    pub async fn complete(mut self) -> Result<()> {
        self.done = true;
        let client = &self.client;
        if crate::mutant("queue-complete-gone-ok") {
            return match persist(client, || client.delete(&self.path, None)).await {
                Ok(()) | Err(Error::NoNode) => Ok(()),
                Err(e) => Err(e),
            };
        }
        let owned = persist(client, || client.exists(&self.lock)).await?;
        if !matches!(owned, Some(s) if s.ephemeral_owner == client.session_id()) {
            return Err(Error::TransactionFailed {
                index: 0,
                error: Box::new(Error::NoNode),
                results: vec![Error::NoNode],
            });
        }
        let result = client
            .transaction()
            .delete(&self.lock, -1)
            .delete(&self.path, -1)
            .commit()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_transient(&e) => {
                wait_usable(client).await?;
                match persist(client, || client.exists(&self.path)).await? {
                    None => Ok(()),
                    Some(_) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Gives the item back to the queue for another consumer.
    ///
    /// # Errors
    /// Errors that end the session (the claim then vanishes anyway).
    pub async fn release(mut self) -> Result<()> {
        self.done = true;
        delete_quietly(&self.client, &self.lock).await
    }
}

impl Drop for QueueItem {
    fn drop(&mut self) {
        if !self.done {
            // Queued now; the reply is not needed.
            drop(self.client.delete(&self.lock, None));
        }
    }
}

fn claim_name(item: &str) -> String {
    format!("{item}{CLAIM}")
}

/// Splits a queue's children into items (by sequence) and claims.
fn split(children: Vec<String>) -> (Vec<String>, Vec<String>) {
    let (claims, rest): (Vec<String>, Vec<String>) =
        children.into_iter().partition(|c| c.ends_with(CLAIM));
    let mut items: Vec<(u64, String)> = rest
        .into_iter()
        .filter(|c| c.contains(ITEM))
        .filter_map(|c| sequence_of(&c).map(|s| (s, c)))
        .collect();
    items.sort();
    (items.into_iter().map(|(_, c)| c).collect(), claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_items_and_claims() {
        let (items, claims) = split(vec![
            "_c_b-item-0000000002".into(),
            "_c_a-item-0000000001.lock".into(),
            "_c_a-item-0000000001".into(),
            "other".into(),
        ]);
        assert_eq!(items, vec!["_c_a-item-0000000001", "_c_b-item-0000000002"]);
        assert_eq!(claims, vec!["_c_a-item-0000000001.lock"]);
    }
}
