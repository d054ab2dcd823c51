//! Helpers shared by the ownership recipes: node names, sibling lists, retries.

use std::future::Future;
use std::time::Duration;

use aiozk::{Client, CreateOptions, Error, Result, SessionState, Stat};

/// Pause between retries of a read that failed with a transient error while the client
/// still looked connected (a throttled request, say), so a retry loop never spins.
const RETRY_PAUSE: Duration = Duration::from_millis(20);

/// How long a client may stay in the `Expired` state before we conclude that it will not
/// open a new session (`reconnect_after_expiry(false)`). A client that reconnects leaves
/// `Expired` within the same driver step.
const EXPIRED_GRACE: Duration = Duration::from_millis(500);

/// A random version-4 UUID as 32 lowercase hex digits, like Python's `uuid4().hex`.
pub(crate) fn new_guid() -> String {
    let mut bits: u128 = rand::random();
    // Version 4 in bits 76..80, variant 0b10 in bits 62..64 (RFC 4122).
    bits &= !(0xF_u128 << 76);
    bits |= 0x4_u128 << 76;
    bits &= !(0x3_u128 << 62);
    bits |= 0x2_u128 << 62;
    format!("{bits:032x}")
}

/// A child of a recipe's base node whose name ends in a 10-digit sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sibling {
    /// The child's name.
    pub(crate) name: String,
    /// aiozk's label: the name without its last two `-` separated parts
    /// (`name.rsplit('-', 2)[0]`).
    pub(crate) label: String,
    /// The sequence number (the last 10 characters).
    pub(crate) seq: i64,
}

impl Sibling {
    /// Parses `name` as aiozk does: it is a sibling when it ends with 10 ASCII digits.
    pub(crate) fn parse(name: &str) -> Option<Self> {
        let split = name.len().checked_sub(10)?;
        if !name.is_char_boundary(split) {
            return None;
        }
        let tail = &name[split..];
        if !tail.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq = tail.parse().ok()?;
        // `rsplitn` always yields at least one piece.
        let label = name.rsplitn(3, '-').last().unwrap_or(name);
        Some(Self {
            name: name.to_owned(),
            label: label.to_owned(),
            seq,
        })
    }
}

/// The siblings among `children`, sorted by sequence number (aiozk's `analyze_siblings`).
pub(crate) fn sorted_siblings(children: &[String]) -> Vec<Sibling> {
    let mut siblings: Vec<Sibling> = children.iter().filter_map(|c| Sibling::parse(c)).collect();
    siblings.sort_by_key(|s| s.seq);
    siblings
}

/// True for errors after which the same read may succeed: a lost connection, a throttled
/// request, or the client's own retries giving up on one of those.
pub(crate) fn transient(err: &Error) -> bool {
    match err {
        Error::RetriesExhausted { last, .. } => transient(last),
        e => e.is_retryable(),
    }
}

/// Waits until the client is connected.
///
/// # Errors
/// [`Error::Closed`] or [`Error::AuthFailed`] when the client stopped for good;
/// [`Error::SessionExpired`] when the session expired and the client does not open a new
/// one.
pub(crate) async fn wait_connected(client: &Client) -> Result<()> {
    let mut rx = client.state_watch();
    loop {
        let state = *rx.borrow_and_update();
        match state {
            s if s.is_connected() => return Ok(()),
            SessionState::Closed => return Err(Error::Closed),
            SessionState::AuthFailed => return Err(Error::AuthFailed),
            SessionState::Expired => {
                match tokio::time::timeout(EXPIRED_GRACE, rx.changed()).await {
                    Err(_) => return Err(Error::SessionExpired),
                    Ok(Err(_)) => return Err(Error::Closed),
                    Ok(Ok(())) => {}
                }
            }
            _ => {
                if rx.changed().await.is_err() {
                    return Err(Error::Closed);
                }
            }
        }
    }
}

