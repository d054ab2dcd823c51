//! The outer process: a private network namespace for the run, created here and removed
//! here whatever happens inside it.

use std::process::{Command, Stdio};

use crate::RunArgs;

/// Removes the namespace (and kills whatever still runs in it) when dropped.
struct Namespace {
    name: String,
}

impl Namespace {
    fn create(name: &str) -> std::io::Result<Self> {
        let out = Command::new("ip")
            .args(["netns", "add", name])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(
                String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            ));
        }
        Ok(Self {
            name: name.to_owned(),
        })
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // Anything left behind (a server whose watchdog has not fired yet) goes first.
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Some(pid) = pid.parse().ok().and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                }
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// Runs one seeded run inside a fresh namespace; returns the controller's exit code (2 when
/// the namespace cannot be made).
pub(crate) fn outer(args: &RunArgs) -> u8 {
    let name = format!("aiozk-proof-{}", std::process::id());
    let ns = match Namespace::create(&name) {
        Ok(ns) => ns,
        Err(e) => {
            eprintln!(
                "proof: cannot create the network namespace {name} (root and iproute2 are \
                 needed): {e}"
            );
            return 2;
        }
    };
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("proof: cannot find this program: {e}");
            return 2;
        }
    };
    let status = Command::new("ip")
        .args(["netns", "exec", &ns.name])
        .arg(exe)
        .arg("inner")
        .args(args.to_args())
        .status();
    drop(ns);
    match status {
        Ok(s) => s.code().and_then(|c| u8::try_from(c).ok()).unwrap_or(3),
        Err(e) => {
            eprintln!("proof: cannot start the controller: {e}");
            2
        }
    }
}
