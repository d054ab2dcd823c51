//! Choosing a ZooKeeper release, fetching it from Maven Central into the Maven cache, and
//! finding the `java` launcher.

use std::collections::HashMap;
use std::env;
use std::ffi::OsString;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The release used when neither `ZK_VERSION` nor `ZOOKEEPER_HOME` says otherwise.
pub const DEFAULT_VERSION: &str = "3.9.5";

/// Where Debian's `zookeeper` package puts its jars.
const DEBIAN_JAVA_DIR: &str = "/usr/share/java";

/// Extra Debian jars put on the class path when present: an SLF4J binding and log4j 1.2 (so the
/// server writes a log) and netty-codec (needed by `NettyServerCnxnFactory`, hence by TLS).
const DEBIAN_EXTRA_JARS: &[&str] = &["slf4j-log4j12.jar", "log4j-1.2.jar", "netty-codec.jar"];

/// The Maven plugin that resolves a release and writes its class path; pinned so that a warm
/// cache never needs a newer one.
const DEPENDENCY_PLUGIN: &str = "org.apache.maven.plugins:maven-dependency-plugin:3.6.1";

const DEBIAN_HINT: &str = "install the Debian package zookeeper (apt-get install -y zookeeper)";

/// A ZooKeeper installation on this machine, plus the `java` launcher that runs it.
///
/// Three kinds exist:
///
/// * a release from Maven Central (`ZK_VERSION=3.9.5`, `ZK_VERSION=3.8.6`, ...): the jar
///   `org.apache.zookeeper:zookeeper:<version>`, its runtime dependencies and the libraries
///   its binary release adds (logback, so the server writes a log; metrics-core; snappy-java), downloaded by `mvn` into the user's Maven cache (`~/.m2`);
/// * Debian's package (`ZK_VERSION=debian`, 3.8.0 on Debian 12): the jars in
///   `/usr/share/java`;
/// * an unpacked Apache binary release (`ZOOKEEPER_HOME`, when `ZK_VERSION` is not set).
#[derive(Clone, Debug)]
pub struct ZooKeeperInstall {
    java: PathBuf,
    jars: Vec<PathBuf>,
    home: Option<PathBuf>,
    version: Option<ServerVersion>,
    name: String,
}

/// A ZooKeeper release number such as 3.9.5. Ordered, so tests can write
/// `version >= ServerVersion::new(3, 9, 0)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServerVersion {
    /// The first number (3).
    pub major: u32,
    /// The second number (9 in 3.9.5).
    pub minor: u32,
    /// The third number (5 in 3.9.5).
    pub patch: u32,
}

impl ServerVersion {
    /// The release `major.minor.patch`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self {
            major,
            minor,
            patch,
        }
    }

    /// Parses `3.9.5`; anything after the third number that is not a digit (`3.8.0-debian`)
    /// is ignored. `None` unless the text starts with three dot-separated numbers.
    pub fn parse(text: &str) -> Option<Self> {
        let mut parts = text.splitn(3, '.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let rest = parts.next()?;
        let end = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let patch = rest[..end].parse().ok()?;
        Some(Self::new(major, minor, patch))
    }
}

impl fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl ZooKeeperInstall {
    /// Finds the ZooKeeper that the environment chooses, and `java`.
    ///
    /// * `ZK_VERSION` set (and not empty): as [`ZooKeeperInstall::for_version`] with its value.
    /// * Otherwise, `ZOOKEEPER_HOME` set (and not empty): the class path is every `*.jar` in
    ///   `$ZOOKEEPER_HOME/lib` followed by every `*.jar` directly in `$ZOOKEEPER_HOME` (the
    ///   layout of an unpacked Apache binary release).
    /// * Otherwise the release [`DEFAULT_VERSION`] from Maven Central.
    ///
    /// `java` is looked up on `PATH`, then in `$JAVA_HOME/bin`.
    ///
    /// # Errors
    ///
    /// As for [`ZooKeeperInstall::for_version`]; for `ZOOKEEPER_HOME`, an error of kind
    /// [`io::ErrorKind::NotFound`] when it holds no jar.
    pub fn locate() -> io::Result<Self> {
        if let Some(spec) = env::var("ZK_VERSION").ok().filter(|v| !v.trim().is_empty()) {
            return Self::for_version(spec.trim());
        }
        match env::var_os("ZOOKEEPER_HOME").filter(|h| !h.is_empty()) {
            Some(home) => Self::unpacked(PathBuf::from(home)),
            None => Self::for_version(DEFAULT_VERSION),
        }
    }

