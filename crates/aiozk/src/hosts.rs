//! Connect strings: the server list and the optional chroot.
//!
//! The format is ZooKeeper's, `host1:2181,host2:2181,[::1]:2181/optional/chroot`, with one
//! addition: each host may carry a scheme, `tls://host:port` for an encrypted connection or
//! `tcp://host:port` for a plain one (the default).

use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use crate::path::validate_path;
use crate::{Error, Result};

/// The client port a host gets when the connect string names none.
pub const DEFAULT_PORT: u16 = 2181;

/// One server of a connect string.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HostPort {
    /// A host name or an IP address; IPv6 addresses are stored without brackets.
    pub host: String,
    /// The client port.
    pub port: u16,
    /// True to connect with TLS (`tls://` in the connect string).
    pub tls: bool,
}

impl HostPort {
    /// A plain-TCP server address.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: false,
        }
    }

    /// The `host:port` text to resolve or connect to, with brackets around an IPv6 address
    /// and without the scheme.
    pub fn address(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for HostPort {
    /// `host:port`, `[v6addr]:port`, prefixed with `tls://` for a TLS server.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.tls {
            f.write_str("tls://")?;
        }
        f.write_str(&self.address())
    }
}

/// A parsed connect string: the servers to try and the chroot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConnectString {
    /// The servers, in the order given (the client shuffles them itself).
    pub hosts: Vec<HostPort>,
    /// The chroot, already validated as a path; `None` when absent or `/`.
    pub chroot: Option<String>,
}

impl ConnectString {
    /// Parses `host1:port1,host2:port2,[v6addr]:port/optional/chroot`.
    ///
    /// * Hosts are separated by commas; whitespace around each host is ignored and empty
    ///   entries (`a,,b`, a trailing comma) are skipped, as ZooKeeper does.
    /// * The port defaults to 2181. An IPv6 address must be in brackets (`[::1]` or
    ///   `[::1]:2181`); unbracketed, its colons could not be told from a port separator.
    /// * A host may start with `tls://` or `tcp://` (case-insensitive).
    /// * The chroot is everything from the first `/` after the host list; `/` alone means no
    ///   chroot. It is validated like any path, so a trailing slash is an error.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming the offending text for an empty host list, an
    /// empty or malformed host, an unknown scheme, or a port that is not a number in
    /// 1–65535; [`Error::InvalidPath`] for an invalid chroot.
    pub fn parse(s: &str) -> Result<Self> {
        let s = s.trim();
        let mut hosts = Vec::new();
        let mut rest = s;
        let chroot = loop {
            let (tls, entry_start) = split_scheme(rest)?;
            // A host entry holds neither ',' nor '/', so the first of them ends it. The scheme's
            // own "//" was removed above, so a '/' found here starts the chroot.
            let end = entry_start.find([',', '/']).unwrap_or(entry_start.len());
            let entry = entry_start[..end].trim();
            let had_scheme = entry_start.len() != rest.len();
            if !entry.is_empty() || had_scheme {
                hosts.push(parse_host(entry, tls)?);
            }
            rest = &entry_start[end..];
            match rest.as_bytes().first() {
                Some(b',') => rest = &rest[1..],
                Some(_) => break Some(rest),
                None => break None,
            }
        };
        if hosts.is_empty() {
            return Err(Error::InvalidArgument(format!(
                "connect string {s:?} names no host"
            )));
        }
        let chroot = match chroot {
            None | Some("/") => None,
            Some(path) => {
                validate_path(path)?;
                Some(path.to_owned())
            }
        };
        Ok(Self { hosts, chroot })
    }
}

impl FromStr for ConnectString {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl fmt::Display for ConnectString {
    /// The connect string that parses back to this value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, host) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{host}")?;
        }
        if let Some(chroot) = &self.chroot {
            f.write_str(chroot)?;
        }
        Ok(())
    }
}

