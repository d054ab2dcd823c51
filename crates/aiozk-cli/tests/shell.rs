//! `zk shell` against a real ZooKeeper server: lines from a pipe, and a terminal (a tmux
//! pseudo-terminal) where the test types commands and reads the screen, completions
//! included.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiozk_testkit::{Ensemble, ServerConfig};
use serde_json::Value;

const ZK: &str = env!("CARGO_BIN_EXE_zk");

fn server() -> &'static Ensemble {
    static SERVER: OnceLock<Ensemble> = OnceLock::new();
    SERVER.get_or_init(|| {
        Ensemble::start(1, ServerConfig::new())
            .expect("start ZooKeeper (apt-get install -y zookeeper)")
    })
}

/// `zk ARGS` on the test server, stdin closed; expects success.
fn zk(args: &[&str]) {
    let out = Command::new(ZK)
        .env("ZK_SERVERS", server().connect_string())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "zk {}: {out:?}", args.join(" "));
}

/// `zk shell` with `input` piped in, on `servers`.
fn piped(servers: &str, input: &str) -> Output {
    let mut child = Command::new(ZK)
        .env("ZK_SERVERS", servers)
        .env("ZK_HISTORY", "")
        .args(["--timeout", "10", "shell"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn lines_from_a_pipe_run_without_a_prompt() {
    zk(&["create", "-p", "/piped/app/config", "v1"]);
    let out = piped(&server().connect_string(), "ls /\n");
    assert!(out.status.success(), "{out:?}");
    let listed = text(&out.stdout);
    assert!(listed.lines().any(|l| l == "piped"), "{listed}");
    assert!(listed.lines().any(|l| l == "zookeeper"), "{listed}");

    // cd and relative paths, zkCli.sh's names, JSON per line, comments and quotes.
    let out = piped(
        &server().connect_string(),
        "cd /piped/app   # relative paths from here\n\
         pwd\n\
         ls\n\
         get config\n\
         --json get config\n\
         set config 'v 2'\n\
         ls --json .\n\
         create tmp \"x y\"\n\
         getAllChildrenNumber ..\n\
         delete tmp\n\
         cd ..\n\
         exists app/tmp\n",
    );
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], "/piped/app", "{stdout}");
    assert_eq!(lines[1], "config", "{stdout}");
    // `get` prints the raw data, with nothing added.
    let json: Value = serde_json::from_str(lines[2].strip_prefix("v1").unwrap()).unwrap();
    assert_eq!(json["path"], "/piped/app/config");
    assert_eq!(json["data"], "v1");
    let json: Value = serde_json::from_str(lines[3]).unwrap();
    assert_eq!(json["children"], serde_json::json!(["config"]));
    assert_eq!(lines[4], "/piped/app/tmp");
    assert_eq!(lines[5], "3");
    assert_eq!(lines.len(), 6, "{stdout}");
    // The last command's status is the shell's: `exists` of a deleted node is 1.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(text(&out.stderr), "");
    let out = piped(&server().connect_string(), "get /piped/app/config\n");
    assert_eq!(text(&out.stdout), "v 2");

    // An error does not end the shell; `exit` does.
    let out = piped(
        &server().connect_string(),
        "get /piped/none\ncd /piped/none\nbogus\nget 'unterminated\npwd\nexit\npwd\n",
    );
    assert_eq!(text(&out.stdout), "/\n");
    let stderr = text(&out.stderr);
    let errors: Vec<&str> = stderr.lines().collect();
    assert_eq!(errors.len(), 4, "{stderr}");
    assert!(errors[0].starts_with("zk: /piped/none: "), "{stderr}");
    assert!(errors[2].contains("'bogus'"), "{stderr}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn cd_stays_inside_the_chroot() {
    zk(&["create", "-p", "/jail/inside/deeper", ""]);
    let chrooted = format!("{}/jail", server().connect_string());
    let out = piped(
        &chrooted,
        "ls\ncd inside\npwd\ncd ../../..\npwd\nls\ncd /inside/deeper\nls ../..\n",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        text(&out.stdout),
        "inside\n/inside\n/\ninside\ninside\n",
        "{out:?}"
    );
}

/// A shell in a tmux pseudo-terminal of its own (a private tmux server).
struct Terminal {
    socket: String,
}

impl Terminal {
    fn start(servers: &str, history: &std::path::Path) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let term = Self {
            socket: format!("zk-shell-test-{}-{n}", std::process::id()),
        };
        let command = format!("{ZK} --timeout 10 shell");
        let status = term
            .tmux()
            .args([
                "-f",
                "/dev/null",
                "new-session",
                "-d",
                "-x",
                "150",
                "-y",
                "40",
            ])
            .args(["-e", &format!("ZK_SERVERS={servers}")])
            .args(["-e", &format!("ZK_HISTORY={}", history.display())])
            .arg(command)
            .args([";", "set-option", "remain-on-exit", "on"])
            .status()
            .expect("run tmux (apt-get install -y tmux)");
        assert!(status.success(), "tmux new-session failed");
        term
    }

    fn tmux(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    /// Types text as it is.
    fn type_text(&self, text: &str) {
        let status = self
            .tmux()
            .args(["send-keys", "-l", text])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Presses keys by name (`Enter`, `Tab`, `Up`, `C-d`).
    fn press(&self, keys: &[&str]) {
        let status = self.tmux().arg("send-keys").args(keys).status().unwrap();
        assert!(status.success());
    }

    fn screen(&self) -> String {
        let out = self.tmux().args(["capture-pane", "-p"]).output().unwrap();
        text(&out.stdout)
    }

    /// The last line with text on it (the prompt line while the shell waits).
    fn last_line(&self) -> String {
        self.screen()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_default()
            .trim_end()
            .to_owned()
    }

    /// Waits until `done` holds for the screen, within 60 s (the machine may be busy).
    fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "waited for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until the last line is `line`.
    fn wait_line(&self, line: &str) {
        self.wait(&format!("the line {line:?}"), |_| self.last_line() == line);
    }

    /// Waits until the shell's process has ended. Its state is read from /proc: tmux
    /// sometimes leaves an exited pane process unreaped (a zombie) for a long while, without
    /// marking the pane dead or drawing its "Pane is dead" line.
    fn wait_exit(&self) {
        let out = self
            .tmux()
            .args(["list-panes", "-F", "#{pane_pid}"])
            .output()
            .unwrap();
        let pid = text(&out.stdout).trim().to_owned();
        assert!(!pid.is_empty(), "no pane process");
        self.wait("the shell to end", |_| {
            match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                // The state follows the command name in parentheses.
                Ok(stat) => stat
                    .rsplit_once(") ")
                    .is_some_and(|(_, rest)| rest.starts_with('Z')),
                Err(_) => true,
            }
        });
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.tmux().arg("kill-server").status();
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zk-shell-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_terminal_completes_commands_and_paths_and_keeps_history() {
    zk(&["create", "-p", "/tty/app/alpha-node/kid", "k"]);
    zk(&["create", "-p", "/tty/app/alpine", ""]);
    zk(&["create", "-p", "/tty/app/beta", "b"]);
    let history = temp_dir().join("history");
    let _ = std::fs::remove_file(&history);
    let chrooted = format!("{}/tty", server().connect_string());
    let term = Terminal::start(&chrooted, &history);
    term.wait_line("zk />");

    // A command name: the first Tab completes the common part, the second lists them.
    term.type_text("getA");
    term.press(&["Tab", "Tab"]);
    term.wait("the names listed", |s| {
        s.contains("getAcl") && s.contains("getAllChildrenNumber")
    });
    term.press(&["C-u"]);
    term.type_text("who");
    term.press(&["Tab"]);
    term.wait_line("zk /> whoami");
    term.press(&["C-u"]);

    // Paths, read from the server: a node with children gets a `/`.
    term.type_text("cd ap");
    term.press(&["Tab"]);
    term.wait_line("zk /> cd app/");
    term.press(&["Enter"]);
    term.wait_line("zk /app>");
    term.type_text("get al");
    term.press(&["Tab"]);
    term.wait_line("zk /app> get alp");
    term.press(&["Tab"]);
    term.wait("the children listed", |s| {
        s.lines()
            .any(|l| l.contains("alpha-node") && l.contains("alpine"))
    });
    term.type_text("ha");
    term.press(&["Tab"]);
    term.wait_line("zk /app> get alpha-node/");
    term.press(&["Tab"]);
    term.wait_line("zk /app> get alpha-node/kid");
    term.press(&["Enter"]);
    term.wait("the data, on a line of its own", |s| {
        s.lines().any(|l| l.trim_end() == "k")
    });
    term.wait_line("zk /app>");

    // --json on one line; cd does not leave the chroot.
    term.type_text("ls --json /");
    term.press(&["Enter"]);
    term.wait("the JSON listing", |s| {
        s.contains(r#"{"children":["app"],"path":"/"}"#)
    });
    term.type_text("cd ../../..");
    term.press(&["Enter"]);
    term.wait_line("zk />");

    // History: Up recalls the last line, and the lines are kept in the history file.
    term.press(&["Up"]);
    term.wait_line("zk /> cd ../../..");
    term.press(&["C-u", "C-d"]);
    term.wait_exit();
    let kept = std::fs::read_to_string(&history).unwrap();
    for line in [
        "cd app/",
        "get alpha-node/kid",
        "ls --json /",
        "cd ../../..",
    ] {
        assert!(kept.lines().any(|l| l == line), "{line:?} not in {kept:?}");
    }
    // The next shell starts with that history.
    let term = Terminal::start(&chrooted, &history);
    term.wait_line("zk />");
    term.press(&["Up", "Up"]);
    term.wait_line("zk /> ls --json /");
}
