//! One line of the shell: its words, its command, and paths relative to the current node.

use clap::{Parser, Subcommand};

use crate::cli::Command;

/// A line of the shell, parsed.
#[derive(Debug, Parser)]
#[command(
    name = "",
    no_binary_name = true,
    disable_version_flag = true,
    max_term_width = 100,
    help_template = "{all-args}"
)]
pub struct ShellLine {
    /// Print this command's result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
    /// The command.
    #[command(subcommand)]
    pub command: ShellCommand,
}

/// The shell's commands: zk's, and those that only make sense in a shell.
#[derive(Debug, Subcommand)]
pub enum ShellCommand {
    /// A command of zk.
    #[command(flatten)]
    Zk(Command),
    /// Change the current node (default /; `..` is the parent).
    Cd {
        /// The node.
        path: Option<String>,
    },
    /// Print the current node.
    Pwd,
    /// Add credentials to the session, as `zkCli.sh addauth` (e.g. `addauth digest bob:pw`).
    Addauth {
        /// The scheme.
        scheme: String,
        /// The credentials.
        auth: String,
    },
    /// List the lines entered so far, numbered.
    History,
    /// Run line N of `history` again.
    Redo {
        /// The line's number.
        n: usize,
    },
    /// Leave the shell (also Ctrl-D).
    #[command(visible_alias = "quit")]
    Exit,
}

/// Splits a line into words: blanks separate words, except inside `'...'` (taken as is)
/// and `"..."` (where `\"` and `\\` are escapes); outside quotes a backslash escapes the
/// next character. `#` at the start of a word starts a comment.
pub fn words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if let Some(w) = word.take() {
                    words.push(w);
                }
            }
            '#' if word.is_none() => break,
            '\'' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => w.push(c),
                        None => return Err("unterminated '".into()),
                    }
                }
            }
            '"' => {
                let w = word.get_or_insert_with(String::new);
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => w.push(c),
                            Some(c) => {
                                w.push('\\');
                                w.push(c);
                            }
                            None => return Err("unterminated \"".into()),
                        },
                        Some(c) => w.push(c),
                        None => return Err("unterminated \"".into()),
                    }
                }
            }
            '\\' => {
                let w = word.get_or_insert_with(String::new);
                if let Some(c) = chars.next() {
                    w.push(c);
                }
            }
            c => word.get_or_insert_with(String::new).push(c),
        }
    }
    if let Some(w) = word {
        words.push(w);
    }
    Ok(words)
}

/// `arg` relative to the node `cwd` (absolute paths as they are), with `.` and `..`
/// resolved; never above `/`, which is the chroot's root. (ZooKeeper forbids `.` and `..`
/// as node names, so this cannot change which node a valid path names.)
pub fn resolve(cwd: &str, arg: &str) -> String {
    let joined = if arg.starts_with('/') {
        arg.to_owned()
    } else {
        format!("{cwd}/{arg}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Resolves the path arguments of a zk command against `cwd`.
pub fn resolve_paths(command: &mut Command, cwd: &str) {
    // A sequential node's prefix may end in `/` (the name is then the number alone).
    let keep_slash = matches!(command, Command::Create { sequential: true, path, .. }
        if path.ends_with('/') && path != "/");
    let path = match command {
        Command::Ls { path, .. }
        | Command::Tree { path }
        | Command::Get { path, .. }
        | Command::Stat { path }
        | Command::Exists { path }
        | Command::Create { path, .. }
        | Command::Set { path, .. }
        | Command::Rm { path, .. }
        | Command::Rmr { path }
        | Command::Getacl { path }
        | Command::Setacl { path, .. }
        | Command::Sync { path }
        | Command::Watch { path, .. }
        | Command::Dump { path, .. }
        | Command::Load { path, .. }
        | Command::Lock { path, .. }
        | Command::Elect { path, .. }
        | Command::DoubleBarrier { path, .. }
        | Command::Counter { path, .. }
        | Command::Ephemerals { path, .. }
        | Command::Count { path } => path,
        Command::Whoami
        | Command::Config
        | Command::Reconfig { .. }
        | Command::FourLw { .. }
        | Command::Shell => return,
    };
    *path = resolve(cwd, path);
    if keep_slash && path != "/" {
        path.push('/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_quotes() {
        assert_eq!(words("  ls   /a  ").unwrap(), ["ls", "/a"]);
        assert_eq!(
            words(r#"create /n 'a b' "c \"d\" \n" e\ f"#).unwrap(),
            ["create", "/n", "a b", "c \"d\" \\n", "e f"]
        );
        assert_eq!(words("set /n ''").unwrap(), ["set", "/n", ""]);
        assert_eq!(words("ls / # the root").unwrap(), ["ls", "/"]);
        assert_eq!(words("get /a#b").unwrap(), ["get", "/a#b"]);
        assert!(words("get 'x").is_err());
        assert!(words("get \"x").is_err());
    }

    #[test]
    fn paths_resolve_inside_the_root() {
        assert_eq!(resolve("/", "a"), "/a");
        assert_eq!(resolve("/a/b", "c/d"), "/a/b/c/d");
        assert_eq!(resolve("/a/b", ".."), "/a");
        assert_eq!(resolve("/a/b", "../../../.."), "/");
        assert_eq!(resolve("/a", "/x/./y/"), "/x/y");
        assert_eq!(resolve("/a", "."), "/a");
    }

    #[test]
    fn command_paths_are_resolved() {
        let parse = |line: &str| {
            let mut parsed = ShellLine::try_parse_from(words(line).unwrap()).unwrap();
            if let ShellCommand::Zk(c) = &mut parsed.command {
                resolve_paths(c, "/app");
            }
            parsed
        };
        let ShellCommand::Zk(Command::Get { path, .. }) = parse("get config").command else {
            panic!()
        };
        assert_eq!(path, "/app/config");
        let ShellCommand::Zk(Command::Rm { path, .. }) = parse("delete ../x").command else {
            panic!()
        };
        assert_eq!(path, "/x");
        let ShellCommand::Zk(Command::Create { path, .. }) = parse("create -s q/").command else {
            panic!()
        };
        assert_eq!(path, "/app/q/");
        let line = parse("ls --json .");
        assert!(line.json);
        assert!(parse("--json getAllChildrenNumber /").json);
        assert!(matches!(parse("quit").command, ShellCommand::Exit));
    }
}