/// Splits an optional `scheme://` off the start of a host entry (leading whitespace
/// skipped): returns whether it asks for TLS and the text after it.
fn split_scheme(s: &str) -> Result<(bool, &str)> {
    let trimmed = s.trim_start();
    let Some(idx) = trimmed.find("://") else {
        return Ok((false, s));
    };
    let scheme = &trimmed[..idx];
    // Only letters can form a scheme; anything else before "://" (a ',', a ':' or a '/')
    // means the "://" belongs to a later entry or to the chroot.
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Ok((false, s));
    }
    let after = &trimmed[idx + 3..];
    if scheme.eq_ignore_ascii_case("tls") {
        Ok((true, after))
    } else if scheme.eq_ignore_ascii_case("tcp") {
        Ok((false, after))
    } else {
        Err(Error::InvalidArgument(format!(
            "unknown scheme {scheme:?} in connect string (expected \"tcp\" or \"tls\")"
        )))
    }
}

/// Parses one `host`, `host:port`, `[v6]` or `[v6]:port` entry (scheme already removed).
fn parse_host(entry: &str, tls: bool) -> Result<HostPort> {
    let bad = |why: &str| Error::InvalidArgument(format!("host {entry:?}: {why}"));
    let (host, port) = if let Some(inner) = entry.strip_prefix('[') {
        let (addr, after) = inner
            .split_once(']')
            .ok_or_else(|| bad("missing ']' after the IPv6 address"))?;
        // A zone index (`fe80::1%eth0`) is not part of the address syntax.
        let bare = addr.split_once('%').map_or(addr, |(a, _)| a);
        if bare.parse::<Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address inside the brackets"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| bad("expected ':port' after ']'"))?,
            ),
        };
        (addr, port)
    } else {
        match entry.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err(bad(
                    "an IPv6 address must be written in brackets, e.g. [::1]:2181",
                ))
            }
            Some((host, port)) => (host, Some(port)),
            None => (entry, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host name"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || matches!(c, '[' | ']' | '/' | ','))
    {
        return Err(bad("invalid character in host name"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port != 0 && !text.starts_with('+') => port,
            _ => return Err(bad(&format!("invalid port {text:?} (expected 1-65535)"))),
        },
    };
    Ok(HostPort {
        host: host.to_owned(),
        port,
        tls,
    })
}

/// The membership of an ensemble as its dynamic configuration lists it (the data of
/// `/zookeeper/config`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicConfig {
    /// The client address of every member, participants and observers, in the order
    /// listed. Members listed without a client port are left out.
    pub servers: Vec<HostPort>,
    /// The configuration's version (`version=`, hexadecimal), if given.
    pub version: Option<i64>,
}

impl DynamicConfig {
    /// Parses lines such as
    /// `server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181` and `version=100000000`.
    /// The client address after `;` is `[host:]port`; a missing or wildcard host
    /// (`0.0.0.0`, `::`) stands for the member's (first) quorum address. Other lines are
    /// ignored.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a `server.N` line whose addresses cannot be read, or
    /// when no member has a client address.
    pub fn parse(data: &str) -> Result<Self> {
        let mut servers = Vec::new();
        let mut version = None;
        for line in data.lines().map(str::trim) {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            let (key, value) = (key.trim(), value.trim());
            if key == "version" {
                version = i64::from_str_radix(value, 16).ok();
            } else if key.starts_with("server.") {
                if let Some(host) = member_client_address(value)? {
                    servers.push(host);
                }
            }
        }
        if servers.is_empty() {
            return Err(Error::InvalidArgument(
                "the dynamic configuration lists no client address".into(),
            ));
        }
        Ok(Self { servers, version })
    }

    /// The servers as a connect string (no chroot).
    pub fn connect_string(&self) -> String {
        ConnectString {
            hosts: self.servers.clone(),
            chroot: None,
        }
        .to_string()
    }
}