    /// Finds the ZooKeeper named by `spec` and `java`: `debian` for Debian's package, or a
    /// release number such as `3.9.5` for that release from Maven Central.
    ///
    /// A release is resolved once with `mvn` (Maven must be installed): a small generated pom
    /// in the test kit's cache directory (`$AIOZK_TESTKIT_CACHE`, else
    /// `$XDG_CACHE_HOME/aiozk-testkit`, else `~/.cache/aiozk-testkit`) names the release and
    /// logback, and `mvn dependency:build-classpath` downloads the jars into the Maven cache
    /// and writes their paths into a file next to the pom. Later calls read that file and
    /// start no `mvn` at all while every jar it lists still exists, so a warm cache works
    /// offline. When the file is missing or stale, `mvn -o` (offline) is tried before an
    /// online `mvn`.
    ///
    /// # Errors
    ///
    /// [`io::ErrorKind::InvalidInput`] for a `spec` that is neither `debian` nor a release
    /// number; [`io::ErrorKind::NotFound`] when Debian's package, `mvn` or `java` is missing,
    /// or when Maven cannot resolve the release (the message names the version and ends with
    /// Maven's own error lines).
    pub fn for_version(spec: &str) -> io::Result<Self> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("debian") {
            return Self::debian();
        }
        let valid = ServerVersion::parse(spec).is_some()
            && spec
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c));
        if !valid {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "ZooKeeper version {spec:?} is neither `debian` nor a release number such as \
                     {DEFAULT_VERSION} (set ZK_VERSION or --version to one of those)"
                ),
            ));
        }
        Self::maven(spec)
    }

    fn debian() -> io::Result<Self> {
        let dir = Path::new(DEBIAN_JAVA_DIR);
        let main = dir.join("zookeeper.jar");
        if !main.is_file() {
            return Err(not_found(format!(
                "ZooKeeper `debian` not found: {} does not exist; {DEBIAN_HINT}, or choose a \
                 release from Maven Central with ZK_VERSION={DEFAULT_VERSION}",
                main.display()
            )));
        }
        let mut jars = vec![main];
        jars.extend(
            DEBIAN_EXTRA_JARS
                .iter()
                .map(|j| dir.join(j))
                .filter(|p| p.is_file()),
        );
        // The package links zookeeper-<version>.jar to zookeeper.jar.
        let version = fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let v = ServerVersion::parse(name.strip_prefix("zookeeper-")?)?;
                let target = fs::read_link(e.path()).ok()?;
                (target == Path::new("zookeeper.jar")).then_some(v)
            })
            .max();
        Ok(Self {
            java: find_java()?,
            jars,
            home: None,
            version,
            name: "debian".to_owned(),
        })
    }

    fn unpacked(home: PathBuf) -> io::Result<Self> {
        let mut jars = jars_in(&home.join("lib"));
        jars.extend(jars_in(&home));
        if jars.is_empty() {
            return Err(not_found(format!(
                "ZooKeeper not found: ZOOKEEPER_HOME={} contains no *.jar in lib/ or at its top \
                 level; point it to an unpacked Apache ZooKeeper binary release, or unset it and \
                 choose a release with ZK_VERSION={DEFAULT_VERSION} or ZK_VERSION=debian \
                 ({DEBIAN_HINT})",
                home.display()
            )));
        }
        let version = jars
            .iter()
            .filter_map(|j| j.file_name()?.to_str())
            .filter_map(|n| n.strip_prefix("zookeeper-")?.strip_suffix(".jar"))
            .find_map(ServerVersion::parse);
        Ok(Self {
            java: find_java()?,
            jars,
            name: format!("ZOOKEEPER_HOME={}", home.display()),
            home: Some(home),
            version,
        })
    }

    fn maven(version: &str) -> io::Result<Self> {
        // One resolution per release and process; concurrent tests wait for the first.
        static RESOLVED: OnceLock<Mutex<HashMap<String, Vec<PathBuf>>>> = OnceLock::new();
        let java = find_java()?;
        let mut resolved = RESOLVED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let jars = match resolved.get(version) {
            Some(jars) => jars.clone(),
            None => {
                let jars = resolve_release(version)?;
                resolved.insert(version.to_owned(), jars.clone());
                jars
            }
        };
        Ok(Self {
            java,
            jars,
            home: None,
            version: ServerVersion::parse(version),
            name: version.to_owned(),
        })
    }

    /// The `java` executable that runs the servers.
    pub fn java(&self) -> &Path {
        &self.java
    }

    /// The jars on the class path, in order.
    pub fn jars(&self) -> &[PathBuf] {
        &self.jars
    }

    /// The class path as one string, entries separated by `:`.
    pub fn classpath(&self) -> OsString {
        let mut cp = OsString::new();
        for (i, jar) in self.jars.iter().enumerate() {
            if i > 0 {
                cp.push(":");
            }
            cp.push(jar);
        }
        cp
    }

    /// `$ZOOKEEPER_HOME` when the installation was found through it, `None` otherwise.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// The release: the number asked for, Debian's package version, or the number in the
    /// name of `$ZOOKEEPER_HOME`'s `zookeeper-X.Y.Z.jar`. `None` when it cannot be told.
    pub fn version(&self) -> Option<ServerVersion> {
        self.version
    }

    /// How the installation was chosen: the release number, `debian`, or
    /// `ZOOKEEPER_HOME=...`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn not_found(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg)
}

