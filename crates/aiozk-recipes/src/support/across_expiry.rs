//! Retries across session expiry, for the observation recipes: what they mirror or wait
//! for outlives a session, so a lost connection and an expired session that the client
//! replaces are both waited out, and the recipe re-reads after every reconnect.

use std::future::Future;
use std::time::Duration;

use aiozk::{Client, CreateOptions, Error, Result, SessionEvent, SessionState};
use tokio::sync::broadcast;

/// True for errors after which the same request may succeed once the session is usable
/// again: a lost connection (also after the client's own retries gave up) or an expired
/// session that the client replaces with a new one.
pub(crate) fn is_transient(err: &Error) -> bool {
    match err {
        Error::RetriesExhausted { last, .. } => is_transient(last),
        Error::SessionExpired => true,
        e => e.is_retryable(),
    }
}

/// Waits until the client can send requests again.
///
/// Returns early (Ok) when the session expired, so that the caller's next request either
/// waits for the replacement session (the client queues it) or fails at once with
/// [`Error::SessionExpired`] when the client does not reconnect after expiry.
///
/// # Errors
/// [`Error::Closed`] or [`Error::AuthFailed`] once the client has stopped for good.
pub(crate) async fn wait_usable(client: &Client) -> Result<()> {
    let mut rx = client.state_watch();
    let state = *rx
        .wait_for(|s| s.is_connected() || s.is_terminal() || *s == SessionState::Expired)
        .await
        .map_err(|_| Error::Closed)?;
    match state {
        SessionState::AuthFailed => Err(Error::AuthFailed),
        SessionState::Closed => Err(Error::Closed),
        _ => Ok(()),
    }
}

/// Runs `op` until it succeeds or fails with an error that is not transient. After a
/// transient error it waits for the session to be usable and tries again; two session
/// expiries in a row while the client stays expired mean the client does not reconnect
/// after expiry, and the expiry is returned.
///
/// Meant for reads and other operations that can be repeated safely.
pub(crate) async fn persist<T, F, Fut>(client: &Client, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut expiries = 0;
    let mut pause = Duration::from_millis(5);
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(Error::SessionExpired) => {
                expiries += 1;
                if expiries > 1 && client.state() == SessionState::Expired {
                    return Err(Error::SessionExpired);
                }
                wait_usable(client).await?;
            }
            Err(e) if is_transient(&e) => {
                expiries = 0;
                wait_usable(client).await?;
                // A server that sheds load (throttled, request timeout) answers while
                // connected: do not hammer it.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(e),
        }
    }
}

/// What [`SessionWatch::next`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconnect {
    /// The client connected again; `session_id` is the session it is connected with.
    Connected { session_id: i64 },
    /// Events were lost (the receiver lagged): assume anything may have happened.
    Unknown,
}

/// Tells a recipe when its client has (re)connected, so that it can re-read what it
/// mirrors (after a new session the one-shot watches and ephemeral nodes of the old one are
/// gone), or know when the catch-up of its persistent watches is complete.
pub(crate) struct SessionWatch {
    client: Client,
    rx: broadcast::Receiver<SessionEvent>,
}

impl SessionWatch {
    /// Starts listening now; only connections made from now on are reported.
    pub(crate) fn new(client: &Client) -> Self {
        Self {
            client: client.clone(),
            rx: client.state_changes(),
        }
    }

    /// The next (re)connection, or `None` once the client has stopped for good.
    ///
    /// # Cancellation safety
    /// Cancel safe: no event is lost when the future is dropped.
    pub(crate) async fn next(&mut self) -> Option<Reconnect> {
        loop {
            match self.rx.recv().await {
                Ok(SessionEvent::State(s, _)) if s.is_connected() => {
                    return Some(Reconnect::Connected {
                        session_id: self.client.session_id(),
                    })
                }
                Ok(SessionEvent::State(s, _)) if s.is_terminal() => return None,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => return Some(Reconnect::Unknown),
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}

/// Creates this instance's ephemeral sequential node `<base>/<label>-<guid>-<seq>` (aiozk's
/// layout) and returns its path. Missing parents are created. After a connection loss the
/// outcome of a sequential create is unknown, so the children of `base` are searched for
/// the `<label>-<guid>-` prefix before trying again: no duplicate node is left behind.
pub(crate) async fn create_unique(
    client: &Client,
    base: &str,
    label: &str,
    guid: &str,
    data: &[u8],
) -> Result<String> {
    let prefix = format!("{label}-{guid}-");
    let path = aiozk::path::join(base, &prefix);
    let options = CreateOptions::new().ephemeral().sequential();
    let mut made_parents = false;
    loop {
        match client.create_with(&path, data, &options).await {
            Ok((created, _)) => return Ok(created),
            Err(Error::NoNode) if !made_parents => {
                made_parents = true;
                persist(client, || client.ensure_path(base)).await?;
            }
            Err(e) if is_transient(&e) => {
                wait_usable(client).await?;
                let children = persist(client, || client.get_children(base)).await?;
                for name in children.iter().filter(|c| c.starts_with(&prefix)) {
                    // Only a node of the current session is ours; one left by an expired
                    // session is about to vanish.
                    let candidate = aiozk::path::join(base, name);
                    let stat = persist(client, || client.exists(&candidate)).await?;
                    if stat.is_some_and(|s| s.ephemeral_owner == client.session_id()) {
                        return Ok(candidate);
                    }
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// After a new session: keeps `node` if the current session owns it, otherwise deletes it
/// (it belonged to the expired session and is about to vanish anyway) and creates this
/// instance's node again. Returns the node to use.
pub(crate) async fn reclaim(
    client: &Client,
    base: &str,
    label: &str,
    guid: &str,
    node: &str,
) -> Result<String> {
    let stat = persist(client, || client.exists(node)).await?;
    if stat.is_some_and(|s| s.ephemeral_owner == client.session_id()) {
        return Ok(node.to_owned());
    }
    delete_quietly(client, node).await?;
    create_unique(client, base, label, guid, b"").await
}

/// Deletes `path`, waiting through connection loss; a missing node is success.
pub(crate) async fn delete_quietly(client: &Client, path: &str) -> Result<()> {
    match persist(client, || client.delete(path, None)).await {
        Ok(()) | Err(Error::NoNode) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes the nodes `<base>/<prefix>*` of an operation that was dropped half-way, when the
/// guard is dropped while armed. The listing is queued at drop time, after every request
/// the dropped operation queued, so it sees a create that was still in flight.
pub(crate) struct OrphanGuard {
    client: Client,
    base: String,
    prefix: String,
    armed: bool,
}

impl OrphanGuard {
    /// An armed guard for nodes named `<base>/<prefix>…`.
    pub(crate) fn new(client: &Client, base: &str, prefix: String) -> Self {
        Self {
            client: client.clone(),
            base: base.to_owned(),
            prefix,
            armed: true,
        }
    }

    /// The operation finished (or cleaned up itself): do nothing on drop.
    pub(crate) fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for OrphanGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        // Queued now, so ordered after the dropped operation's requests.
        let listing = self.client.get_children(&self.base);
        let client = self.client.clone();
        let base = std::mem::take(&mut self.base);
        let prefix = std::mem::take(&mut self.prefix);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let Ok(children) = listing.await else { return };
                for c in children.iter().filter(|c| c.starts_with(&prefix)) {
                    let _ = delete_quietly(&client, &aiozk::path::join(&base, c)).await;
                }
            });
        }
    }
}
