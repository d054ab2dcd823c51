//! Locating the ZooKeeper jars and the `java` launcher.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Where Debian's `zookeeper` package puts its jars.
const DEBIAN_JAVA_DIR: &str = "/usr/share/java";

/// Extra Debian jars put on the class path when present: an SLF4J binding and log4j 1.2 (so the
/// server writes a log) and netty-codec (needed by `NettyServerCnxnFactory`, hence by TLS).
const DEBIAN_EXTRA_JARS: &[&str] = &["slf4j-log4j12.jar", "log4j-1.2.jar", "netty-codec.jar"];

const INSTALL_HINT: &str =
    "install the Debian package zookeeper (apt-get install -y zookeeper) or set ZOOKEEPER_HOME";

/// A ZooKeeper installation found on this machine, plus the `java` launcher that runs it.
#[derive(Clone, Debug)]
pub struct ZooKeeperInstall {
    java: PathBuf,
    jars: Vec<PathBuf>,
    home: Option<PathBuf>,
}

impl ZooKeeperInstall {
    /// Finds ZooKeeper and `java`.
    ///
    /// If `ZOOKEEPER_HOME` is set (and not empty), the class path is every `*.jar` in
    /// `$ZOOKEEPER_HOME/lib` followed by every `*.jar` directly in `$ZOOKEEPER_HOME` (the layout
    /// of an unpacked Apache binary release). Otherwise Debian's layout is used:
    /// `/usr/share/java/zookeeper.jar` (which pulls in its dependencies through its manifest)
    /// plus, when present, `slf4j-log4j12.jar`, `log4j-1.2.jar` and `netty-codec.jar`.
    ///
    /// `java` is looked up on `PATH`, then in `$JAVA_HOME/bin`.
    ///
    /// # Errors
    ///
    /// An error of kind [`io::ErrorKind::NotFound`] whose message says what is missing and how
    /// to install it. Nothing is installed by this crate.
    pub fn locate() -> io::Result<Self> {
        let (jars, home) = match env::var_os("ZOOKEEPER_HOME").filter(|h| !h.is_empty()) {
            Some(home) => {
                let home = PathBuf::from(home);
                let mut jars = jars_in(&home.join("lib"));
                jars.extend(jars_in(&home));
                if jars.is_empty() {
                    return Err(not_found(format!(
                        "ZooKeeper not found: ZOOKEEPER_HOME={} contains no *.jar in lib/ or at \
                         its top level; {INSTALL_HINT} to an unpacked Apache ZooKeeper binary \
                         release",
                        home.display()
                    )));
                }
                (jars, Some(home))
            }
            None => {
                let dir = Path::new(DEBIAN_JAVA_DIR);
                let main = dir.join("zookeeper.jar");
                if !main.is_file() {
                    return Err(not_found(format!(
                        "ZooKeeper not found: {} does not exist and ZOOKEEPER_HOME is not set; \
                         {INSTALL_HINT}",
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
                (jars, None)
            }
        };
        let java = find_java()?;
        Ok(Self { java, jars, home })
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

    /// `$ZOOKEEPER_HOME` when the installation was found through it, `None` for the Debian
    /// layout.
    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }
}

fn not_found(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, msg)
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
