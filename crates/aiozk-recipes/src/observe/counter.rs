//! `Counter`: a shared number updated with compare-and-set.

use std::fmt::Debug;
use std::sync::Mutex;

use aiozk::{Client, Error, Result, RetryPolicy};

use crate::support::across_expiry::{is_transient, persist, wait_usable};

/// A number a [`Counter`] can hold: decimal text for `i64` and `f64` (aiozk's and kazoo's
/// `Counter`), big-endian bytes for [`Int32Be`] and [`Int64Be`] (Curator's counters).
pub trait CounterValue: Copy + PartialEq + Debug + Send + Sync + 'static {
    /// The value as decimal text (aiozk writes Python's `str(value)`).
    fn encode(self) -> String;
    /// The node's data: by default the text of [`CounterValue::encode`].
    fn to_bytes(self) -> Vec<u8> {
        self.encode().into_bytes()
    }
    /// Parses a node's data; `None` when it is not a number of this type.
    fn decode(data: &[u8]) -> Option<Self>;
    /// `self + by`.
    fn plus(self, by: Self) -> Self;
    /// `self - by`.
    fn minus(self, by: Self) -> Self;
}

impl CounterValue for i64 {
    fn encode(self) -> String {
        self.to_string()
    }

    fn decode(data: &[u8]) -> Option<Self> {
        std::str::from_utf8(data).ok()?.trim().parse().ok()
    }

    fn plus(self, by: Self) -> Self {
        self.wrapping_add(by)
    }

    fn minus(self, by: Self) -> Self {
        self.wrapping_sub(by)
    }
}

impl CounterValue for f64 {
    /// Python's `str(float)` for the usual range: whole numbers keep a `.0` (`2.0`), others
    /// use the shortest text that reads back to the same value.
    fn encode(self) -> String {
        if self.is_finite() && self.fract() == 0.0 && self.abs() < 1e16 {
            format!("{self:.1}")
        } else if self.is_nan() {
            "nan".to_owned()
        } else if self.is_infinite() {
            if self > 0.0 { "inf" } else { "-inf" }.to_owned()
        } else {
            self.to_string()
        }
    }

    fn decode(data: &[u8]) -> Option<Self> {
        std::str::from_utf8(data).ok()?.trim().parse().ok()
    }

    fn plus(self, by: Self) -> Self {
        self + by
    }

    fn minus(self, by: Self) -> Self {
        self - by
    }
}

/// A 32-bit integer stored as 4 big-endian bytes: the node data of Curator's `SharedCount`
/// and of kazoo's `Counter(support_curator=True)`. Empty data reads as 0 (as kazoo).
/// Arithmetic wraps around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Int32Be(pub i32);

/// A 64-bit integer stored as 8 big-endian bytes: the node data of Curator's
/// `DistributedAtomicLong`. Empty data reads as 0. Arithmetic wraps around.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Int64Be(pub i64);

/// The counter arithmetic of a fixed-width big-endian integer value: empty data reads as 0,
/// data of any other length is not a value, and arithmetic wraps around.
macro_rules! big_endian_value {
    ($name:ident, $int:ty) => {
        impl CounterValue for $name {
            fn encode(self) -> String {
                self.0.to_string()
            }

            fn to_bytes(self) -> Vec<u8> {
                self.0.to_be_bytes().to_vec()
            }

            fn decode(data: &[u8]) -> Option<Self> {
                if data.is_empty() {
                    return Some(Self(0));
                }
                Some(Self(<$int>::from_be_bytes(data.try_into().ok()?)))
            }

            fn plus(self, by: Self) -> Self {
                Self(self.0.wrapping_add(by.0))
            }

            fn minus(self, by: Self) -> Self {
                Self(self.0.wrapping_sub(by.0))
            }
        }
    };
}

big_endian_value!(Int32Be, i32);
big_endian_value!(Int64Be, i64);

