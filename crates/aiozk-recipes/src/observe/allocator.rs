//! `Allocator`: spreads a shared set of items over the members of a party.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use aiozk::path::join;
use aiozk::{Client, Error, Result};
use tokio::sync::watch;

use super::json_list::{decode_list, encode_list};
use super::party::Party;
use super::watchers::{DataWatcher, WatcherOptions};
use crate::support::across_expiry::persist;
use crate::support::task::TaskGuard;

/// Who gets which items: member name → its items.
pub type Allocation = BTreeMap<String, BTreeSet<String>>;

/// Decides which member gets which item. It must be deterministic: every member computes
/// the allocation on its own from the same inputs and must reach the same result.
pub trait AllocationStrategy: Send + Sync + Debug + 'static {
    /// Assigns every item in `items` to exactly one of `members`. Both are sorted and
    /// without duplicates; `members` is never empty.
    fn allocate(&self, members: &[String], items: &[String]) -> Allocation;
}

/// aiozk's `round_robin`: items in order are dealt to the members in order, so counts
/// differ by at most one. Many items move when membership changes.
///
/// # Examples
/// ```
/// use aiozk_recipes::{AllocationStrategy, RoundRobin};
///
/// let members = ["a".to_owned(), "b".to_owned()];
/// let items = ["1".to_owned(), "2".to_owned(), "3".to_owned()];
/// let allocation = RoundRobin.allocate(&members, &items);
/// assert_eq!(allocation["a"].len(), 2);
/// assert_eq!(allocation["b"].len(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundRobin;

impl AllocationStrategy for RoundRobin {
    fn allocate(&self, members: &[String], items: &[String]) -> Allocation {
        let mut out = Allocation::new();
        for (member, item) in members.iter().cycle().zip(items) {
            out.entry(member.clone()).or_default().insert(item.clone());
        }
        out
    }
}

/// Rendezvous (highest random weight) hashing: each item goes to the member with the
/// highest hash of (member, item). When a member joins or leaves, only the items it gains
/// or loses move; counts are balanced only statistically.
///
/// # Examples
/// ```
/// use aiozk_recipes::{AllocationStrategy, RendezvousHash};
///
/// let items: Vec<String> = (0..100).map(|i| format!("item-{i}")).collect();
/// let two = RendezvousHash.allocate(&["a".into(), "b".into()], &items);
/// let three = RendezvousHash.allocate(&["a".into(), "b".into(), "c".into()], &items);
/// // A new member takes items from the others; no item moves between those two.
/// for item in &two["a"] {
///     assert!(three["a"].contains(item) || three["c"].contains(item));
/// }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RendezvousHash;

impl AllocationStrategy for RendezvousHash {
    fn allocate(&self, members: &[String], items: &[String]) -> Allocation {
        let mut out = Allocation::new();
        for item in items {
            let best = members
                .iter()
                .max_by_key(|m| (weight(m, item), m.as_str()))
                .cloned();
            if let Some(member) = best {
                out.entry(member).or_default().insert(item.clone());
            }
        }
        out
    }
}

