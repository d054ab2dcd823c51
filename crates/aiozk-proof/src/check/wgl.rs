//! A linearizability search in the style of Wing and Gong with Lowe's memoisation (as in
//! Knossos and Porcupine), written here for two reasons: the histories have operations
//! whose outcome is unknown (a call may have taken effect at any time after it was
//! invoked, or never), which the search below handles directly, and the models are tiny
//! (a versioned register), so a page of code is easier to trust than a dependency.
//!
//! The search walks the calls and returns in time order. At a call it tries to linearize
//! that operation now (the model must accept it in the current state); at a return of an
//! operation not yet linearized it backtracks. An operation with an unknown outcome has
//! no return: it may be linearized anywhere after its call, or be left out. A state seen
//! before with the same set of linearized operations is not explored twice.

use std::collections::HashSet;
use std::hash::Hash;

/// A sequential specification.
pub(crate) trait Model {
    type State: Clone + Eq + Hash;
    type Op;
    fn init(&self) -> Self::State;
    /// The state after `op`, or `None` when `op` cannot happen (or cannot return what it
    /// returned) in state `s`.
    fn step(&self, s: &Self::State, op: &Self::Op) -> Option<Self::State>;
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub(crate) struct Entry<O> {
    pub(crate) op: O,
    pub(crate) call: u64,
    /// `None`: the outcome is unknown.
    pub(crate) ret: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    Linearizable,
    /// No order exists; `longest` operations were the most that could be ordered, and
    /// `stuck` is the index of an operation whose return could not be reached.
    Violation {
        longest: usize,
        stuck: usize,
    },
    /// The search gave up after its step budget.
    Unknown,
}

#[derive(Clone, Copy)]
enum Kind {
    Call(usize),
    Ret(usize),
}

pub(crate) fn check<M: Model>(model: &M, entries: &[Entry<M::Op>], budget: u64) -> Verdict {
    let n = entries.len();
    // Events in time order; calls before returns at equal times (the more permissive
    // reading). Index 0 is the head sentinel, `events.len() + 1` the tail.
    let mut events: Vec<(u64, u8, Kind)> = Vec::with_capacity(2 * n);
    for (i, e) in entries.iter().enumerate() {
        events.push((e.call, 0, Kind::Call(i)));
        if let Some(r) = e.ret {
            events.push((r.max(e.call), 1, Kind::Ret(i)));
        }
    }
    events.sort_by_key(|&(t, k, kind)| {
        (
            t,
            k,
            match kind {
                Kind::Call(i) | Kind::Ret(i) => i,
            },
        )
    });
    let m = events.len();
    let tail = m + 1;
    let mut next: Vec<usize> = (1..=m + 1).chain([tail]).collect();
    let mut prev: Vec<usize> = std::iter::once(0).chain(0..=m).collect();
    let kind_at = |idx: usize| events[idx - 1].2;
    let mut call_of = vec![0usize; n];
    let mut ret_of: Vec<Option<usize>> = vec![None; n];
    for (pos, (_, _, kind)) in events.iter().enumerate() {
        match *kind {
            Kind::Call(i) => call_of[i] = pos + 1,
            Kind::Ret(i) => ret_of[i] = Some(pos + 1),
        }
    }
    let unlink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, x: usize| {
        let (p, q) = (prev[x], next[x]);
        next[p] = q;
        prev[q] = p;
    };
    let relink = |next: &mut Vec<usize>, prev: &mut Vec<usize>, x: usize| {
        let (p, q) = (prev[x], next[x]);
        next[p] = x;
        prev[q] = x;
    };

    let words = n.div_ceil(64).max(1);
    let mut done = vec![0u64; words];
    let mut state = model.init();
    let mut stack: Vec<(usize, M::State)> = Vec::new();
    let mut seen: HashSet<(Vec<u64>, M::State)> = HashSet::new();
    let mut remaining = entries.iter().filter(|e| e.ret.is_some()).count();
    let mut longest = 0;
    let mut stuck = 0;
    let mut steps = 0u64;
    let mut entry = next[0];
    loop {
        if remaining == 0 {
            return Verdict::Linearizable;
        }
        steps += 1;
        if steps > budget {
            return Verdict::Unknown;
        }
        let backtrack = match (entry != tail).then(|| kind_at(entry)) {
            Some(Kind::Call(i)) => {
                let mut lifted = false;
                if let Some(s2) = model.step(&state, &entries[i].op) {
                    done[i / 64] |= 1 << (i % 64);
                    if seen.insert((done.clone(), s2.clone())) {
                        stack.push((i, std::mem::replace(&mut state, s2)));
                        unlink(&mut next, &mut prev, call_of[i]);
                        if let Some(r) = ret_of[i] {
                            unlink(&mut next, &mut prev, r);
                            remaining -= 1;
                        }
                        if stack.len() > longest {
                            longest = stack.len();
                        }
                        entry = next[0];
                        lifted = true;
                    } else {
                        done[i / 64] &= !(1 << (i % 64));
                    }
                }
                if !lifted {
                    entry = next[entry];
                }
                false
            }
            Some(Kind::Ret(i)) => {
                if stack.len() >= longest {
                    stuck = i;
                }
                true
            }
            None => true,
        };
        if backtrack {
            let Some((i, before)) = stack.pop() else {
                return Verdict::Violation { longest, stuck };
            };
            state = before;
            done[i / 64] &= !(1 << (i % 64));
            if let Some(r) = ret_of[i] {
                relink(&mut next, &mut prev, r);
                remaining += 1;
            }
            relink(&mut next, &mut prev, call_of[i]);
            entry = next[call_of[i]];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A register of small integers: write(v), read() -> v.
    struct Reg;
    #[derive(Debug, Clone)]
    enum Op {
        W(u8),
        R(u8),
    }
    impl Model for Reg {
        type State = u8;
        type Op = Op;
        fn init(&self) -> u8 {
            0
        }
        fn step(&self, s: &u8, op: &Op) -> Option<u8> {
            match op {
                Op::W(v) => Some(*v),
                Op::R(v) => (v == s).then_some(*s),
            }
        }
    }

    fn e(op: Op, call: u64, ret: Option<u64>) -> Entry<Op> {
        Entry { op, call, ret }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = vec![e(Op::W(1), 0, Some(1)), e(Op::R(1), 2, Some(3))];
        assert_eq!(check(&Reg, &h, 1_000), Verdict::Linearizable);
    }

    #[test]
    fn stale_read_after_write_is_not() {
        let h = vec![e(Op::W(1), 0, Some(1)), e(Op::R(0), 2, Some(3))];
        assert!(matches!(check(&Reg, &h, 1_000), Verdict::Violation { .. }));
    }

    #[test]
    fn concurrent_ops_may_reorder() {
        let h = vec![
            e(Op::W(1), 0, Some(10)),
            e(Op::R(0), 1, Some(2)),
            e(Op::R(1), 3, Some(4)),
        ];
        assert_eq!(check(&Reg, &h, 1_000), Verdict::Linearizable);
    }

    #[test]
    fn unknown_outcomes_may_happen_late_or_never() {
        // The write's reply was lost: a read long afterwards may see it...
        let late = vec![
            e(Op::W(2), 0, None),
            e(Op::R(0), 5, Some(6)),
            e(Op::R(2), 7, Some(8)),
        ];
        assert_eq!(check(&Reg, &late, 1_000), Verdict::Linearizable);
        // ...or never see it.
        let never = vec![e(Op::W(2), 0, None), e(Op::R(0), 5, Some(6))];
        assert_eq!(check(&Reg, &never, 1_000), Verdict::Linearizable);
        // But it cannot happen before it was invoked.
        let early = vec![e(Op::R(2), 0, Some(1)), e(Op::W(2), 2, None)];
        assert!(matches!(
            check(&Reg, &early, 1_000),
            Verdict::Violation { .. }
        ));
    }

    #[test]
    fn a_value_cannot_come_back() {
        let h = vec![
            e(Op::W(1), 0, Some(1)),
            e(Op::W(2), 2, Some(3)),
            e(Op::R(2), 4, Some(5)),
            e(Op::R(1), 6, Some(7)),
        ];
        assert!(matches!(check(&Reg, &h, 1_000), Verdict::Violation { .. }));
    }
}
