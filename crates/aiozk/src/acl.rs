//! Access control lists: permissions, ids, and the well-known ACLs.
//!
//! A znode's ACL is a list of [`Acl`] entries; each grants [`Perms`] to an [`Id`] (a scheme
//! and an identity in that scheme). The built-in schemes are `world` (id `anyone`), `auth`
//! (every authenticated id of the caller), `digest` (`user:BASE64(SHA1("user:password"))`),
//! `ip` (an address or CIDR block), `sasl` (a principal) and `x509` (a certificate's subject
//! DN).

use std::fmt;
use std::net::IpAddr;
use std::ops::{BitAnd, BitOr, BitOrAssign, Sub};
use std::str::FromStr;

use base64::Engine as _;
use sha1::{Digest as _, Sha1};

use crate::{Error, Result};

/// A set of ZooKeeper permissions, combined with `|` (`Perms::READ | Perms::WRITE`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Perms(u32);

impl Perms {
    /// No permission at all.
    pub const NONE: Self = Self(0);
    /// Read the node's data and list its children.
    pub const READ: Self = Self(1);
    /// Set the node's data.
    pub const WRITE: Self = Self(2);
    /// Create children.
    pub const CREATE: Self = Self(4);
    /// Delete children.
    pub const DELETE: Self = Self(8);
    /// Set the node's ACL.
    pub const ADMIN: Self = Self(16);
    /// Every permission.
    pub const ALL: Self = Self(31);

    /// The set with exactly these bits, unknown bits included (the server stores an `int`).
    pub const fn from_bits(bits: u32) -> Self {
        Self(bits)
    }

    /// The raw bit mask, as sent on the wire.
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// True when every permission in `other` is also in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// True when the set holds no permission.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets (the `const` spelling of `|`).
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Builds a set from one flag per permission, in `ACL.make`'s order.
    pub const fn from_flags(
        read: bool,
        write: bool,
        create: bool,
        delete: bool,
        admin: bool,
    ) -> Self {
        let mut bits = 0;
        if read {
            bits |= Self::READ.0;
        }
        if write {
            bits |= Self::WRITE.0;
        }
        if create {
            bits |= Self::CREATE.0;
        }
        if delete {
            bits |= Self::DELETE.0;
        }
        if admin {
            bits |= Self::ADMIN.0;
        }
        Self(bits)
    }
}

/// The named permissions, in bit order, for `Debug`.
const NAMES: [(Perms, &str); 5] = [
    (Perms::READ, "READ"),
    (Perms::WRITE, "WRITE"),
    (Perms::CREATE, "CREATE"),
    (Perms::DELETE, "DELETE"),
    (Perms::ADMIN, "ADMIN"),
];

/// The letters of the command-line notation (`cdrwa`), in the order it prints them.
const LETTERS: [(Perms, char); 5] = [
    (Perms::CREATE, 'c'),
    (Perms::DELETE, 'd'),
    (Perms::READ, 'r'),
    (Perms::WRITE, 'w'),
    (Perms::ADMIN, 'a'),
];

impl fmt::Debug for Perms {
    /// Prints `Perms(READ | WRITE)`, `Perms(ALL)` or `Perms(NONE)`; unknown bits print in hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Perms(")?;
        if *self == Self::ALL {
            f.write_str("ALL")?;
        } else if self.is_empty() {
            f.write_str("NONE")?;
        } else {
            let mut first = true;
            let mut sep = |f: &mut fmt::Formatter<'_>| {
                let s = if first { "" } else { " | " };
                first = false;
                f.write_str(s)
            };
            for (perm, name) in NAMES {
                if self.contains(perm) {
                    sep(f)?;
                    f.write_str(name)?;
                }
            }
            let unknown = self.0 & !Self::ALL.0;
            if unknown != 0 {
                sep(f)?;
                write!(f, "{unknown:#x}")?;
            }
        }
        f.write_str(")")
    }
}

