//! ZooKeeper paths: validation, the chroot, and small path helpers.
//!
//! The rules are ZooKeeper's own (`PathUtils.validatePath`), applied before anything is sent so
//! that a bad path fails locally with [`Error::InvalidPath`] instead of costing a round trip
//! and coming back as a bare `BadArguments`.

use std::fmt;

use crate::{Error, Result};

/// A path that passed [`validate_path`].
///
/// Holding a `ZkPath` proves the path is valid, so code that receives one need not check it
/// again.
///
/// # Examples
/// ```
/// use aiozk::path::ZkPath;
///
/// let path = ZkPath::new("/app/config")?;
/// assert_eq!(path.basename(), "config");
/// assert_eq!(path.parent(), Some(ZkPath::new("/app")?));
/// assert_eq!(path.join("db")?.as_str(), "/app/config/db");
/// assert!(ZkPath::new("app/config").is_err()); // not absolute
/// assert!(ZkPath::new("/app/").is_err()); // trailing slash
/// # Ok::<(), aiozk::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ZkPath(String);

impl ZkPath {
    /// The root path, `/`.
    pub fn root() -> Self {
        Self("/".to_owned())
    }

    /// Validates `path` and wraps it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] when `path` breaks one of ZooKeeper's path rules (see
    /// [`validate_path`]).
    pub fn new(path: impl Into<String>) -> Result<Self> {
        let path = path.into();
        validate_path(&path)?;
        Ok(Self(path))
    }

    /// The path as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The parent path, or `None` for the root.
    pub fn parent(&self) -> Option<Self> {
        // The parent of a valid path is valid: it is a prefix ending just before a '/', so it
        // keeps only whole, already-checked segments.
        parent(&self.0).map(|p| Self(p.to_owned()))
    }

    /// The last segment of the path (empty for the root).
    pub fn basename(&self) -> &str {
        basename(&self.0)
    }

    /// Appends `child` as a new last segment.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] when the result is not a valid path, for example when `child` is
    /// empty, `.`, `..` or contains a `/` at either end.
    pub fn join(&self, child: &str) -> Result<Self> {
        Self::new(join(&self.0, child))
    }

    /// Unwraps the path string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for ZkPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ZkPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for ZkPath {
    type Error = Error;

    fn try_from(path: &str) -> Result<Self> {
        Self::new(path)
    }
}

impl TryFrom<String> for ZkPath {
    type Error = Error;

    fn try_from(path: String) -> Result<Self> {
        Self::new(path)
    }
}

impl std::str::FromStr for ZkPath {
    type Err = Error;

    fn from_str(path: &str) -> Result<Self> {
        Self::new(path)
    }
}

impl From<ZkPath> for String {
    fn from(path: ZkPath) -> Self {
        path.0
    }
}

/// Checks `path` against ZooKeeper's path rules.
///
/// A path is valid when it is non-empty, starts with `/`, does not end with `/` (except `/`
/// itself), has no empty segment, no segment that is exactly `.` or `..`, no NUL, and none of
/// the characters U+0001–U+001F, U+007F–U+009F, U+D800–U+F8FF and U+FFF0–U+FFFF.
///
/// # Notable behaviour
///
/// ZooKeeper checks UTF-16 code units, so a character outside the Basic Multilingual Plane
/// (an emoji, say) reaches it as a surrogate pair and is rejected by the server. This function
/// rejects such characters too, so the client and the server agree.
///
/// # Errors
///
/// [`Error::InvalidPath`] naming the first rule the path breaks.
pub fn validate_path(path: &str) -> Result<()> {
    check(path).map_err(|reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    })
}

/// Checks the path given to a sequential create.
///
/// ZooKeeper validates a sequential path with a `1` appended, standing in for the sequence
/// number the server adds. So `/queue/` is a valid prefix (it becomes `/queue/0000000001`),
/// while `/queue//` is not.
///
/// # Errors
///
/// [`Error::InvalidPath`] carrying `path` as given (without the `1`).
pub fn validate_sequential_prefix(path: &str) -> Result<()> {
    check(&format!("{path}1")).map_err(|reason| Error::InvalidPath {
        path: path.to_owned(),
        reason,
    })
}