/// The client address of one `server.N=` value; `None` when it has none.
fn member_client_address(value: &str) -> Result<Option<HostPort>> {
    let bad = || Error::InvalidArgument(format!("unreadable server line {value:?}"));
    let Some((quorum, client)) = value.split_once(';') else {
        return Ok(None);
    };
    // The first of the quorum addresses (`a:2888:3888|b:2888:3888`), without the ports
    // and the role.
    let first = quorum.split('|').next().unwrap_or("").trim();
    let quorum_host = if let Some(inner) = first.strip_prefix('[') {
        inner.split_once(']').map(|(h, _)| h).ok_or_else(bad)?
    } else {
        first.split(':').next().unwrap_or("")
    };
    let client = client.trim();
    let (host, port) = if let Some(inner) = client.strip_prefix('[') {
        let (h, rest) = inner.split_once(']').ok_or_else(bad)?;
        (h, rest.strip_prefix(':').ok_or_else(bad)?)
    } else {
        match client.rsplit_once(':') {
            Some((h, p)) => (h, p),
            None => ("", client),
        }
    };
    let host = match host {
        "" | "0.0.0.0" | "::" | "0:0:0:0:0:0:0:0" => quorum_host,
        h => h,
    };
    if host.is_empty() {
        return Err(bad());
    }
    let port = match port.parse::<u16>() {
        Ok(p) if p != 0 => p,
        _ => return Err(bad()),
    };
    Ok(Some(HostPort::new(host, port)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hp(host: &str, port: u16, tls: bool) -> HostPort {
        HostPort {
            host: host.to_owned(),
            port,
            tls,
        }
    }

    fn parse(s: &str) -> ConnectString {
        ConnectString::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn invalid_argument(s: &str) -> String {
        match ConnectString::parse(s) {
            Err(Error::InvalidArgument(msg)) => msg,
            other => panic!("{s:?} should be an invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn simple_lists() {
        let cs = parse("h1:2181,h2:2182");
        assert_eq!(cs.hosts, [hp("h1", 2181, false), hp("h2", 2182, false)]);
        assert_eq!(cs.chroot, None);
        assert_eq!(parse("localhost").hosts, [hp("localhost", 2181, false)]);
        assert_eq!(
            parse(" a , b:1 ,\tc ").hosts,
            [
                hp("a", 2181, false),
                hp("b", 1, false),
                hp("c", 2181, false)
            ]
        );
        assert_eq!(
            parse("a,,b,").hosts,
            [hp("a", 2181, false), hp("b", 2181, false)]
        );
        assert_eq!(
            parse("10.0.0.1:65535").hosts,
            [hp("10.0.0.1", 65535, false)]
        );
    }

    #[test]
    fn chroots() {
        let cs = parse("h1:2181,h2:2181/app/sub");
        assert_eq!(cs.hosts.len(), 2);
        assert_eq!(cs.chroot.as_deref(), Some("/app/sub"));
        assert_eq!(parse("h1/").chroot, None);
        assert_eq!(parse("h1:1/x").chroot.as_deref(), Some("/x"));
        // A chroot may contain commas and colons; only the host list is split.
        assert_eq!(parse("h1/a,b:c").chroot.as_deref(), Some("/a,b:c"));
        assert_eq!(parse("h1/a:/b").chroot.as_deref(), Some("/a:/b"));
        // A "://" after the host list belongs to the chroot (which "//" makes invalid), not
        // to a scheme.
        assert!(matches!(
            ConnectString::parse("h1/a://b"),
            Err(Error::InvalidPath { .. })
        ));
        assert!(matches!(
            ConnectString::parse("h1/app/"),
            Err(Error::InvalidPath { .. })
        ));
        assert!(matches!(
            ConnectString::parse("h1//app"),
            Err(Error::InvalidPath { .. })
        ));
    }

    #[test]
    fn ipv6() {
        let cs = parse("[::1]:2182,[fe80::1%eth0],[2001:db8::1]/c");
        assert_eq!(
            cs.hosts,
            [
                hp("::1", 2182, false),
                hp("fe80::1%eth0", 2181, false),
                hp("2001:db8::1", 2181, false)
            ]
        );
        assert_eq!(cs.chroot.as_deref(), Some("/c"));
        assert!(invalid_argument("::1").contains("brackets"));
        assert!(invalid_argument("fe80::1:2181").contains("brackets"));
        assert!(invalid_argument("[::1").contains("']'"));
        assert!(invalid_argument("[::1]2181").contains("':port'"));
        assert!(invalid_argument("[host]:1").contains("IPv6"));
    }

    #[test]
    fn schemes() {
        let cs = parse("tls://h1:2281,tcp://h2,h3:1,TLS://[::1]/chroot");
        assert_eq!(
            cs.hosts,
            [
                hp("h1", 2281, true),
                hp("h2", 2181, false),
                hp("h3", 1, false),
                hp("::1", 2181, true)
            ]
        );
        assert_eq!(cs.chroot.as_deref(), Some("/chroot"));
        assert_eq!(parse(" tls:// h1 ").hosts, [hp("h1", 2181, true)]);
        assert!(invalid_argument("ssl://h1").contains("scheme"));
        assert!(invalid_argument("tls://").contains("empty host"));
        assert!(invalid_argument("tls://,h2").contains("empty host"));
        assert!(invalid_argument("tls:///chroot").contains("empty host"));
    }

    #[test]
    fn bad_ports_name_the_text() {
        for (s, text) in [
            ("h1:abc", "abc"),
            ("h1:", "\"\""),
            ("h1:0", "\"0\""),
            ("h1:65536", "65536"),
            ("h1:-1", "-1"),
            ("h1:+80", "+80"),
            ("h2,h1:21 81", "21 81"),
        ] {
            let msg = invalid_argument(s);
            assert!(msg.contains("port") && msg.contains(text), "{s:?}: {msg}");
        }
    }

    #[test]
    fn empty_lists() {
        for s in ["", "   ", ",", " , ", "/app", ",/app"] {
            assert!(invalid_argument(s).contains("no host"), "{s:?}");
        }
        assert!(invalid_argument(":2181").contains("empty host"));
        assert!(invalid_argument("a b:1").contains("invalid character"));
    }

    #[test]
    fn display() {
        assert_eq!(hp("h", 1, false).to_string(), "h:1");
        assert_eq!(hp("::1", 2181, false).to_string(), "[::1]:2181");
        assert_eq!(hp("::1", 2181, true).to_string(), "tls://[::1]:2181");
        assert_eq!(hp("::1", 2181, true).address(), "[::1]:2181");
        assert_eq!(HostPort::new("h", 5), hp("h", 5, false));
        let s = "tls://a:1,[::1]:2181,b:2181/x/y";
        assert_eq!(parse(s).to_string(), s);
        assert_eq!(s.parse::<ConnectString>().unwrap(), parse(s));
    }

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}",
            any::<[u8; 4]>().prop_map(|b| std::net::Ipv4Addr::from(b).to_string()),
            any::<u128>().prop_map(|b| Ipv6Addr::from(b).to_string()),
        ]
    }

    fn host_port() -> impl Strategy<Value = HostPort> {
        (host(), 1..=u16::MAX, any::<bool>()).prop_map(|(host, port, tls)| HostPort {
            host,
            port,
            tls,
        })
    }

    fn chroot_strategy() -> impl Strategy<Value = Option<String>> {
        proptest::option::of(proptest::collection::vec("[a-zA-Z0-9_,:.-]{1,6}", 1..4))
            .prop_map(|segs| segs.map(|s| format!("/{}", s.join("/"))))
            .prop_filter("valid path", |c| {
                c.as_deref().is_none_or(|c| validate_path(c).is_ok())
            })
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(
            hosts in proptest::collection::vec(host_port(), 1..5),
            chroot in chroot_strategy(),
        ) {
            let cs = ConnectString { hosts, chroot };
            prop_assert_eq!(ConnectString::parse(&cs.to_string()), Ok(cs));
        }
    }

    #[test]
    fn dynamic_configs() {
        let cfg = DynamicConfig::parse(
            "server.1=127.0.0.1:2888:3888:participant;127.0.0.1:2181\n\
             server.2=10.0.0.2:2888:3888:observer;0.0.0.0:2182\n\
             server.3=[::1]:2888:3888|h3b:2888:3888;2183\n\
             server.4=h4:2888:3888:participant\n\
             server.5=h5:2888:3888;[fe80::5]:2185\n\
             version=10000000a\n",
        )
        .unwrap();
        assert_eq!(
            cfg.servers,
            [
                hp("127.0.0.1", 2181, false),
                hp("10.0.0.2", 2182, false),
                hp("::1", 2183, false),
                hp("fe80::5", 2185, false),
            ]
        );
        assert_eq!(cfg.version, Some(0x10000000a));
        assert_eq!(
            cfg.connect_string(),
            "127.0.0.1:2181,10.0.0.2:2182,[::1]:2183,[fe80::5]:2185"
        );
        assert!(DynamicConfig::parse("version=1\n").is_err());
        assert!(DynamicConfig::parse("server.1=h:1:2;h:notaport").is_err());
    }
}
