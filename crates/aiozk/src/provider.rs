//! The host provider: which server the next connection attempt goes to, and whether a new
//! server list is a reason to move. No IO and no clock; randomness comes from a seed, so
//! tests replay every decision.
//!
//! Servers are shuffled once and then tried round-robin, so clients spread over the
//! ensemble. When the list is replaced ([`HostProvider::update`]) the client keeps its
//! connection unless moving is needed to even out the load, following the probabilistic
//! scheme of ZOOKEEPER-1355:
//!
//! * the ensemble grows and the current server stays: move, with probability
//!   `1 - old_size / new_size`, to one of the servers that were not in the old list;
//! * the current server is gone: move, to a new server when the ensemble grows, otherwise to
//!   a server of the old list with probability
//!   `p_old = kept * (old_size - new_size) / (new_size * (old_size - kept))` (`kept`: servers
//!   of the new list that were in the old one) and to a new server with `1 - p_old`;
//! * the ensemble shrinks or keeps its size and the current server stays: stay.
//!
//! After a decision to move, attempts go first to the chosen group, then to the other, then
//! round-robin over the whole list as usual; the first successful connection ends the
//! rebalancing.
//!
//! # Randomness
//! Each draw is uniform on its own, so every client is fair in expectation. The clients of
//! one process also share a seed and take ordinals 0, 1, 2, ...: draw number `j` of client
//! `k` is `frac(base_j + k * φ)` with `base_j` random per seed and draw number, a
//! low-discrepancy sequence over the clients. A hundred clients of one process then split
//! over the servers almost exactly as the probabilities say, instead of with the spread of
//! independent coin flips, as long as they make the same decisions in the same order.

use crate::hosts::HostPort;

/// Where the next connection attempts go. See the module documentation.
#[derive(Debug)]
pub(crate) struct HostProvider {
    hosts: Vec<HostPort>,
    /// The host of the latest attempt, as an index into `hosts`.
    index: Option<usize>,
    /// Set by an update that decided to move, until a connection succeeds.
    rebalance: Option<Rebalance>,
    draws: Draws,
}

/// Where the provider's randomness comes from (see the module documentation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Draws {
    /// Shared by the clients of a process.
    pub(crate) seed: u64,
    /// This client's position among them.
    pub(crate) ordinal: u64,
    /// Draws taken so far.
    taken: u64,
}

impl Draws {
    /// Draws for client `ordinal` of the clients sharing `seed`.
    pub(crate) fn new(seed: u64, ordinal: u64) -> Self {
        Self {
            seed,
            ordinal,
            taken: 0,
        }
    }