impl fmt::Display for Perms {
    /// The command-line notation: a letter per permission in `cdrwa` order, e.g. `rw`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (perm, letter) in LETTERS {
            if self.contains(perm) {
                write!(f, "{letter}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for Perms {
    type Err = Error;

    /// Parses the command-line notation: any of the letters `c`, `d`, `r`, `w`, `a`, in any
    /// order. The empty string is [`Perms::NONE`].
    fn from_str(s: &str) -> Result<Self> {
        s.chars().try_fold(Self::NONE, |acc, c| {
            LETTERS
                .iter()
                .find(|(_, letter)| *letter == c)
                .map(|(perm, _)| acc | *perm)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "invalid permission letter {c:?} in {s:?} (expected any of \"cdrwa\")"
                    ))
                })
        })
    }
}

impl BitOr for Perms {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl BitOrAssign for Perms {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for Perms {
    type Output = Self;

    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl Sub for Perms {
    type Output = Self;

    /// The permissions of `self` that are not in `rhs`.
    fn sub(self, rhs: Self) -> Self {
        Self(self.0 & !rhs.0)
    }
}

/// An identity in an authentication scheme, e.g. `world:anyone` or `ip:10.0.0.0/8`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Id {
    /// The scheme: `world`, `auth`, `digest`, `ip`, `sasl`, `x509`, or a custom one.
    pub scheme: String,
    /// The identity, in the scheme's own format.
    pub id: String,
}

impl Id {
    /// An id from its two parts, taken as given.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`: everybody.
    pub fn anyone() -> Self {
        Self::new("world", "anyone")
    }

    /// `auth:""`: in a create or setACL, the server replaces it with every id the caller has
    /// authenticated as. With no credentials the request fails with [`Error::InvalidAcl`].
    pub fn auth() -> Self {
        Self::new("auth", "")
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.scheme, self.id)
    }
}

/// One ACL entry: `perms` granted to `id`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Acl {
    /// What the id may do.
    pub perms: Perms,
    /// Who is granted the permissions.
    pub id: Id,
}

impl Acl {
    /// An entry from its parts, taken as given.
    pub fn new(perms: Perms, scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            perms,
            id: Id::new(scheme, id),
        }
    }

    /// The equivalent of aiozk's `ACL.make(scheme, id, read, write, create, delete, admin)`.
    ///
    /// The id is used verbatim. In particular a `digest` id must already be
    /// `user:BASE64(SHA1("user:password"))`; use [`Acl::digest`] to compute it from a password.
    pub fn make(
        scheme: impl Into<String>,
        id: impl Into<String>,
        read: bool,
        write: bool,
        create: bool,
        delete: bool,
        admin: bool,
    ) -> Self {
        Self::new(
            Perms::from_flags(read, write, create, delete, admin),
            scheme,
            id,
        )
    }

    /// `perms` for everybody (`world:anyone`).
    pub fn world(perms: Perms) -> Self {
        Self {
            perms,
            id: Id::anyone(),
        }
    }

    /// Every permission for everybody: `world:anyone`, [`Perms::ALL`].
    pub fn anyone_all() -> Self {
        Self::world(Perms::ALL)
    }

    /// `perms` for every id the creating session has authenticated as (`auth:""`).
    ///
    /// The server expands this entry when the ACL is set; a session with no credentials gets
    /// [`Error::InvalidAcl`].
    pub fn auth(perms: Perms) -> Self {
        Self {
            perms,
            id: Id::auth(),
        }
    }

    /// `perms` for the digest user `user` with password `password`; the id is computed here
    /// with [`digest`], so the password itself is never sent.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `user` contains `:`: the server splits its credentials
    /// at the first `:`, so such a user could never authenticate.
    ///
    /// # Examples
    /// ```
    /// use aiozk::{Acl, Perms};
    ///
    /// let acl = Acl::digest(Perms::READ | Perms::WRITE, "alice", "secret")?;
    /// assert_eq!(acl.id.scheme, "digest");
    /// assert!(acl.id.id.starts_with("alice:")); // user:base64(sha1(user:password))
    /// assert!(!acl.id.id.contains("secret"));
    /// # Ok::<(), aiozk::Error>(())
    /// ```
    pub fn digest(perms: Perms, user: &str, password: &str) -> Result<Self> {
        if user.contains(':') {
            return Err(Error::InvalidArgument(format!(
                "digest user {user:?} must not contain ':'"
            )));
        }
        Ok(Self::new(perms, "digest", digest(user, password)))
    }

    /// `perms` for a digest id that is already hashed: `user:BASE64(SHA1("user:password"))`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] unless `user_and_hash` is a user and a non-empty hash joined
    /// by exactly one `:` (the server rejects any other shape with `InvalidAcl`).
    pub fn digest_hashed(perms: Perms, user_and_hash: &str) -> Result<Self> {
        validate_digest_id(user_and_hash)?;
        Ok(Self::new(perms, "digest", user_and_hash))
    }

    /// `perms` for clients connecting from an address or a CIDR block: `10.1.2.3`,
    /// `10.0.0.0/8`, `::1`, `fe80::/10`.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] when `address` is not an IPv4 or IPv6 address, optionally
    /// followed by `/bits` with bits at most 32 (IPv4) or 128 (IPv6).
    pub fn ip(perms: Perms, address: &str) -> Result<Self> {
        validate_ip_id(address)?;
        Ok(Self::new(perms, "ip", address))
    }

    /// `perms` for the SASL principal `user`.
    pub fn sasl(perms: Perms, user: impl Into<String>) -> Self {
        Self::new(perms, "sasl", user)
    }

    /// `perms` for TLS clients whose certificate has the subject distinguished name `dn`.
    pub fn x509(perms: Perms, dn: impl Into<String>) -> Self {
        Self::new(perms, "x509", dn)
    }
}