/// The rule check shared by both validators; returns the reason of the first broken rule.
fn check(path: &str) -> std::result::Result<(), &'static str> {
    if path.is_empty() {
        return Err("path must not be empty");
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err("path must start with '/'");
    };
    if rest.is_empty() {
        return Ok(());
    }
    if rest.ends_with('/') {
        return Err("path must not end with '/'");
    }
    // Printable ASCII, the common case, breaks no character rule: only the segments need
    // checking (the per-character rules below cost more than the rest of a request).
    let printable = path.bytes().all(|b| (0x20..0x7f).contains(&b));
    if !printable && path.contains('\0') {
        return Err("path must not contain the NUL character");
    }
    for segment in rest.split('/') {
        match segment {
            "" => return Err("path must not contain an empty segment (\"//\")"),
            "." | ".." => return Err("path must not contain a \".\" or \"..\" segment"),
            _ => {}
        }
        if printable {
            continue;
        }
        for c in segment.chars() {
            if let Some(reason) = forbidden_char(c) {
                return Err(reason);
            }
        }
    }
    Ok(())
}

/// Why ZooKeeper refuses `c` in a path, if it does.
fn forbidden_char(c: char) -> Option<&'static str> {
    match c {
        '\u{1}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => {
            Some("path must not contain control characters (U+0001-U+001F, U+007F-U+009F)")
        }
        // A Rust string cannot hold lone surrogates, so only the private-use part of
        // ZooKeeper's U+D800-U+F8FF range can actually occur here.
        '\u{e000}'..='\u{f8ff}' => {
            Some("path must not contain private-use characters (U+E000-U+F8FF)")
        }
        '\u{fff0}'..='\u{ffff}' => Some("path must not contain characters U+FFF0-U+FFFF"),
        // ZooKeeper sees these as UTF-16 surrogate pairs, which fall in U+D800-U+DFFF.
        '\u{10000}'..=char::MAX => Some(
            "path must not contain characters outside the Basic Multilingual Plane \
             (ZooKeeper sees them as surrogates)",
        ),
        _ => None,
    }
}

/// A chroot: the server path that the client's `/` stands for.
///
/// Every outgoing path gets the chroot prepended ([`Chroot::prefix`]) and paths coming back
/// from the server get it removed ([`Chroot::strip`]). The client never creates the chroot
/// node; if it does not exist, operations fail with [`Error::NoNode`].
///
/// # Examples
/// ```
/// use aiozk::path::Chroot;
///
/// let chroot = Chroot::new(Some("/app"))?;
/// assert_eq!(chroot.prefix("/"), "/app");
/// assert_eq!(chroot.prefix("/config"), "/app/config");
/// assert_eq!(chroot.strip("/app/config"), "/config");
/// assert_eq!(chroot.strip("/zookeeper/config"), "/zookeeper/config"); // outside: unchanged
/// # Ok::<(), aiozk::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Chroot(Option<String>);