/// Runs the idempotent operation `op` until it succeeds or fails with a lasting error;
/// after a transient error it waits for the connection and tries again.
///
/// # Errors
/// The first error that is not transient, or the error of [`wait_connected`].
pub(crate) async fn retrying<T, F, Fut>(client: &Client, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    loop {
        match op().await {
            Err(e) if transient(&e) => {
                wait_connected(client).await?;
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            other => return other,
        }
    }
}

/// Deletes `path` (any version), trying again after transient errors and after a session
/// expiry (the node may outlive a session the client gave up on). A missing node is
/// success, and so is a client that has stopped: its session's ephemeral nodes are gone
/// or going.
///
/// # Errors
/// Only lasting errors such as [`Error::NoAuth`].
pub(crate) async fn delete_retrying(client: &Client, path: &str) -> Result<()> {
    let first = client.delete(path, None);
    finish_delete(client, path, first.await).await
}

/// Continues [`delete_retrying`] after a first attempt already sent.
pub(crate) async fn finish_delete(
    client: &Client,
    path: &str,
    mut outcome: Result<()>,
) -> Result<()> {
    loop {
        match outcome {
            Ok(()) | Err(Error::NoNode) => return Ok(()),
            Err(ref e) if transient(e) || *e == Error::SessionExpired => {
                if wait_connected(client).await.is_err() {
                    return Ok(());
                }
                tokio::time::sleep(RETRY_PAUSE).await;
            }
            Err(Error::Closed) | Err(Error::AuthFailed) => return Ok(()),
            Err(e) => return Err(e),
        }
        outcome = client.delete(path, None).await;
    }
}

/// Deletes every sibling under `base` whose name starts with `prefix` (our
/// `<label>-<guid>-`), given a `get_children` already sent. Used when a create may have
/// happened but its reply was never seen.
pub(crate) async fn delete_by_prefix(
    client: &Client,
    base: &str,
    prefix: &str,
    children: impl Future<Output = Result<Vec<String>>>,
) -> Result<()> {
    let children = match children.await {
        Ok(c) => c,
        Err(Error::NoNode) => return Ok(()),
        Err(e) if transient(&e) || e == Error::SessionExpired => {
            if wait_connected(client).await.is_err() {
                return Ok(());
            }
            match retrying(client, || client.get_children(base)).await {
                Ok(c) => c,
                Err(Error::NoNode) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Closed) | Err(Error::AuthFailed) => return Ok(()),
        Err(e) => return Err(e),
    };
    for name in children.iter().filter(|c| c.starts_with(prefix)) {
        delete_retrying(client, &aiozk::path::join(base, name)).await?;
    }
    Ok(())
}

/// Creates the ephemeral sequential node `<base>/<prefix><sequence>` exactly once.
///
/// A plain sequential create is not retried by the client. When its reply is lost with
/// the connection, the node may or may not exist, so we look for our `prefix` (which
/// holds a fresh guid) among the children before creating again. A missing base node is
/// created (persistent) and the create repeated.
///
/// # Errors
/// Lasting errors of the create or the lookups; [`Error::SessionExpired`] when the
/// session expired and the client opens no new one.
pub(crate) async fn create_unique(
    client: &Client,
    base: &str,
    prefix: &str,
    data: &[u8],
) -> Result<(String, Stat)> {
    let path = aiozk::path::join(base, prefix);
    let options = CreateOptions::new().ephemeral().sequential();
    loop {
        match client.create_with(&path, data, &options).await {
            Ok(created) => return Ok(created),
            Err(Error::NoNode) => {
                retrying(client, || client.ensure_path(base)).await?;
            }
            Err(e) if transient(&e) => {
                wait_connected(client).await?;
                if let Some(found) = find_own(client, base, prefix).await? {
                    return Ok(found);
                }
            }
            Err(Error::SessionExpired) => {
                // Whatever was created died with the session; try on the next one.
                wait_connected(client).await?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Looks for our node (name starting with `prefix`) under `base` after an unanswered
/// create. Extra copies, which only a retried create could make, are deleted.
async fn find_own(client: &Client, base: &str, prefix: &str) -> Result<Option<(String, Stat)>> {
    let children = match retrying(client, || client.get_children(base)).await {
        Ok(c) => c,
        Err(Error::NoNode) => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut ours: Vec<Sibling> = sorted_siblings(&children)
        .into_iter()
        .filter(|s| s.name.starts_with(prefix))
        .collect();
    if ours.is_empty() {
        return Ok(None);
    }
    let keep = ours.remove(0);
    for extra in ours {
        delete_retrying(client, &aiozk::path::join(base, &extra.name)).await?;
    }
    let path = aiozk::path::join(base, &keep.name);
    match retrying(client, || client.exists(&path)).await? {
        Some(stat) => Ok(Some((path, stat))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_is_uuid4_hex() {
        let g = new_guid();
        assert_eq!(g.len(), 32);
        assert!(g
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(&g[12..13], "4");
        assert!(matches!(&g[16..17], "8" | "9" | "a" | "b"));
        assert_ne!(new_guid(), g);
    }

    #[test]
    fn siblings_parse_like_aiozk() {
        let s = Sibling::parse("lock-0123abcd-0000000042").unwrap();
        assert_eq!((s.label.as_str(), s.seq), ("lock", 42));
        let s = Sibling::parse("my-read-lock-g-0000000001").unwrap();
        assert_eq!(s.label, "my-read-lock");
        // No dashes: the whole name is the label, as with Python's rsplit.
        assert_eq!(Sibling::parse("0000000007").unwrap().label, "0000000007");
        assert!(Sibling::parse("lock-g-000000001x").is_none());
        assert!(Sibling::parse("short").is_none());
        assert!(Sibling::parse("é000000001").is_none());
        let sorted = sorted_siblings(&[
            "b-g-0000000003".into(),
            "sentinel".into(),
            "a-g-0000000001".into(),
            "c-h-0000000002".into(),
        ]);
        let names: Vec<_> = sorted.iter().map(|s| s.seq).collect();
        assert_eq!(names, [1, 2, 3]);
    }

    #[test]
    fn retries_exhausted_on_connection_loss_is_transient() {
        assert!(transient(&Error::ConnectionLoss));
        assert!(transient(&Error::RetriesExhausted {
            attempts: 3,
            last: Box::new(Error::ConnectionLoss)
        }));
        assert!(!transient(&Error::NoNode));
        assert!(!transient(&Error::SessionExpired));
    }
}
