//! The ZooKeeper Java client as benchmark client `java`: `java/BenchClient.java`, compiled at
//! run time against the client from the local Maven repository (Maven fetches it from Maven
//! Central the first time). Nothing is packaged or committed but the source and `pom.xml`.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::Command;

/// The Java client's version, as named in `java/pom.xml`.
pub const JAVA_CLIENT_VERSION: &str = "3.9.5";

/// A compiled Java client, ready to run.
#[derive(Clone, Debug)]
pub struct JavaClient {
    /// The class path: the compiled class and the client's jars.
    pub classpath: String,
}

impl JavaClient {
    /// The command line that runs the client's `main` (the harness appends the options).
    pub fn command(&self) -> Vec<String> {
        vec![
            "java".into(),
            "-cp".into(),
            self.classpath.clone(),
            "BenchClient".into(),
        ]
    }
}

fn source_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("java")
}

/// Resolves the client's class path with Maven (offline first, then from Maven Central) and
/// compiles `BenchClient.java` into `out`.
///
/// # Errors
/// A message when Maven or `javac` is missing or fails.
pub async fn prepare(out: &Path) -> Result<JavaClient, String> {
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let cp_file = out.join("classpath.txt");
    let pom = source_dir().join("pom.xml");
    let resolve = |offline: bool| {
        let mut c = Command::new("mvn");
        c.arg("-q");
        if offline {
            c.arg("-o");
        }
        c.args(["-f", &pom.display().to_string()])
            .arg("dependency:build-classpath")
            .arg(format!("-Dmdep.outputFile={}", cp_file.display()))
            .stdin(Stdio::null());
        async move { c.output().await }
    };
    let mut ok = matches!(resolve(true).await, Ok(o) if o.status.success());
    if !ok {
        eprintln!("fetching the ZooKeeper Java client {JAVA_CLIENT_VERSION} with Maven");
        let o = resolve(false)
            .await
            .map_err(|e| format!("mvn: {e} (is Maven installed?)"))?;
        ok = o.status.success();
        if !ok {
            return Err(format!(
                "mvn dependency:build-classpath: {}",
                String::from_utf8_lossy(&o.stdout).trim()
            ));
        }
    }
    let jars = std::fs::read_to_string(&cp_file)
        .map_err(|e| format!("{}: {e}", cp_file.display()))?
        .trim()
        .to_owned();
    let classes = out.join("classes");
    std::fs::create_dir_all(&classes).map_err(|e| format!("{}: {e}", classes.display()))?;
    let o = Command::new("javac")
        .args(["-nowarn", "-cp", &jars, "-d"])
        .arg(&classes)
        .arg(source_dir().join("BenchClient.java"))
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| format!("javac: {e}"))?;
    if !o.status.success() {
        return Err(format!(
            "javac BenchClient.java: {}",
            String::from_utf8_lossy(&o.stderr).trim()
        ));
    }
    Ok(JavaClient {
        classpath: format!("{}:{jars}", classes.display()),
    })
}