/// The test kit's own cache directory (generated poms and class path files).
pub(crate) fn cache_dir() -> io::Result<PathBuf> {
    let var = |name: &str| {
        env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    if let Some(dir) = var("AIOZK_TESTKIT_CACHE") {
        return Ok(dir);
    }
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return Ok(dir.join("aiozk-testkit"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".cache").join("aiozk-testkit")),
        None => Err(not_found(
            "no cache directory for ZooKeeper releases: set HOME, XDG_CACHE_HOME or \
             AIOZK_TESTKIT_CACHE"
                .to_owned(),
        )),
    }
}

/// The libraries a server needs besides the release's own runtime dependencies, which its pom
/// leaves optional or `provided` (the binary release ships them in `lib/`): logback (the
/// logging binding), metrics-core (the default metrics provider) and snappy-java (loaded
/// whenever a snapshot is named). Their versions come from the release's parent pom, so they
/// are the ones it was built with.
const SERVER_LIBRARIES: &[(&str, &str)] = &[
    ("ch.qos.logback", "logback-classic"),
    ("io.dropwizard.metrics", "metrics-core"),
    ("org.xerial.snappy", "snappy-java"),
];

/// The pom whose runtime class path is a runnable server of `version`.
fn release_pom(version: &str) -> String {
    let mut deps = format!(
        "    <dependency>\n      <groupId>org.apache.zookeeper</groupId>\n      \
         <artifactId>zookeeper</artifactId>\n      <version>{version}</version>\n    \
         </dependency>\n"
    );
    for (group, artifact) in SERVER_LIBRARIES {
        deps.push_str(&format!(
            "    <dependency>\n      <groupId>{group}</groupId>\n      \
             <artifactId>{artifact}</artifactId>\n    </dependency>\n"
        ));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <project xmlns=\"http://maven.apache.org/POM/4.0.0\">\n  \
         <modelVersion>4.0.0</modelVersion>\n  \
         <groupId>aiozk-testkit</groupId>\n  \
         <artifactId>zookeeper-server</artifactId>\n  \
         <version>{version}</version>\n  \
         <packaging>pom</packaging>\n  \
         <dependencyManagement>\n    <dependencies>\n      <dependency>\n        \
         <groupId>org.apache.zookeeper</groupId>\n        \
         <artifactId>parent</artifactId>\n        \
         <version>{version}</version>\n        \
         <type>pom</type>\n        \
         <scope>import</scope>\n      \
         </dependency>\n    </dependencies>\n  </dependencyManagement>\n  \
         <dependencies>\n{deps}  </dependencies>\n</project>\n"
    )
}

/// The jars of a class path file, when the file exists and every jar in it does.
fn read_classpath(path: &Path) -> Option<Vec<PathBuf>> {
    let text = fs::read_to_string(path).ok()?;
    let jars: Vec<PathBuf> = env::split_paths(text.trim()).collect();
    let complete = !jars.is_empty() && jars.iter().all(|j| j.is_file());
    complete.then_some(jars)
}

fn resolve_release(version: &str) -> io::Result<Vec<PathBuf>> {
    let dir = cache_dir()?.join(format!("zookeeper-{version}"));
    let pom = dir.join("pom.xml");
    resolve_pom(&dir, &release_pom(version)).map_err(|(e, failure)| match failure {
        None => e,
        Some(failure) => not_found(format!(
            "ZooKeeper {version} could not be fetched from Maven Central \
             (org.apache.zookeeper:zookeeper:{version} and its runtime dependencies, with the pom \
             {}); check that {version} is a released version whose parent pom Maven serves and \
             that Maven Central can be reached, or use ZK_VERSION=debian. Maven said:\n{failure}",
            pom.display()
        )),
    })
}