impl Chroot {
    /// Builds a chroot. `None`, `""` and `"/"` all mean "no chroot".
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPath`] when the chroot is not a valid path. As in ZooKeeper, a trailing
    /// slash (`/app/`) is not trimmed but rejected.
    pub fn new(chroot: Option<&str>) -> Result<Self> {
        match chroot {
            None | Some("" | "/") => Ok(Self(None)),
            Some(path) => {
                validate_path(path)?;
                Ok(Self(Some(path.to_owned())))
            }
        }
    }

    /// The chroot path, or `None` when there is no chroot.
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// True when there is no chroot (the client's `/` is the server's `/`).
    pub fn is_root(&self) -> bool {
        self.0.is_none()
    }

    /// Turns a client path into the server path: client `/` becomes the chroot itself and
    /// client `/x` becomes `chroot/x`. Without a chroot the path is returned unchanged.
    pub fn prefix(&self, client_path: &str) -> String {
        match &self.0 {
            None => client_path.to_owned(),
            Some(chroot) if client_path == "/" => chroot.clone(),
            Some(chroot) => format!("{chroot}{client_path}"),
        }
    }

    /// Turns a server path back into a client path.
    ///
    /// The chroot itself becomes `/`, a path below the chroot loses the chroot prefix, and any
    /// other path (for example `/zookeeper/config`) is returned unchanged. Without a chroot
    /// the path is returned unchanged.
    pub fn strip<'a>(&self, server_path: &'a str) -> &'a str {
        let Some(chroot) = &self.0 else {
            return server_path;
        };
        match server_path.strip_prefix(chroot.as_str()) {
            Some("") => "/",
            // Requiring the '/' keeps `/apple` from being cut down to `le` under `/app`.
            Some(rest) if rest.starts_with('/') => rest,
            _ => server_path,
        }
    }
}

impl fmt::Display for Chroot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_deref().unwrap_or("/"))
    }
}

/// The parent of `path`: `/a/b` → `/a`, `/a` → `/`, and `None` for `/` (or for a string
/// with no `/` at all).
pub fn parent(path: &str) -> Option<&str> {
    if path == "/" {
        return None;
    }
    match path.rfind('/')? {
        0 => Some("/"),
        i => Some(&path[..i]),
    }
}

/// Joins a parent path and a child name: `join("/", "a")` is `/a`, `join("/a", "b")` is
/// `/a/b`. `child` is appended as given; the result is not validated.
pub fn join(parent: &str, child: &str) -> String {
    if parent.ends_with('/') {
        format!("{parent}{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// The last segment of `path`: `/a/b` → `b`; empty for `/`.
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(path: &str) -> &'static str {
        match validate_path(path) {
            Err(Error::InvalidPath { path: p, reason }) => {
                assert_eq!(p, path);
                reason
            }
            other => panic!("{path:?} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn valid_paths() {
        for p in [
            "/",
            "/a",
            "/a/b/c",
            "/..a",
            "/a.",
            "/.a./b..",
            "/...",
            "/zookeeper/config",
            "/with space",
            "/ünïcödé/日本",
            "/\u{a0}",
            "/\u{d7ff}",
            "/\u{f900}",
            "/\u{ffef}",
        ] {
            assert_eq!(validate_path(p), Ok(()), "{p:?}");
        }
    }

    #[test]
    fn invalid_paths_name_the_rule() {
        assert!(reason("").contains("empty"));
        assert!(reason("a").contains("start"));
        assert!(reason("a/b").contains("start"));
        assert!(reason("/a/").contains("end"));
        assert!(reason("//").contains("end"));
        assert!(reason("/a//b").contains("empty segment"));
        assert!(reason("//a").contains("empty segment"));
        assert!(reason("/a\0b").contains("NUL"));
        assert!(reason("/.").contains("\".\""));
        assert!(reason("/..").contains("\".\""));
        assert!(reason("/a/./b").contains("\".\""));
        assert!(reason("/a/../b").contains("\".\""));
        assert!(reason("/a/..").contains("\".\""));
        assert!(reason("/a\u{1}").contains("control"));
        assert!(reason("/a\u{1f}").contains("control"));
        assert!(reason("/a\u{7f}").contains("control"));
        assert!(reason("/a\u{9f}").contains("control"));
        assert!(reason("/a\u{e000}").contains("private-use"));
        assert!(reason("/a\u{f8ff}").contains("private-use"));
        assert!(reason("/a\u{fff0}").contains("U+FFF0"));
        assert!(reason("/a\u{ffff}").contains("U+FFF0"));
        assert!(reason("/a\u{1f600}").contains("Basic Multilingual Plane"));
    }

    #[test]
    fn sequential_prefix_gets_a_one_appended() {
        assert_eq!(validate_sequential_prefix("/queue/"), Ok(()));
        assert_eq!(validate_sequential_prefix("/lock-"), Ok(()));
        assert_eq!(validate_sequential_prefix("/"), Ok(()));
        assert_eq!(validate_sequential_prefix("/a/."), Ok(()));
        assert!(validate_sequential_prefix("/queue//").is_err());
        assert!(validate_sequential_prefix("").is_err());
        assert_eq!(
            validate_sequential_prefix("queue"),
            Err(Error::InvalidPath {
                path: "queue".into(),
                reason: "path must start with '/'",
            })
        );
    }

    #[test]
    fn zk_path_parses() {
        let p: ZkPath = "/a/b".parse().unwrap();
        assert_eq!(p.as_str(), "/a/b");
        assert_eq!(p.basename(), "b");
        assert_eq!(p.parent(), Some(ZkPath::new("/a").unwrap()));
        assert_eq!(ZkPath::root().parent(), None);
        assert_eq!(p.join("c").unwrap().as_str(), "/a/b/c");
        assert!(p.join("").is_err());
        assert!(p.join("..").is_err());
        assert!(ZkPath::try_from("nope").is_err());
        assert_eq!(ZkPath::root().join("x").unwrap().to_string(), "/x");
    }

    #[test]
    fn chroot_construction() {
        assert!(Chroot::new(None).unwrap().is_root());
        assert!(Chroot::new(Some("")).unwrap().is_root());
        assert!(Chroot::new(Some("/")).unwrap().is_root());
        assert_eq!(Chroot::new(None).unwrap(), Chroot::default());
        let c = Chroot::new(Some("/app")).unwrap();
        assert_eq!(c.as_str(), Some("/app"));
        assert!(!c.is_root());
        assert!(matches!(
            Chroot::new(Some("/app/")),
            Err(Error::InvalidPath { .. })
        ));
        assert!(Chroot::new(Some("app")).is_err());
    }

    #[test]
    fn chroot_prefix_and_strip() {
        let c = Chroot::new(Some("/app")).unwrap();
        assert_eq!(c.prefix("/"), "/app");
        assert_eq!(c.prefix("/x"), "/app/x");
        assert_eq!(c.prefix("/x/y"), "/app/x/y");
        assert_eq!(c.strip("/app"), "/");
        assert_eq!(c.strip("/app/x"), "/x");
        assert_eq!(c.strip("/apple"), "/apple");
        assert_eq!(c.strip("/apple/x"), "/apple/x");
        assert_eq!(c.strip("/zookeeper/config"), "/zookeeper/config");

        let none = Chroot::default();
        assert_eq!(none.prefix("/x"), "/x");
        assert_eq!(none.prefix("/"), "/");
        assert_eq!(none.strip("/x"), "/x");
        assert_eq!(none.to_string(), "/");
        assert_eq!(c.to_string(), "/app");
    }

    #[test]
    fn helpers() {
        assert_eq!(parent("/a/b"), Some("/a"));
        assert_eq!(parent("/a"), Some("/"));
        assert_eq!(parent("/"), None);
        assert_eq!(parent("a"), None);
        assert_eq!(join("/", "a"), "/a");
        assert_eq!(join("/a", "b"), "/a/b");
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(basename("/a"), "a");
        assert_eq!(basename("/"), "");
    }

    /// A valid segment: BMP characters outside the forbidden ranges, never `.` or `..`.
    fn segment() -> impl Strategy<Value = String> {
        let ch = prop_oneof![
            4 => proptest::char::range('a', 'z'),
            1 => proptest::char::range('.', '.'),
            1 => proptest::char::range(' ', '~').prop_filter("no slash", |c| *c != '/'),
            1 => proptest::char::range('\u{a0}', '\u{d7ff}'),
            1 => proptest::char::range('\u{f900}', '\u{ffef}'),
        ];
        proptest::collection::vec(ch, 1..8)
            .prop_map(|cs| cs.into_iter().collect::<String>())
            .prop_filter("not a relative segment", |s| s != "." && s != "..")
    }

    fn valid_path() -> impl Strategy<Value = String> {
        proptest::collection::vec(segment(), 0..5)
            .prop_map(|segs| segs.iter().fold("/".to_owned(), |p, s| join(&p, s)))
    }

    proptest! {
        #[test]
        fn joined_segments_validate(path in valid_path()) {
            prop_assert_eq!(validate_path(&path), Ok(()));
            prop_assert_eq!(ZkPath::new(path.clone()).map(String::from), Ok(path));
        }

        #[test]
        fn parent_and_basename_rebuild_the_path(path in valid_path()) {
            if let Some(p) = parent(&path) {
                prop_assert_eq!(validate_path(p), Ok(()));
                prop_assert_eq!(join(p, basename(&path)), path);
            } else {
                prop_assert_eq!(path, "/");
            }
        }

        #[test]
        fn prefix_then_strip_round_trips(chroot in valid_path(), path in valid_path()) {
            let chroot = Chroot::new(Some(&chroot)).unwrap();
            let server = chroot.prefix(&path);
            prop_assert_eq!(validate_path(&server), Ok(()));
            prop_assert_eq!(chroot.strip(&server), path.as_str());
        }

        #[test]
        fn strip_outside_the_chroot_is_identity(chroot in valid_path(), path in valid_path()) {
            prop_assume!(path != chroot && !path.starts_with(&format!("{chroot}/")));
            let chroot = Chroot::new(Some(&chroot)).unwrap();
            prop_assert_eq!(chroot.strip(&path), path.as_str());
        }
    }
}