/// A shared counter (aiozk's `Counter`): an integer (`Counter<i64>`) or a float
/// (`Counter<f64>`) stored in one node as decimal text.
///
/// # Znode layout
/// One persistent node at `path` whose data is the value as text (`"5"`, `"1.5"`, `"2.0"`),
/// readable and writable by aiozk and by kazoo's `Counter`. With [`Int32Be`] values the
/// data is Curator's `SharedCount` (and kazoo's `Counter(support_curator=True)`), with
/// [`Int64Be`] Curator's `DistributedAtomicLong`: every update is a versioned write, as
/// theirs are, so they all count on the same node without losing an update. Missing parents are created by
/// [`start`](Counter::start).
///
/// # Guarantees
/// [`incr`](Counter::incr) and [`decr`](Counter::decr) are atomic read-modify-writes: each
/// writes with the version it read (compare-and-set) and retries on a conflict, so
/// concurrent updates from any number of clients are never lost. [`set`](Counter::set)
/// overwrites unconditionally.
///
/// # Connection loss and session expiry
/// The node is persistent; sessions do not matter. If the connection drops while an
/// update is in flight, its outcome is unknown. The counter then reads the node again
/// (after a `sync`): if the version did not move, the update was not applied and is
/// retried; if it moved, the update may or may not be ours, and
/// [`Error::ConnectionLoss`] is returned rather than risk applying it twice or losing it.
///
/// # Cancellation safety
/// Dropping an update half-way may leave it applied or not.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Counter;
///
/// let hits = Counter::new(&zk, "/counters/hits", 0i64);
/// hits.start().await?;
/// let now = hits.incr(1).await?; // compare-and-set: never counts twice
/// println!("{now} hits");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Counter<T: CounterValue = i64> {
    client: Client,
    path: String,
    default: T,
    /// The value and version last read or written.
    cached: Mutex<Option<(T, i32)>>,
}

impl<T: CounterValue> Counter<T> {
    /// A counter at `path` that starts at `default` if the node does not exist yet.
    pub fn new(client: &Client, path: &str, default: T) -> Self {
        Self {
            client: client.clone(),
            path: path.to_owned(),
            default,
            cached: Mutex::new(None),
        }
    }

    /// The counter's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The value last read or written by this instance (aiozk's `value`), `None` before
    /// the first.
    pub fn value(&self) -> Option<T> {
        self.cached().map(|(v, _)| v)
    }

