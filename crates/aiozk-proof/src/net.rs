//! The network inside the run's namespace: who has which address, and the nftables rules
//! that cut it.
//!
//! Every member runs as its own user id and every worker too; a routing rule per user id
//! makes the kernel pick that process's own `127.0.0.x` as the source address of its
//! connections (on loopback it would otherwise always pick `127.0.0.1`). Partitions are then
//! plain address pairs in one nftables table, and the controller itself (`127.0.0.1`, uid 0)
//! is never cut off from anything.

use std::collections::BTreeSet;
use std::io;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// The nftables table of a run (inside the run's own namespace).
const TABLE: &str = "aiozk_proof";

/// User id of member `myid` (1-based), as given to the test kit.
pub(crate) const MEMBER_UID_BASE: u32 = 47000;
/// User id of worker `w` is this plus `w`.
pub(crate) const WORKER_UID_BASE: u32 = 47100;

/// The address of member `i` (0-based): 127.0.0.2 and up.
pub(crate) fn member_ip(i: usize) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 2 + u8::try_from(i).unwrap_or(0))
}

/// The address of worker `w`: 127.0.0.101 and up.
pub(crate) fn worker_ip(w: u32) -> Ipv4Addr {
    Ipv4Addr::new(127, 0, 0, 101 + u8::try_from(w).unwrap_or(0))
}

pub(crate) fn worker_uid(w: u32) -> u32 {
    WORKER_UID_BASE + w
}

fn run(cmd: &str, args: &[&str], stdin: Option<&str>) -> io::Result<()> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        use std::io::Write;
        pipe.write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Source-address routing for `members` members and `workers` workers, and an empty
/// rule table. Must run inside the run's namespace.
pub(crate) fn setup(members: usize, workers: u32) -> io::Result<()> {
    run("ip", &["link", "set", "lo", "up"], None)?;
    // The local table must come after the per-user rules.
    run(
        "ip",
        &["rule", "add", "pref", "1000", "lookup", "local"],
        None,
    )?;
    run("ip", &["rule", "del", "pref", "0"], None)?;
    let mut owners: Vec<(u32, Ipv4Addr)> = (0..members)
        .map(|i| {
            (
                MEMBER_UID_BASE + u32::try_from(i + 1).unwrap_or(0),
                member_ip(i),
            )
        })
        .collect();
    owners.extend((0..workers).map(|w| (worker_uid(w), worker_ip(w))));
    for (k, (uid, ip)) in owners.iter().enumerate() {
        let table = (200 + k).to_string();
        let pref = (100 + k).to_string();
        let range = format!("{uid}-{uid}");
        run(
            "ip",
            &[
                "rule", "add", "pref", &pref, "uidrange", &range, "lookup", &table,
            ],
            None,
        )?;
        run(
            "ip",
            &[
                "route",
                "add",
                "local",
                "127.0.0.0/8",
                "dev",
                "lo",
                "src",
                &ip.to_string(),
                "table",
                &table,
            ],
            None,
        )?;
    }
    apply(&Rules::default())
}

/// What is cut right now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Address pairs that cannot talk (both directions).
    pub(crate) blocked: BTreeSet<(Ipv4Addr, Ipv4Addr)>,
    /// Random loss between these addresses, in percent.
    pub(crate) loss: Option<(u8, Vec<Ipv4Addr>)>,
}

impl Rules {
    pub(crate) fn block(&mut self, a: Ipv4Addr, b: Ipv4Addr) {
        if a != b {
            self.blocked.insert((a.min(b), a.max(b)));
        }
    }

    /// Cuts every address of `left` from every address of `right`.
    pub(crate) fn split(&mut self, left: &[Ipv4Addr], right: &[Ipv4Addr]) {
        for &a in left {
            for &b in right {
                self.block(a, b);
            }
        }
    }

    fn script(&self) -> String {
        let mut body = String::new();
        for (a, b) in &self.blocked {
            body.push_str(&format!("    ip saddr {a} ip daddr {b} drop\n"));
            body.push_str(&format!("    ip saddr {b} ip daddr {a} drop\n"));
        }
        if let Some((percent, addrs)) = &self.loss {
            let set = addrs
                .iter()
                .map(Ipv4Addr::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            body.push_str(&format!(
                "    ip saddr {{ {set} }} ip daddr {{ {set} }} numgen random mod 100 < {percent} drop\n"
            ));
        }
        format!(
            "table inet {TABLE} {{}}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n  chain out {{\n    type filter hook output priority 0; policy accept;\n{body}  }}\n}}\n"
        )
    }
}

/// Replaces the rule table atomically.
pub(crate) fn apply(rules: &Rules) -> io::Result<()> {
    run("nft", &["-f", "-"], Some(&rules.script()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_cut_both_ways() {
        let mut r = Rules::default();
        r.split(&[member_ip(0)], &[member_ip(1), member_ip(2)]);
        r.block(member_ip(2), member_ip(0));
        assert_eq!(r.blocked.len(), 2);
        let s = r.script();
        assert!(s.contains("ip saddr 127.0.0.2 ip daddr 127.0.0.3 drop"));
        assert!(s.contains("ip saddr 127.0.0.3 ip daddr 127.0.0.2 drop"));
        assert!(s.contains("delete table inet aiozk_proof"));
    }
}