    /// The next draw, uniform on [0, 1).
    fn next(&mut self) -> f64 {
        let j = self.taken;
        self.taken += 1;
        let base = splitmix64(self.seed ^ splitmix64(j));
        let x = base.wrapping_add(self.ordinal.wrapping_mul(weyl_step(self.seed, j)));
        (x >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The Weyl step of draw number `j`, as a fraction of 2^64: the fractional part of the
/// square root of the `j`-th prime for the first draws (steps that are rationally
/// independent, so that the draws of a client are spread independently over the clients),
/// an odd random step after them.
fn weyl_step(seed: u64, j: u64) -> u64 {
    const PRIMES: [u32; 24] = [
        2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89,
    ];
    match PRIMES.get(j as usize) {
        Some(&p) => {
            let root = f64::from(p).sqrt();
            ((root - root.floor()) * 18_446_744_073_709_551_616.0) as u64 | 1
        }
        None => splitmix64(seed.rotate_left(32) ^ j) | 1,
    }
}

/// One step of splitmix64: a well-mixed function of `x`.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A move decided by [`HostProvider::update`].
#[derive(Debug)]
struct Rebalance {
    /// Servers of the new list that were not in the old one.
    fresh: Vec<HostPort>,
    /// Servers of the new list that were in the old one.
    kept: Vec<HostPort>,
    /// The probability that an attempt picks a fresh server.
    p_fresh: f64,
    /// The draws of the first attempt (taken by the update, so that every client takes
    /// the same number of draws whatever it decides): the group, the server in it.
    first: Option<(f64, f64)>,
    tried_fresh: usize,
    tried_kept: usize,
}

/// True when `a` and `b` name the same server (the scheme does not count; host names
/// compare without regard to case).
fn same_server(a: &HostPort, b: &HostPort) -> bool {
    a.port == b.port && a.host.eq_ignore_ascii_case(&b.host)
}

impl HostProvider {
    /// A provider over `hosts` (not empty), shuffled with randomness from `draws`.
    pub(crate) fn new(hosts: Vec<HostPort>, draws: Draws) -> Self {
        let mut provider = Self {
            hosts,
            index: None,
            rebalance: None,
            draws,
        };
        let mut hosts = std::mem::take(&mut provider.hosts);
        provider.shuffle(&mut hosts);
        provider.hosts = hosts;
        provider
    }

    /// The servers, in the order they are tried.
    pub(crate) fn hosts(&self) -> &[HostPort] {
        &self.hosts
    }

    /// The number of servers.
    pub(crate) fn len(&self) -> usize {
        self.hosts.len()
    }

    /// The host of the latest attempt, if any.
    pub(crate) fn current(&self) -> Option<&HostPort> {
        self.index.and_then(|i| self.hosts.get(i))
    }

    /// The index in [`HostProvider::hosts`] of the latest attempt's host.
    pub(crate) fn current_index(&self) -> Option<usize> {
        self.index
    }

    /// True while a move decided by [`HostProvider::update`] has not yet connected.
    #[cfg(test)]
    pub(crate) fn rebalancing(&self) -> bool {
        self.rebalance.is_some()
    }

    /// The server to try next.
    pub(crate) fn next(&mut self) -> HostPort {
        if let Some(host) = self.next_rebalancing() {
            self.index = self.hosts.iter().position(|h| same_server(h, &host));
            return host;
        }
        let len = self.hosts.len().max(1);
        let i = self.index.map_or(0, |i| (i + 1) % len);
        self.index = Some(i);
        self.hosts[i % self.hosts.len()].clone()
    }

    fn next_rebalancing(&mut self) -> Option<HostPort> {
        let first = self.rebalance.as_mut()?.first.take();
        let (group, pick) = match first {
            Some(draws) => draws,
            None => (self.unit(), self.unit()),
        };
        let r = self.rebalance.as_mut()?;
        let fresh_left = r.tried_fresh < r.fresh.len();
        let kept_left = r.tried_kept < r.kept.len();
        // Untried servers of a group are those from `tried` on; the pick is swapped there.
        let take = |list: &mut Vec<HostPort>, tried: &mut usize| {
            let left = list.len() - *tried;
            let i = *tried + ((pick * left as f64) as usize).min(left - 1);
            list.swap(*tried, i);
            *tried += 1;
            list[*tried - 1].clone()
        };
        if fresh_left && (group < r.p_fresh || !kept_left) {
            return Some(take(&mut r.fresh, &mut r.tried_fresh));
        }
        if kept_left {
            return Some(take(&mut r.kept, &mut r.tried_kept));
        }
        // Every server of the new list was tried: back to round-robin.
        self.rebalance = None;
        None
    }

    /// The next attempt goes to `hosts()[index]` (a server found to be read-write while
    /// connected to a read-only one).
    pub(crate) fn prefer(&mut self, index: usize) {
        let len = self.hosts.len();
        if index < len {
            self.rebalance = None;
            self.index = Some((index + len - 1) % len);
        }
    }

    /// A connection succeeded: any rebalancing is over.
    pub(crate) fn on_connected(&mut self) {
        self.rebalance = None;
    }

    /// Replaces the server list with `hosts` (not empty). `connected` is the server of the
    /// current connection, if any; without one, the server of the latest attempt stands for
    /// it. Returns true when the client should drop its connection and move (see the module
    /// documentation); the following [`HostProvider::next`] calls then choose where.
    pub(crate) fn update(&mut self, hosts: Vec<HostPort>, connected: Option<&HostPort>) -> bool {
        let mut hosts = hosts;
        if hosts.is_empty() {
            return false;
        }
        self.shuffle(&mut hosts);
        let mine = connected
            .or_else(|| self.current())
            .or_else(|| self.hosts.first())
            .cloned();
        let mine_stays = mine
            .as_ref()
            .is_some_and(|m| hosts.iter().any(|h| same_server(h, m)));
        let (mut kept, mut fresh): (Vec<HostPort>, Vec<HostPort>) = hosts
            .iter()
            .cloned()
            .partition(|h| self.hosts.iter().any(|o| same_server(o, h)));
        // In a fixed order: the pick alone chooses, so that it spreads over the clients.
        let order = |a: &HostPort, b: &HostPort| (&a.host, a.port).cmp(&(&b.host, b.port));
        kept.sort_by(order);
        fresh.sort_by(order);
        let old_len = self.hosts.len() as f64;
        let new_len = hosts.len() as f64;
        // Always three draws: whether to move, and the first attempt's group and server.
        let decide = self.unit();
        let first = (self.unit(), self.unit());
        let p_fresh = if new_len > old_len {
            if mine_stays {
                let p_move = 1.0 - old_len / new_len;
                if decide < p_move {
                    Some(1.0)
                } else {
                    None
                }
            } else {
                Some(1.0)
            }
        } else if mine_stays {
            None
        } else {
            let kept_len = kept.len() as f64;
            let denominator = new_len * (old_len - kept_len);
            let p_kept = if denominator > 0.0 {
                kept_len * (old_len - new_len) / denominator
            } else {
                kept_len / new_len
            };
            Some(1.0 - p_kept)
        };
        self.index = mine
            .as_ref()
            .and_then(|m| hosts.iter().position(|h| same_server(h, m)));
        self.hosts = hosts;
        self.rebalance = p_fresh.map(|p_fresh| Rebalance {
            fresh,
            kept,
            p_fresh,
            first: Some(first),
            tried_fresh: 0,
            tried_kept: 0,
        });
        if self.rebalance.is_some() {
            self.index = None;
        }
        self.rebalance.is_some()
    }

    /// A uniform draw from [0, 1).
    fn unit(&mut self) -> f64 {
        self.draws.next()
    }

    /// Fisher–Yates, from the front: the first position is drawn first, so that it is the
    /// best spread over the clients of a process.
    fn shuffle(&mut self, hosts: &mut [HostPort]) {
        let len = hosts.len();
        for i in 0..len.saturating_sub(1) {
            let left = len - i;
            let pick = ((self.unit() * left as f64) as usize).min(left - 1);
            hosts.swap(i, i + pick);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Client `k` of a process, or, with `INDEPENDENT`, a client of a process of its own.
    fn draws(k: u64) -> Draws {
        if INDEPENDENT.with(|i| i.get()) {
            Draws::new(k.wrapping_mul(7919) + 1, 0)
        } else {
            Draws::new(0xfeed, k)
        }
    }

    thread_local! {
        static INDEPENDENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    fn servers(ports: std::ops::Range<u16>) -> Vec<HostPort> {
        ports.map(|p| HostPort::new("10.0.0.1", p)).collect()
    }

    /// `clients` providers over `old`, each connected to the server it tried first, then
    /// updated to `new`; returns how many end up on each port of `new`, and how many moved.
    fn simulate(
        clients: u64,
        old: std::ops::Range<u16>,
        new: std::ops::Range<u16>,
    ) -> (std::collections::BTreeMap<u16, u64>, u64) {
        let mut load = std::collections::BTreeMap::new();
        let mut moved = 0;
        for seed in 0..clients {
            let mut p = HostProvider::new(servers(old.clone()), draws(seed));
            let first = p.next();
            p.on_connected();
            let mut on = first.clone();
            if p.update(servers(new.clone()), Some(&first)) {
                moved += 1;
                on = p.next();
                p.on_connected();
            }
            assert!(new.contains(&on.port), "{on} is not in the new list");
            *load.entry(on.port).or_insert(0) += 1;
        }
        (load, moved)
    }

    fn assert_even(load: &std::collections::BTreeMap<u16, u64>, clients: u64, servers: u64) {
        assert_within(load, clients, servers, 0.1);
    }

    fn assert_within(
        load: &std::collections::BTreeMap<u16, u64>,
        clients: u64,
        servers: u64,
        tolerance: f64,
    ) {
        let share = clients as f64 / servers as f64;
        assert_eq!(load.len() as u64, servers, "{load:?}");
        for (port, n) in load {
            let off = (*n as f64 - share).abs() / share;
            assert!(
                off <= tolerance,
                "server {port} has {n}, even share {share}: {load:?}"
            );
        }
    }

    #[test]
    fn independent_clients_are_fair_in_expectation() {
        INDEPENDENT.with(|i| i.set(true));
        let (load, moved) = simulate(20_000, 1..4, 1..6);
        assert!((7_400..8_600).contains(&moved), "moved {moved}");
        assert_even(&load, 20_000, 5);
        let (load, _) = simulate(20_000, 1..7, 4..8);
        assert_even(&load, 20_000, 4);
        INDEPENDENT.with(|i| i.set(false));
    }

    #[test]
    fn the_clients_of_a_process_split_almost_exactly() {
        // 100 clients of one process: 3 -> 5 -> 3 servers.
        for seed in 0..50 {
            let mut start = std::collections::BTreeMap::new();
            let mut grown = std::collections::BTreeMap::new();
            let mut load = std::collections::BTreeMap::new();
            for k in 0..100 {
                let mut p = HostProvider::new(servers(1..4), Draws::new(seed, k));
                let mut on = p.next();
                p.on_connected();
                *start.entry(on.port).or_insert(0) += 1;
                if p.update(servers(1..6), Some(&on)) {
                    on = p.next();
                    p.on_connected();
                }
                *grown.entry(on.port).or_insert(0) += 1;
                if p.update(servers(1..4), Some(&on)) {
                    on = p.next();
                    p.on_connected();
                }
                *load.entry(on.port).or_insert(0) += 1;
            }
            assert_within(&start, 100, 3, 0.07);
            assert_within(&grown, 100, 5, 0.2);
            assert_within(&load, 100, 3, 0.15);
        }
    }

    #[test]
    fn round_robin_from_a_shuffled_list() {
        let mut p = HostProvider::new(servers(1..4), Draws::new(42, 0));
        let round: Vec<u16> = (0..3).map(|_| p.next().port).collect();
        let again: Vec<u16> = (0..3).map(|_| p.next().port).collect();
        assert_eq!(round, again);
        let mut sorted = round.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 2, 3]);
        // Different seeds give different orders for some seed.
        let orders: std::collections::HashSet<Vec<u16>> = (0..20)
            .map(|s| {
                let mut p = HostProvider::new(servers(1..4), Draws::new(s, 0));
                (0..3).map(|_| p.next().port).collect()
            })
            .collect();
        assert!(orders.len() > 1);
    }

    #[test]
    fn same_list_keeps_the_connection() {
        let mut p = HostProvider::new(servers(1..4), Draws::new(5, 0));
        let on = p.next();
        p.on_connected();
        let mut reordered = servers(1..4);
        reordered.reverse();
        assert!(!p.update(reordered, Some(&on)));
        assert_eq!(p.current(), Some(&on));
    }

    #[test]
    fn growing_moves_a_fair_share_to_the_new_servers() {
        // 3 -> 5: two fifths move, and only to the two new servers.
        let (load, moved) = simulate(10_000, 1..4, 1..6);
        assert!((3_700..4_300).contains(&moved), "moved {moved}");
        assert_even(&load, 10_000, 5);
    }

    #[test]
    fn shrinking_moves_only_the_clients_of_removed_servers() {
        // 5 -> 3: the clients of the two removed servers move, spread over the three left.
        let (load, moved) = simulate(10_000, 1..6, 1..4);
        assert!((3_700..4_300).contains(&moved), "moved {moved}");
        assert_even(&load, 10_000, 3);
    }

    #[test]
    fn replacing_servers_evens_out_over_old_and_new() {
        // {1..5} -> {3..7}: servers 1 and 2 go, 6 and 7 come.
        let (load, _) = simulate(20_000, 1..6, 3..8);
        assert_even(&load, 20_000, 5);
        // Shrinking while replacing: {1..6} -> {4..8}.
        let (load, _) = simulate(20_000, 1..7, 4..8);
        assert_even(&load, 20_000, 4);
    }

    #[test]
    fn a_failed_move_tries_the_other_group_then_round_robin() {
        // Current server 1 of {1,2} is removed; the new list is {2,3}.
        let mut p = HostProvider::new(servers(1..3), Draws::new(3, 0));
        let on = HostPort::new("10.0.0.1", 1);
        assert!(p.update(servers(2..4), Some(&on)));
        assert!(p.rebalancing());
        let a = p.next().port;
        let b = p.next().port;
        let mut tried = vec![a, b];
        tried.sort_unstable();
        assert_eq!(tried, vec![2, 3], "each server once");
        // Both failed: round-robin over the list.
        let c = p.next().port;
        assert!(!p.rebalancing());
        assert!([2, 3].contains(&c));
        let d = p.next().port;
        assert_ne!(c, d);
    }

    #[test]
    fn update_while_disconnected_uses_the_latest_attempt() {
        let mut p = HostProvider::new(servers(1..4), Draws::new(9, 0));
        let tried = p.next();
        let without: Vec<HostPort> = servers(1..4)
            .into_iter()
            .filter(|h| h.port != tried.port)
            .collect();
        assert!(
            p.update(without, None),
            "the latest attempt's server was removed"
        );
        assert_ne!(p.next().port, tried.port);
    }

    #[test]
    fn the_scheme_and_case_do_not_make_another_server() {
        let mut p = HostProvider::new(vec![HostPort::new("ZK1", 2181)], Draws::new(1, 0));
        let on = p.next();
        let mut tls = HostPort::new("zk1", 2181);
        tls.tls = true;
        assert!(!p.update(vec![tls.clone()], Some(&on)));
        assert_eq!(p.next(), tls, "the new entry (with its scheme) is used");
    }

    #[test]
    fn prefer_sends_the_next_attempt_there() {
        let mut p = HostProvider::new(servers(1..6), Draws::new(11, 0));
        let wanted = p.hosts()[3].clone();
        p.prefer(3);
        assert_eq!(p.next(), wanted);
        assert_eq!(p.current_index(), Some(3));
    }
}