/// A stable 64-bit hash of (member, item): FNV-1a, then a SplitMix64 finaliser. The same
/// in every process and Rust version (unlike `std`'s hasher).
fn weight(member: &str, item: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in member.bytes().chain([0xff]).chain(item.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

/// The allocator's view: what it computed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct View {
    items: BTreeSet<String>,
    members: Vec<String>,
    allocation: Allocation,
}

/// Spreads a shared set of items (work units, partitions, …) over the members of a party,
/// and rebalances when members come and go or the set changes (aiozk's `Allocator`, which
/// is broken in aiozk itself).
///
/// # Znode layout
/// * `<base>`: persistent; its data is the item set as a JSON array of strings (aiozk's
///   layout: `["a", "b"]`).
/// * `<base>/members`: a [`Party`] of the allocators (`<name>-<guid>-<sequence>`,
///   ephemeral).
///
/// aiozk also used a lock at `<base>/lock` to serialise updates of the set; this allocator
/// uses compare-and-set on the base node's version instead and creates no lock node.
///
/// # Guarantees
/// Every member computes the allocation itself from the member names (sorted, duplicates
/// merged: give members distinct names) and the item set, with the same
/// [`AllocationStrategy`]; so once every member has seen the same membership and set, each
/// item belongs to exactly one member. While changes propagate, views can differ for a
/// moment and an item may be claimed by two members or by none: use a lock per item when
/// that matters.
///
/// [`add`](Allocator::add), [`remove`](Allocator::remove) and
/// [`update`](Allocator::update) are atomic (compare-and-set, retried on conflict) and
/// idempotent.
///
/// # Connection loss and session expiry
/// Both the set and the membership are re-read after every reconnect. After a session
/// expiry the member node is re-created in the new session (see [`Party`]); meanwhile the
/// other members give its items to others.
///
/// # Examples
/// ```no_run
/// # async fn example(zk: aiozk::Client) -> aiozk::Result<()> {
/// use aiozk_recipes::Allocator;
///
/// // Share the shards among the running workers; each worker sees its own share.
/// let allocator = Allocator::new(&zk, "/allocators/shards", "worker-1")?;
/// allocator.start().await?;
/// allocator.update(["shard-a", "shard-b", "shard-c"]).await?;
/// println!("mine: {:?}", allocator.allocation());
/// let mine = allocator.wait_for_change().await?; // after a member joins or leaves
/// println!("mine now: {mine:?}");
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Allocator {
    client: Client,
    base: String,
    party: Party,
    strategy: Arc<dyn AllocationStrategy>,
    view: Arc<watch::Sender<View>>,
    task: Mutex<Option<TaskGuard>>,
}

impl Allocator {
    /// An allocator member called `name` with the [`RoundRobin`] strategy.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a name that is empty or contains `/`.
    pub fn new(client: &Client, base_path: &str, name: &str) -> Result<Self> {
        Self::with_strategy(client, base_path, name, RoundRobin)
    }

    /// An allocator member called `name` using `strategy`.
    ///
    /// # Errors
    /// As for [`Allocator::new`].
    pub fn with_strategy(
        client: &Client,
        base_path: &str,
        name: &str,
        strategy: impl AllocationStrategy,
    ) -> Result<Self> {
        Ok(Self {
            client: client.clone(),
            base: base_path.to_owned(),
            party: Party::new(client, &join(base_path, "members"), name)?,
            strategy: Arc::new(strategy),
            view: Arc::new(watch::channel(View::default()).0),
            task: Mutex::new(None),
        })
    }

    /// This member's name.
    pub fn name(&self) -> &str {
        self.party.name()
    }

    /// The base path.
    pub fn base_path(&self) -> &str {
        &self.base
    }

    /// Joins and computes the first allocation; from then on it follows changes. Must be
    /// called within a tokio runtime.
    ///
    /// # Errors
    /// [`Error::NoAuth`]; errors that end the session.
    pub async fn start(&self) -> Result<()> {
        persist(&self.client, || self.client.ensure_path(&self.base)).await?;
        let mut items = DataWatcher::with_options(
            &self.client,
            &self.base,
            WatcherOptions {
                wait_for_create: true,
            },
        );
        self.party.join().await?;
        let mut members = self.party.members_watch()?;
        let first = items.next().await.ok_or(Error::Closed)??;
        let mut set = parse_items(first.data.as_deref());
        recompute(
            &self.view,
            &*self.strategy,
            &set,
            &members.borrow_and_update(),
        );
        let view = self.view.clone();
        let strategy = self.strategy.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    next = items.next() => match next {
                        Some(Ok(state)) => set = parse_items(state.data.as_deref()),
                        // The watcher reports errors that end it.
                        Some(Err(_)) | None => return,
                    },
                    changed = members.changed() => if changed.is_err() { return },
                }
                let names = members.borrow_and_update().clone();
                recompute(&view, &*strategy, &set, &names);
            }
        });
        *self.task.lock().unwrap_or_else(|e| e.into_inner()) = Some(TaskGuard(task));
        Ok(())
    }

    /// Stops following and leaves the party; the others take over this member's items.
    ///
    /// # Errors
    /// Errors that end the session.
    pub async fn stop(&self) -> Result<()> {
        drop(self.task.lock().unwrap_or_else(|e| e.into_inner()).take());
        self.party.leave().await
    }

    /// The items allocated to this member.
    pub fn allocation(&self) -> BTreeSet<String> {
        self.view
            .borrow()
            .allocation
            .get(self.name())
            .cloned()
            .unwrap_or_default()
    }

    /// The whole allocation as this member sees it.
    pub fn full_allocation(&self) -> Allocation {
        self.view.borrow().allocation.clone()
    }

    /// The item set as last read.
    pub fn items(&self) -> BTreeSet<String> {
        self.view.borrow().items.clone()
    }

    /// The member names the allocation was computed for.
    pub fn members(&self) -> Vec<String> {
        self.view.borrow().members.clone()
    }

    /// Waits until this member's allocation changes and returns it.
    ///
    /// # Errors
    /// [`Error::Closed`] when the allocator stopped.
    ///
    /// # Cancellation safety
    /// Cancel safe.
    pub async fn wait_for_change(&self) -> Result<BTreeSet<String>> {
        let mut rx = self.view.subscribe();
        let before = self.allocation();
        loop {
            rx.changed().await.map_err(|_| Error::Closed)?;
            let now = self.allocation();
            if now != before {
                return Ok(now);
            }
        }
    }

    /// Adds an item to the set.
    ///
    /// # Errors
    /// [`Error::NoAuth`]; errors that end the session.
    pub async fn add(&self, item: &str) -> Result<()> {
        self.modify(|set| {
            set.insert(item.to_owned());
        })
        .await
    }

    /// Removes an item from the set.
    ///
    /// # Errors
    /// As for [`Allocator::add`].
    pub async fn remove(&self, item: &str) -> Result<()> {
        self.modify(|set| {
            set.remove(item);
        })
        .await
    }

    /// Replaces the whole set.
    ///
    /// # Errors
    /// As for [`Allocator::add`].
    pub async fn update<I, S>(&self, items: I) -> Result<()>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let new: BTreeSet<String> = items.into_iter().map(Into::into).collect();
        self.modify(|set| *set = new.clone()).await
    }

    /// Compare-and-set loop on the base node's data.
    async fn modify(&self, change: impl Fn(&mut BTreeSet<String>)) -> Result<()> {
        let client = &self.client;
        loop {
            let (data, stat) = match persist(client, || client.get_data(&self.base)).await {
                Ok(v) => v,
                Err(Error::NoNode) => {
                    persist(client, || client.ensure_path(&self.base)).await?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let old = parse_items(Some(&data));
            let mut new = old.clone();
            change(&mut new);
            if new == old && !data.is_empty() {
                return Ok(());
            }
            let text = encode_list(&new);
            match persist(client, || {
                client.set_data(&self.base, text.as_bytes(), Some(stat.version))
            })
            .await
            {
                // A BadVersion after a lost reply may be our own write: the next round
                // sees the change already made and stops.
                Ok(_) => return Ok(()),
                Err(Error::BadVersion) => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// The item set in a base node's data (empty when missing or not a JSON list).
fn parse_items(data: Option<&[u8]>) -> BTreeSet<String> {
    let Some(data) = data.filter(|d| !d.is_empty()) else {
        return BTreeSet::new();
    };
    match std::str::from_utf8(data).ok().and_then(decode_list) {
        Some(items) => items.into_iter().collect(),
        None => {
            tracing::warn!("allocator item set is not a JSON list of strings; treating as empty");
            BTreeSet::new()
        }
    }
}

fn recompute(
    view: &watch::Sender<View>,
    strategy: &dyn AllocationStrategy,
    items: &BTreeSet<String>,
    members: &[String],
) {
    let names: BTreeSet<String> = members.iter().cloned().collect();
    let names: Vec<String> = names.into_iter().collect();
    let list: Vec<String> = items.iter().cloned().collect();
    let allocation = if names.is_empty() {
        Allocation::new()
    } else {
        strategy.allocate(&names, &list)
    };
    let next = View {
        items: items.clone(),
        members: names,
        allocation,
    };
    view.send_if_modified(|v| {
        if *v == next {
            false
        } else {
            *v = next;
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    fn check_partition(a: &Allocation, items: &[String]) {
        let mut all: Vec<&String> = a.values().flatten().collect();
        all.sort();
        let mut want: Vec<&String> = items.iter().collect();
        want.sort();
        assert_eq!(all, want, "every item exactly once");
    }

    #[test]
    fn round_robin_deals_evenly() {
        let members = strings(&["a", "b", "c"]);
        let items: Vec<String> = (0..10).map(|i| format!("i{i}")).collect();
        let a = RoundRobin.allocate(&members, &items);
        check_partition(&a, &items);
        let sizes: Vec<usize> = a.values().map(BTreeSet::len).collect();
        assert_eq!(sizes, vec![4, 3, 3]);
    }

    #[test]
    fn rendezvous_moves_little() {
        let items: Vec<String> = (0..1000).map(|i| format!("item{i}")).collect();
        let three = strings(&["a", "b", "c"]);
        let four = strings(&["a", "b", "c", "d"]);
        let before = RendezvousHash.allocate(&three, &items);
        let after = RendezvousHash.allocate(&four, &items);
        check_partition(&before, &items);
        check_partition(&after, &items);
        // Only items that went to the new member moved.
        for m in &three {
            assert!(after[m].is_subset(&before[m]));
        }
        let d = after["d"].len();
        assert!((150..350).contains(&d), "new member got {d} of 1000");
    }
}