impl fmt::Display for Acl {
    /// The command-line notation `scheme:id:perms`, e.g. `world:anyone:cdrwa`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.id, self.perms)
    }
}

impl FromStr for Acl {
    type Err = Error;

    /// Parses the command-line notation `scheme:id:perms`.
    ///
    /// The scheme ends at the first `:` and the permissions start after the last one, so ids
    /// holding colons (`digest:user:hash:r`, `ip:::1:r`) work. `digest` and `ip` ids are
    /// checked as by [`Acl::digest_hashed`] and [`Acl::ip`].
    fn from_str(s: &str) -> Result<Self> {
        let bad =
            || Error::InvalidArgument(format!("ACL {s:?} is not of the form scheme:id:perms"));
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        let (id, perms) = rest.rsplit_once(':').ok_or_else(bad)?;
        if scheme.is_empty() {
            return Err(bad());
        }
        let perms: Perms = perms.parse()?;
        match scheme {
            "digest" => validate_digest_id(id)?,
            "ip" => validate_ip_id(id)?,
            _ => {}
        }
        Ok(Self::new(perms, scheme, id))
    }
}

/// `[world:anyone ALL]`: anybody may do anything (ZooKeeper's `OPEN_ACL_UNSAFE`).
pub fn open_acl_unsafe() -> Vec<Acl> {
    vec![Acl::anyone_all()]
}

/// `[auth:"" ALL]`: every permission for the ids the creator has authenticated as
/// (ZooKeeper's `CREATOR_ALL_ACL`). Fails with [`Error::InvalidAcl`] for a session without
/// credentials.
pub fn creator_all_acl() -> Vec<Acl> {
    vec![Acl::auth(Perms::ALL)]
}

/// `[world:anyone READ]`: anybody may read, nobody may change anything (ZooKeeper's
/// `READ_ACL_UNSAFE`).
pub fn read_acl_unsafe() -> Vec<Acl> {
    vec![Acl::world(Perms::READ)]
}

/// `[world:anyone READ, auth:"" ALL]`: anybody may read, only the creator may change the node.
/// Like [`creator_all_acl`], it needs a session with credentials.
pub fn world_read_creator_all() -> Vec<Acl> {
    vec![Acl::world(Perms::READ), Acl::auth(Perms::ALL)]
}

/// The digest id of a user and password: `user:BASE64(SHA1("user:password"))`, the format the
/// `digest` scheme stores and matches (ZooKeeper's `DigestAuthenticationProvider.generateDigest`
/// with its default SHA-1).
pub fn digest(user: &str, password: &str) -> String {
    let hash = Sha1::digest(format!("{user}:{password}").as_bytes());
    let encoded = base64::engine::general_purpose::STANDARD.encode(hash);
    format!("{user}:{encoded}")
}

