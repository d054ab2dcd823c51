//! The fault schedule of a run, drawn from the seed alone: the same seed, duration,
//! nemesis and ensemble size give the same schedule. Targets that only exist at run time
//! (the current leader, the member a client is connected to) are named by role here and
//! resolved when the fault starts; the fault log records what they resolved to.

use serde_json::{json, Value};

use crate::rng::Rng;

/// One kind of fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The members split in two random groups.
    Halves { left: Vec<usize> },
    /// The leader cut from every other member.
    IsolateLeader,
    /// The member that worker `worker` is connected to cut from the other members.
    IsolateClientMember { worker: u32 },
    /// Worker `worker` cut from every member (it keeps running); with `holder`, a worker
    /// that holds a lock or leadership right now, if any.
    IsolateClient { worker: u32, holder: bool },
    /// Two minorities that both reach one bridge member.
    Bridge { bridge: usize },
    /// Random packet loss between every member and worker.
    Loss { percent: u8 },
    /// SIGKILL of a member (`None`: the leader), restarted with its data afterwards.
    Kill { member: Option<usize> },
    /// SIGSTOP of a member (`None`: the leader) for the fault's duration.
    Pause { member: Option<usize> },
    /// SIGSTOP of a worker process for the fault's duration; with `holder`, a worker that
    /// holds a lock or leadership right now, if any.
    ClientPause { worker: u32, holder: bool },
    /// The proxy in front of a member stops forwarding.
    ProxyStall { member: usize },
    /// The proxy in front of a member swallows everything.
    ProxyBlackhole { member: usize },
    /// The proxy in front of a member cuts a connection right after its n-th request.
    ProxyCut { member: usize, after: u64 },
    /// Every member restarted in turn.
    Rolling,
}

impl Fault {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Fault::Halves { .. } => "partition-halves",
            Fault::IsolateLeader => "partition-leader",
            Fault::IsolateClientMember { .. } => "partition-client-member",
            Fault::IsolateClient { .. } => "isolate-client",
            Fault::Bridge { .. } => "bridge",
            Fault::Loss { .. } => "loss",
            Fault::Kill { .. } => "kill",
            Fault::Pause { .. } => "pause",
            Fault::ClientPause { .. } => "client-pause",
            Fault::ProxyStall { .. } => "proxy-stall",
            Fault::ProxyBlackhole { .. } => "proxy-blackhole",
            Fault::ProxyCut { .. } => "proxy-cut",
            Fault::Rolling => "rolling",
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = json!({"kind": self.name()});
        let extra = match self {
            Fault::Halves { left } => json!({"left": left}),
            Fault::IsolateClientMember { worker } => json!({"worker": worker}),
            Fault::IsolateClient { worker, holder } | Fault::ClientPause { worker, holder } => {
                json!({"worker": worker, "holder": holder})
            }
            Fault::Bridge { bridge } => json!({"bridge": bridge}),
            Fault::Loss { percent } => json!({"percent": percent}),
            Fault::Kill { member } | Fault::Pause { member } => json!({"member": member}),
            Fault::ProxyStall { member } | Fault::ProxyBlackhole { member } => {
                json!({"member": member})
            }
            Fault::ProxyCut { member, after } => json!({"member": member, "after": after}),
            Fault::IsolateLeader | Fault::Rolling => json!({}),
        };
        if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
            m.extend(e);
        }
        v
    }
}

/// A fault with its planned start (ms after the run's start) and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Step {
    pub(crate) at_ms: u64,
    pub(crate) len_ms: u64,
    pub(crate) fault: Fault,
}

/// The nemeses one can ask for by name; `mixed` draws from all but the proxy faults.
pub(crate) const NEMESES: &[&str] = &[
    "none",
    "partition-halves",
    "partition-leader",
    "partition-client-member",
    "isolate-client",
    "bridge",
    "loss",
    "kill",
    "pause",
    "client-pause",
    "proxy",
    "proxy-cut",
    "rolling",
    "partitions",
    "mixed",
];

/// Whether the nemesis puts fault proxies between the workers and the members.
pub(crate) fn uses_proxies(nemesis: &str) -> bool {
    nemesis == "proxy" || nemesis == "proxy-cut"
}

/// What the schedule needs to know about the run.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) seed: u64,
    pub(crate) duration_ms: u64,
    pub(crate) members: usize,
    pub(crate) workers: u32,
    pub(crate) session_timeout_ms: u64,
}