/// Resolves the runtime class path of the pom `wanted`, kept as `dir/pom.xml`, with `mvn`
/// (offline first), and remembers it in `dir/classpath.txt`. The error comes with Maven's
/// own error lines when Maven ran but failed.
pub(crate) fn resolve_pom(
    dir: &Path,
    wanted: &str,
) -> Result<Vec<PathBuf>, (io::Error, Option<String>)> {
    let plain = |e: io::Error| (e, None);
    let classpath = dir.join("classpath.txt");
    let pom = dir.join("pom.xml");
    // The class path file belongs to the pom beside it; a pom of another test kit version
    // means resolving again.
    let same_pom = fs::read_to_string(&pom).is_ok_and(|p| p == wanted);
    if same_pom {
        if let Some(jars) = read_classpath(&classpath) {
            return Ok(jars);
        }
    }
    fs::create_dir_all(dir).map_err(plain)?;
    let _ = fs::remove_file(&classpath);
    fs::write(&pom, wanted).map_err(plain)?;
    // Another process may resolve the same release at the same time: each writes its own
    // file and renames it into place.
    let partial = dir.join(format!("classpath.{}.tmp", std::process::id()));
    let mut failure = String::new();
    for offline in [true, false] {
        let _ = fs::remove_file(&partial);
        let mut mvn = Command::new("mvn");
        mvn.arg("-B").arg("-q");
        // Offline first, so a warm cache needs no network; online with -U, so a failure that
        // Maven cached earlier (a network outage) is retried.
        mvn.arg(if offline { "-o" } else { "-U" });
        let out = mvn
            .arg("-f")
            .arg(&pom)
            .arg(format!("{DEPENDENCY_PLUGIN}:build-classpath"))
            .arg("-Dmdep.includeScope=runtime")
            .arg(format!("-Dmdep.outputFile={}", partial.display()))
            .stdin(Stdio::null())
            .output()
            .map_err(|e| {
                plain(not_found(format!(
                    "the jars of {} are fetched from Maven Central by Maven, but `mvn` could \
                     not be run ({e}); install it (apt-get install -y maven)",
                    pom.display()
                )))
            })?;
        if out.status.success() {
            if let Some(jars) = read_classpath(&partial) {
                fs::rename(&partial, &classpath).map_err(plain)?;
                return Ok(jars);
            }
        }
        failure = maven_errors(&out.stdout, &out.stderr);
    }
    let _ = fs::remove_file(&partial);
    Err((
        not_found(format!("Maven could not resolve {}", pom.display())),
        Some(failure),
    ))
}

/// Maven's `[ERROR]` lines (at most 15), or the end of its output when it printed none.
fn maven_errors(stdout: &[u8], stderr: &[u8]) -> String {
    let text = strip_escapes(&format!(
        "{}{}",
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr)
    ));
    let errors: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("[ERROR]") && l.trim() != "[ERROR]")
        .take(15)
        .collect();
    if errors.is_empty() {
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    } else {
        errors.join("\n")
    }
}

/// `text` without terminal escape sequences (Maven colours some lines even in batch mode).
fn strip_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, ended by a letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every `*.jar` file directly in `dir`, sorted by name; empty if `dir` cannot be read.
fn jars_in(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut jars: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "jar") && p.is_file())
        .collect();
    jars.sort();
    jars
}

fn find_java() -> io::Result<PathBuf> {
    if let Some(path) = env::var_os("PATH") {
        for dir in env::split_paths(&path) {
            let candidate = dir.join("java");
            if is_executable(&candidate) {
                return Ok(candidate);
            }
        }
    }
    if let Some(home) = env::var_os("JAVA_HOME").filter(|h| !h.is_empty()) {
        let candidate = PathBuf::from(home).join("bin").join("java");
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(not_found(
        "java not found on PATH (nor in $JAVA_HOME/bin); install a Java runtime, for example \
         apt-get install -y default-jre-headless (the Debian package zookeeper pulls one in)"
            .to_owned(),
    ))
}

fn is_executable(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(
            ServerVersion::parse("3.9.5"),
            Some(ServerVersion::new(3, 9, 5))
        );
        assert_eq!(
            ServerVersion::parse("3.8.0-debian"),
            Some(ServerVersion::new(3, 8, 0))
        );
        assert_eq!(ServerVersion::parse("3.9"), None);
        assert_eq!(ServerVersion::parse("debian"), None);
        assert!(ServerVersion::new(3, 8, 6) < ServerVersion::new(3, 9, 0));
        assert_eq!(ServerVersion::new(3, 10, 1).to_string(), "3.10.1");
    }

    #[test]
    fn rejects_a_version_that_is_no_release_number() {
        for spec in ["latest", "3.9", "3.9.5\"><x>", "../3.9.5"] {
            let err = ZooKeeperInstall::for_version(spec).expect_err(spec);
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{spec}");
        }
    }

    #[test]
    fn maven_errors_keep_the_error_lines() {
        let out = b"[INFO] x\n[ERROR] Failed to read artifact descriptor\n[ERROR] \n";
        assert_eq!(
            maven_errors(out, b""),
            "[ERROR] Failed to read artifact descriptor"
        );
        assert_eq!(maven_errors(b"a\nb\n", b"c\n"), "a\nb\nc");
        assert_eq!(
            maven_errors(b"\x1b[0m\x1b[1;31m[ERROR]\x1b[m bad\n", b""),
            "[ERROR] bad"
        );
    }
}