/// Checks a hashed digest id: a user and a non-empty hash joined by exactly one `:`.
fn validate_digest_id(id: &str) -> Result<()> {
    match id.split_once(':') {
        Some((_, hash)) if !hash.is_empty() && !hash.contains(':') => Ok(()),
        _ => Err(Error::InvalidArgument(format!(
            "digest id {id:?} is not of the form user:BASE64(SHA1(\"user:password\"))"
        ))),
    }
}

/// Checks an `ip` id the way the server's `IPAuthenticationProvider.isValid` does: an address,
/// optionally followed by `/bits` within the address length.
fn validate_ip_id(id: &str) -> Result<()> {
    let bad = |why: &str| Error::InvalidArgument(format!("ip ACL id {id:?}: {why}"));
    let (addr, bits) = match id.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (id, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| bad("not an IPv4 or IPv6 address"))?;
    if let Some(bits) = bits {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits: u8 = bits
            .parse()
            .map_err(|_| bad("the prefix length is not a number"))?;
        if bits > max {
            return Err(bad(if max == 32 {
                "the prefix length of an IPv4 address is at most 32"
            } else {
                "the prefix length of an IPv6 address is at most 128"
            }));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perm_bits_match_zookeeper() {
        assert_eq!(Perms::READ.bits(), 1);
        assert_eq!(Perms::WRITE.bits(), 2);
        assert_eq!(Perms::CREATE.bits(), 4);
        assert_eq!(Perms::DELETE.bits(), 8);
        assert_eq!(Perms::ADMIN.bits(), 16);
        assert_eq!(Perms::ALL.bits(), 31);
        assert_eq!(
            Perms::READ | Perms::WRITE | Perms::CREATE | Perms::DELETE | Perms::ADMIN,
            Perms::ALL
        );
    }

    #[test]
    fn perm_set_operations() {
        let rw = Perms::READ | Perms::WRITE;
        assert!(rw.contains(Perms::READ));
        assert!(rw.contains(rw));
        assert!(!rw.contains(Perms::ADMIN));
        assert!(!rw.contains(Perms::READ | Perms::ADMIN));
        assert!(rw.contains(Perms::NONE));
        assert!(Perms::NONE.is_empty());
        assert_eq!(Perms::ALL - Perms::ADMIN, Perms::from_bits(15));
        assert_eq!(rw & Perms::WRITE, Perms::WRITE);
        let mut p = Perms::NONE;
        p |= Perms::DELETE;
        assert_eq!(p, Perms::DELETE);
        assert_eq!(Perms::READ.union(Perms::ADMIN).bits(), 17);
        assert_eq!(Perms::default(), Perms::NONE);
    }

    #[test]
    fn perm_debug() {
        assert_eq!(
            format!("{:?}", Perms::READ | Perms::WRITE),
            "Perms(READ | WRITE)"
        );
        assert_eq!(format!("{:?}", Perms::ADMIN), "Perms(ADMIN)");
        assert_eq!(format!("{:?}", Perms::ALL), "Perms(ALL)");
        assert_eq!(format!("{:?}", Perms::NONE), "Perms(NONE)");
        assert_eq!(
            format!("{:?}", Perms::from_bits(0x21)),
            "Perms(READ | 0x20)"
        );
    }

    #[test]
    fn perm_letters() {
        assert_eq!(Perms::ALL.to_string(), "cdrwa");
        assert_eq!((Perms::READ | Perms::WRITE).to_string(), "rw");
        assert_eq!(
            "arw".parse::<Perms>().unwrap(),
            Perms::READ | Perms::WRITE | Perms::ADMIN
        );
        assert_eq!("cdrwa".parse::<Perms>().unwrap(), Perms::ALL);
        assert_eq!("".parse::<Perms>().unwrap(), Perms::NONE);
        assert!(matches!(
            "rx".parse::<Perms>(),
            Err(Error::InvalidArgument(_))
        ));
    }

    #[test]
    fn make_matches_aiozk() {
        let acl = Acl::make("world", "anyone", true, false, true, false, true);
        assert_eq!(acl.perms, Perms::READ | Perms::CREATE | Perms::ADMIN);
        assert_eq!(acl.id, Id::anyone());
        let none = Acl::make("ip", "127.0.0.1", false, false, false, false, false);
        assert_eq!(none.perms, Perms::NONE);
        assert_eq!(none.id.scheme, "ip");
        assert_eq!(none.id.id, "127.0.0.1");
        let all = Acl::make("auth", "", true, true, true, true, true);
        assert_eq!(all, Acl::auth(Perms::ALL));
    }

    #[test]
    fn well_known_acls() {
        assert_eq!(
            open_acl_unsafe(),
            vec![Acl::new(Perms::ALL, "world", "anyone")]
        );
        assert_eq!(creator_all_acl(), vec![Acl::new(Perms::ALL, "auth", "")]);
        assert_eq!(
            read_acl_unsafe(),
            vec![Acl::new(Perms::READ, "world", "anyone")]
        );
        assert_eq!(
            world_read_creator_all(),
            vec![
                Acl::new(Perms::READ, "world", "anyone"),
                Acl::new(Perms::ALL, "auth", "")
            ]
        );
        assert_eq!(Acl::anyone_all(), Acl::world(Perms::ALL));
    }

    #[test]
    fn digest_known_vectors() {
        // The example from ZooKeeper's administrator guide (super user, password "test").
        assert_eq!(
            digest("super", "test"),
            "super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        );
        // Computed independently: base64(sha1(b"bob:secret")).
        assert_eq!(digest("bob", "secret"), "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
        assert_eq!(digest("bob", "secret"), digest("bob", "secret"));
        assert_ne!(digest("bob", "secret"), digest("bob", "Secret"));
        let acl = Acl::digest(Perms::READ, "bob", "secret").unwrap();
        assert_eq!(acl.id.scheme, "digest");
        assert_eq!(acl.id.id, "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
        assert!(Acl::digest(Perms::READ, "a:b", "pw").is_err());
    }

    #[test]
    fn digest_hashed_checks_shape() {
        let acl = Acl::digest_hashed(Perms::ALL, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=").unwrap();
        assert_eq!(acl.id.id, "super:D/InIHSb7yEEbrWz8b9l71RjZJU=");
        for bad in ["super", "super:", "a:b:c", ""] {
            assert!(
                matches!(
                    Acl::digest_hashed(Perms::ALL, bad),
                    Err(Error::InvalidArgument(_))
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ip_ids() {
        for good in [
            "127.0.0.1",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "192.168.1.1/32",
            "::1",
            "fe80::/10",
            "2001:db8::/128",
        ] {
            let acl = Acl::ip(Perms::READ, good).unwrap();
            assert_eq!(acl.id, Id::new("ip", good));
        }
        for bad in [
            "",
            "localhost",
            "10.0.0",
            "256.0.0.1",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/x",
            "10.0.0.0/-1",
            "::1/129",
            "[::1]",
            "10.0.0.0/8/8",
        ] {
            assert!(
                matches!(Acl::ip(Perms::READ, bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn other_schemes() {
        assert_eq!(
            Acl::sasl(Perms::ALL, "bob"),
            Acl::new(Perms::ALL, "sasl", "bob")
        );
        assert_eq!(
            Acl::x509(Perms::READ, "CN=client,O=example"),
            Acl::new(Perms::READ, "x509", "CN=client,O=example")
        );
    }

    #[test]
    fn command_line_notation() {
        let acl: Acl = "world:anyone:cdrwa".parse().unwrap();
        assert_eq!(acl, Acl::anyone_all());
        assert_eq!(acl.to_string(), "world:anyone:cdrwa");
        let digest: Acl = "digest:bob:fyVmFCwVbTJYrznoSu1koqYEYF0=:r".parse().unwrap();
        assert_eq!(digest, Acl::digest(Perms::READ, "bob", "secret").unwrap());
        let ip: Acl = "ip:::1:rw".parse().unwrap();
        assert_eq!(ip, Acl::new(Perms::READ | Perms::WRITE, "ip", "::1"));
        let auth: Acl = "auth::cdrwa".parse().unwrap();
        assert_eq!(auth, Acl::auth(Perms::ALL));
        for bad in [
            "world",
            "world:anyone",
            ":x:r",
            "world:anyone:q",
            "ip:nope:r",
        ] {
            assert!(bad.parse::<Acl>().is_err(), "{bad:?}");
        }
    }
}