/// The schedule for `nemesis` (one of [`NEMESES`]).
pub(crate) fn generate(nemesis: &str, shape: &Shape) -> Vec<Step> {
    let mut rng = Rng::new(shape.seed.wrapping_mul(0x9E37_79B9).wrapping_add(17));
    let mut steps = Vec::new();
    if nemesis == "none" {
        return steps;
    }
    let kinds: Vec<&str> = match nemesis {
        "mixed" => vec![
            "partition-halves",
            "partition-leader",
            "partition-client-member",
            "isolate-client",
            "bridge",
            "loss",
            "kill",
            "pause",
            "client-pause",
            "rolling",
        ],
        "partitions" => vec![
            "partition-halves",
            "partition-leader",
            "partition-client-member",
            "bridge",
        ],
        other => vec![other],
    };
    let end = shape.duration_ms.saturating_sub(5000);
    let mut t = 2500;
    let st = shape.session_timeout_ms;
    let mut misses = 0;
    loop {
        let kind = *rng.pick(&kinds);
        let fault = draw(kind, &mut rng, shape);
        let len = match fault {
            Fault::Pause { .. } | Fault::ClientPause { .. } => rng.range(st + 500, st * 2 + 1000),
            Fault::IsolateClient { .. } => {
                if rng.chance(50) {
                    rng.range(st + 500, st * 2)
                } else {
                    rng.range(500, st / 2)
                }
            }
            Fault::Kill { .. } => rng.range(500, 4000),
            Fault::Rolling => 0,
            Fault::ProxyCut { .. } => rng.range(1000, 3000),
            _ => rng.range(1500, 6000),
        };
        // A rolling restart takes about three seconds a member.
        let budget = if fault == Fault::Rolling {
            3500 * u64::try_from(shape.members).unwrap_or(3)
        } else {
            len
        };
        if t + budget > end {
            // Too long for the time left: draw again a few times before giving up.
            misses += 1;
            if misses > 5 {
                break;
            }
            continue;
        }
        steps.push(Step {
            at_ms: t,
            len_ms: len,
            fault,
        });
        t += budget + rng.range(1000, 3000);
    }
    steps
}

fn draw(kind: &str, rng: &mut Rng, shape: &Shape) -> Fault {
    let n = shape.members;
    let member = |rng: &mut Rng| usize::try_from(rng.below(n as u64)).unwrap_or(0);
    let worker = |rng: &mut Rng| u32::try_from(rng.below(u64::from(shape.workers))).unwrap_or(0);
    match kind {
        "partition-halves" => {
            let mut order: Vec<usize> = (0..n).collect();
            for i in (1..n).rev() {
                let j = usize::try_from(rng.below(i as u64 + 1)).unwrap_or(0);
                order.swap(i, j);
            }
            let mut left = order[..n / 2].to_vec();
            left.sort_unstable();
            Fault::Halves { left }
        }
        "partition-leader" => Fault::IsolateLeader,
        "partition-client-member" => Fault::IsolateClientMember {
            worker: worker(rng),
        },
        "isolate-client" => Fault::IsolateClient {
            worker: worker(rng),
            holder: rng.chance(50),
        },
        "bridge" => Fault::Bridge {
            bridge: member(rng),
        },
        "loss" => Fault::Loss {
            percent: u8::try_from(rng.range(5, 30)).unwrap_or(10),
        },
        "kill" => Fault::Kill {
            member: rng.chance(50).then(|| member(rng)),
        },
        "pause" => Fault::Pause {
            member: rng.chance(50).then(|| member(rng)),
        },
        "client-pause" => Fault::ClientPause {
            worker: worker(rng),
            holder: rng.chance(50),
        },
        "proxy-cut" => Fault::ProxyCut {
            member: member(rng),
            after: rng.range(1, 4),
        },
        "proxy" => {
            let m = member(rng);
            match rng.below(3) {
                0 => Fault::ProxyStall { member: m },
                1 => Fault::ProxyBlackhole { member: m },
                _ => Fault::ProxyCut {
                    member: m,
                    after: rng.range(1, 20),
                },
            }
        }
        _ => Fault::Rolling,
    }
}

pub(crate) fn to_json(steps: &[Step]) -> Value {
    Value::Array(
        steps
            .iter()
            .map(|s| {
                let mut v = s.fault.to_json();
                if let Value::Object(m) = &mut v {
                    m.insert("at_ms".into(), json!(s.at_ms));
                    m.insert("len_ms".into(), json!(s.len_ms));
                }
                v
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(seed: u64) -> Shape {
        Shape {
            seed,
            duration_ms: 60_000,
            members: 3,
            workers: 6,
            session_timeout_ms: 3000,
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = generate("mixed", &shape(7));
        assert_eq!(a, generate("mixed", &shape(7)));
        assert_ne!(a, generate("mixed", &shape(8)));
        assert!(!a.is_empty());
    }

    #[test]
    fn faults_end_before_the_run_does() {
        for seed in 0..50 {
            for nemesis in NEMESES {
                for s in generate(nemesis, &shape(seed)) {
                    assert!(s.at_ms + s.len_ms <= 55_000, "{s:?}");
                }
            }
        }
    }

    #[test]
    fn pauses_outlast_the_session_timeout() {
        for seed in 0..20 {
            for s in generate("client-pause", &shape(seed)) {
                assert!(s.len_ms > 3000);
            }
        }
    }
}
