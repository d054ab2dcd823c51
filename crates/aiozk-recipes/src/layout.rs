//! Whose znode layout a recipe uses: aiozk's, Apache Curator's or kazoo's.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use aiozk::Error;

use crate::support::naming::new_guid;

/// The znode layout of a recipe, so that it contends with other libraries on the same path.
///
/// | layout | node name | data | tested against |
/// |---|---|---|---|
/// | [`Layout::Aiozk`] (default) | `<label>-<guid>-<seq>` | empty | aiozk 0.32.0 |
/// | [`Layout::Curator`] | `_c_<uuid>-<lock name><seq>` (protected) | the local address | Curator 5.9.0 |
/// | [`Layout::Kazoo`] | `<uuid hex><node name><seq>` | the identifier | kazoo 2.11.0 |
///
/// `<seq>` is the server's 10-digit sequence number, `<guid>` and `<uuid hex>` a version-4
/// UUID as 32 hex digits, `<uuid>` one in its 36-character canonical form. The names
/// between the id and the sequence are those of the foreign recipe (`lock-` for Curator's
/// `InterProcessMutex`, `__lock__` for kazoo's `Lock`); each recipe documents its own.
///
/// As Curator's recipes do, the ownership recipes in Curator's layout create missing parents
/// as container nodes (the server removes them once empty); in the other layouts parents
/// are persistent nodes.
///
/// In every layout the recipe keeps its guarantees: its ownership node is an ephemeral
/// sequential node, writes can be fenced by it, and its loss is signalled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Layout {
    /// aiozk's layout (the Python library aiozk, and this crate's default).
    #[default]
    Aiozk,
    /// Apache Curator 5.x's layout (Java).
    Curator,
    /// kazoo 2.x's layout (Python).
    Kazoo,
}

impl Layout {
    /// The layout's name: `aiozk`, `curator` or `kazoo`.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Aiozk => "aiozk",
            Layout::Curator => "curator",
            Layout::Kazoo => "kazoo",
        }
    }

    /// The name of a new node without its sequence number: `name` is the recipe's part of
    /// the name (aiozk's label, Curator's lock name, kazoo's node name).
    pub(crate) fn prefix(self, name: &str) -> String {
        match self {
            Layout::Aiozk => format!("{name}-{}-", new_guid()),
            Layout::Curator => format!("_c_{}-{name}", canonical_uuid(&new_guid())),
            Layout::Kazoo => format!("{}{name}", new_guid()),
        }
    }

    /// True when the child `child` (its name ends in a sequence number) carries the
    /// recipe name `name` in this layout.
    pub(crate) fn is_named(self, child: &str, name: &str) -> bool {
        let Some(stem) = child.get(..child.len().saturating_sub(10)) else {
            return false;
        };
        match self {
            Layout::Aiozk => crate::support::naming::label_of(child) == name,
            // Curator strips the protection prefix, then compares the rest.
            Layout::Curator => {
                let bare = match stem.strip_prefix("_c_") {
                    Some(rest) if rest.len() >= 37 && rest.as_bytes()[36] == b'-' => &rest[37..],
                    _ => stem,
                };
                bare == name || bare.ends_with(name)
            }
            // kazoo matches `<name>\d{10}$` anywhere in the name.
            Layout::Kazoo => stem.ends_with(name),
        }
    }

    /// An ownership node `<base>/<prefix><seq>` whose missing parents are created as this
    /// layout does: containers for Curator (`creatingParentContainersIfNeeded`), persistent
    /// nodes otherwise.
    pub(crate) fn core(
        self,
        client: &aiozk::Client,
        base: &str,
        prefix: String,
    ) -> std::sync::Arc<crate::ownership::Core> {
        let core = crate::ownership::Core::with_prefix(client, base, prefix);
        if self == Layout::Curator {
            core.container_parents()
        } else {
            core
        }
    }

    /// The data a contender's node carries when the caller gave none: Curator writes the
    /// local host's address (its default node data), the others write nothing.
    pub(crate) fn default_data(self) -> Vec<u8> {
        match self {
            Layout::Curator => local_address().as_bytes().to_vec(),
            Layout::Aiozk | Layout::Kazoo => Vec::new(),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Layout {
    type Err = Error;

    /// Parses `aiozk`, `curator` or `kazoo` (case-insensitive).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for any other name.
    fn from_str(s: &str) -> Result<Self, Error> {
        match s.to_ascii_lowercase().as_str() {
            "aiozk" => Ok(Layout::Aiozk),
            "curator" => Ok(Layout::Curator),
            "kazoo" => Ok(Layout::Kazoo),
            _ => Err(Error::InvalidArgument(format!(
                "unknown layout {s:?}: expected aiozk, curator or kazoo"
            ))),
        }
    }
}

/// `hex` (32 hex digits) in the 8-4-4-4-12 form of Java's `UUID.toString()`.
pub(crate) fn canonical_uuid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The local host's address as Curator's default node data holds it (Java's
/// `InetAddress.getLocalHost().getHostAddress()`): the first IPv4 address the host name
/// resolves to, `127.0.0.1` when it resolves to none. Resolved once per process.
fn local_address() -> &'static str {
    static ADDRESS: OnceLock<String> = OnceLock::new();
    ADDRESS.get_or_init(|| {
        use std::net::ToSocketAddrs;
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .or_else(|_| std::fs::read_to_string("/etc/hostname"))
            .unwrap_or_default();
        let host = host.trim();
        if host.is_empty() {
            return "127.0.0.1".to_owned();
        }
        (host, 0)
            .to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.find(|a| a.is_ipv4()))
            .map_or_else(|| "127.0.0.1".to_owned(), |a| a.ip().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_like_the_foreign_libraries() {
        let c = Layout::Curator.prefix("lock-");
        assert_eq!(c.len(), 3 + 36 + 1 + 5, "{c}");
        assert!(c.starts_with("_c_") && c.ends_with("-lock-"), "{c}");
        assert_eq!(c.as_bytes()[11], b'-');
        let k = Layout::Kazoo.prefix("__lock__");
        assert_eq!(k.len(), 32 + 8, "{k}");
        assert!(k.ends_with("__lock__"));
        assert!(Layout::Aiozk.prefix("lock").starts_with("lock-"));

        let curator = format!("{c}0000000007");
        assert!(Layout::Curator.is_named(&curator, "lock-"));
        assert!(!Layout::Curator.is_named(&curator, "__READ__"));
        assert!(Layout::Curator.is_named("lock-0000000001", "lock-"));
        let kazoo = format!("{k}0000000003");
        assert!(Layout::Kazoo.is_named(&kazoo, "__lock__"));
        assert!(!Layout::Kazoo.is_named(&kazoo, "__rlock__"));
        assert!(!Layout::Kazoo.is_named("x", "__lock__"));
        assert!(Layout::Aiozk.is_named("lock-abc-0000000001", "lock"));
    }

    #[test]
    fn parses_names() {
        assert_eq!("Curator".parse::<Layout>().unwrap(), Layout::Curator);
        assert_eq!("kazoo".parse::<Layout>().unwrap(), Layout::Kazoo);
        assert_eq!("aiozk".parse::<Layout>().unwrap(), Layout::Aiozk);
        assert!("zk".parse::<Layout>().is_err());
        assert_eq!(Layout::default().to_string(), "aiozk");
    }
}