    fn cached(&self) -> Option<(T, i32)> {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn remember(&self, value: T, version: i32) {
        *self.cached.lock().unwrap_or_else(|e| e.into_inner()) = Some((value, version));
    }

    /// Creates the node with the default value if it does not exist (and missing
    /// parents), otherwise reads it. Returns the current value.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when the node holds something that is not a number of
    /// this type; [`Error::NoAuth`]; errors that end the session.
    pub async fn start(&self) -> Result<T> {
        if let Some(parent) = aiozk::path::parent(&self.path) {
            persist(&self.client, || self.client.ensure_path(parent)).await?;
        }
        let data = self.default.to_bytes();
        match self.client.create(&self.path, &data).await {
            Ok((_, stat)) => {
                self.remember(self.default, stat.version);
                Ok(self.default)
            }
            Err(Error::NodeExists) => self.get().await,
            Err(e) => Err(e),
        }
    }

    /// Reads the current value from the server (aiozk's `get_value`).
    ///
    /// # Errors
    /// [`Error::NoNode`]; [`Error::InvalidArgument`] for data that is not a number.
    pub async fn get(&self) -> Result<T> {
        let (data, stat) = persist(&self.client, || self.client.get_data(&self.path)).await?;
        let value = T::decode(&data).ok_or_else(|| self.not_a_number(&data))?;
        self.remember(value, stat.version);
        Ok(value)
    }

    fn not_a_number(&self, data: &[u8]) -> Error {
        Error::InvalidArgument(format!(
            "counter {} holds {:?}, not a number of the counter's type",
            self.path,
            String::from_utf8_lossy(data)
        ))
    }

    /// Sets the value unconditionally (aiozk's `set_value(value, force=True)`).
    ///
    /// # Errors
    /// [`Error::NoNode`] when the counter was never started; errors that end the session.
    pub async fn set(&self, value: T) -> Result<()> {
        let stat = self
            .client
            .set_data(&self.path, &value.to_bytes(), None)
            .await?;
        self.remember(value, stat.version);
        Ok(())
    }

    /// Adds `by` atomically and returns the new value.
    ///
    /// # Errors
    /// [`Error::ConnectionLoss`] when the connection dropped during the write and the
    /// outcome cannot be told (see the type's documentation); [`Error::NoNode`] when the
    /// node was deleted; [`Error::InvalidArgument`] for data that is not a number.
    pub async fn incr(&self, by: T) -> Result<T> {
        self.apply(|v| v.plus(by)).await
    }

    /// Subtracts `by` atomically and returns the new value.
    ///
    /// # Errors
    /// As for [`Counter::incr`].
    pub async fn decr(&self, by: T) -> Result<T> {
        self.apply(|v| v.minus(by)).await
    }

    async fn apply(&self, op: impl Fn(T) -> T) -> Result<T> {
        // Versioned writes are not retried by the client here: a retry after a lost reply
        // could fail with BadVersion although the first attempt was applied.
        let once = self.client.with_retry(RetryPolicy::once());
        let (mut value, mut version) = match self.cached() {
            Some(c) => c,
            None => {
                self.start().await?;
                self.cached().ok_or(Error::NoNode)?
            }
        };
        loop {
            let new = op(value);
            let expected = (!crate::mutant("counter-no-version")).then_some(version);
            match once.set_data(&self.path, &new.to_bytes(), expected).await {
                Ok(stat) => {
                    self.remember(new, stat.version);
                    return Ok(new);
                }
                Err(Error::BadVersion) => {
                    value = self.get().await?;
                    version = self.cached().map_or(version, |(_, v)| v);
                }
                Err(e) if is_transient(&e) => {
                    wait_usable(&self.client).await?;
                    persist(&self.client, || self.client.sync(&self.path)).await?;
                    let current = self.get().await?;
                    let now = self.cached().map_or(version, |(_, v)| v);
                    if now != version && !crate::mutant("counter-blind-retry") {
                        return Err(Error::ConnectionLoss);
                    }
                    value = current;
                    version = now;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_like_curator() {
        assert_eq!(Int32Be(258).to_bytes(), [0, 0, 1, 2]);
        assert_eq!(Int32Be(-1).to_bytes(), [0xff; 4]);
        assert_eq!(Int64Be(258).to_bytes(), [0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(Int32Be::decode(&[0, 0, 1, 2]), Some(Int32Be(258)));
        assert_eq!(Int32Be::decode(b""), Some(Int32Be(0)));
        assert_eq!(Int32Be::decode(b"12"), None);
        assert_eq!(
            Int64Be::decode(&[0, 0, 0, 0, 0, 0, 1, 2]),
            Some(Int64Be(258))
        );
        assert_eq!(Int64Be::decode(&[1, 2, 3, 4]), None);
        assert_eq!(Int32Be(i32::MAX).plus(Int32Be(1)), Int32Be(i32::MIN));
        assert_eq!(5i64.to_bytes(), b"5");
    }

    #[test]
    fn text_like_python() {
        assert_eq!(5i64.encode(), "5");
        assert_eq!(2.0f64.encode(), "2.0");
        assert_eq!(1.5f64.encode(), "1.5");
        assert_eq!((-0.25f64).encode(), "-0.25");
        assert_eq!(i64::decode(b"42"), Some(42));
        assert_eq!(i64::decode(b"4.5"), None);
        assert_eq!(f64::decode(b"4"), Some(4.0));
        assert_eq!(f64::decode(b"1.5"), Some(1.5));
        assert_eq!(f64::decode(b"x"), None);
    }
}
