//! `zk shell`: commands typed one line at a time on one session.
//!
//! Lines come from a thread of their own (the line editor blocks), one at a time: the
//! thread reads the next line only after the command of the last one has finished, so the
//! prompt follows the output and shows the current node.

mod complete;
mod line;

use std::io::{BufRead as _, IsTerminal as _};
use std::path::PathBuf;
use std::sync::{mpsc, Arc, Mutex};

use clap::{CommandFactory as _, Parser as _};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::Editor;
use tokio::sync::mpsc as tokio_mpsc;

use crate::cli::Command;
use crate::exit::{self, Failure};
use crate::session::Ctx;
use complete::ZkHelper;
use line::{ShellCommand, ShellLine};

/// What the input thread read.
enum Input {
    Line(String),
    /// Ctrl-C at the prompt: the line is dropped.
    Interrupted,
    /// Ctrl-D, or the end of standard input.
    End,
}

/// Runs the shell until `exit` or the end of the input. The exit status is the last
/// command's.
pub async fn run(ctx: &Ctx) -> Result<u8, Failure> {
    let cwd = Arc::new(Mutex::new(String::from("/")));
    let (lines_tx, mut lines) = tokio_mpsc::unbounded_channel();
    let (next_tx, next_rx) = mpsc::channel::<()>();
    let terminal = std::io::stdin().is_terminal();
    if terminal {
        let helper = ZkHelper {
            commands: command_names(),
            cwd: cwd.clone(),
            client: ctx.client.clone(),
            runtime: tokio::runtime::Handle::current(),
            timeout: ctx.timeout,
        };
        let mut editor = editor(helper)?;
        std::thread::spawn(move || edit_lines(&mut editor, &lines_tx, &next_rx));
    } else {
        std::thread::spawn(move || read_lines(&lines_tx, &next_rx));
    }
    let mut shell = Shell {
        ctx,
        cwd,
        history: Vec::new(),
        status: exit::OK,
    };
    while let Some(input) = lines.recv().await {
        match input {
            Input::Line(text) => {
                if shell.line(&text).await == Flow::Exit {
                    break;
                }
            }
            Input::Interrupted => {}
            Input::End => break,
        }
        // On a terminal the prompt starts on a line of its own, after `get`'s raw data
        // too; piped output stays exactly the data.
        if terminal {
            let _ = crate::output::end_open_line();
        }
        if next_tx.send(()).is_err() {
            break;
        }
    }
    // The closeSession at exit gets a `--timeout` of its own, however long the shell ran.
    ctx.renew(ctx.timeout);
    Ok(shell.status)
}

/// The shell's state between lines.
struct Shell<'a> {
    ctx: &'a Ctx,
    cwd: Arc<Mutex<String>>,
    history: Vec<String>,
    status: u8,
}

#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Exit,
}

impl Shell<'_> {
    fn cwd(&self) -> String {
        self.cwd
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Runs one line.
    async fn line(&mut self, text: &str) -> Flow {
        let words = match line::words(text) {
            Ok(w) if w.is_empty() => return Flow::Continue,
            Ok(w) => w,
            Err(e) => {
                self.failed(&Failure::usage(e));
                return Flow::Continue;
            }
        };
        if !matches!(words[0].as_str(), "history" | "redo") {
            self.history.push(text.trim().to_owned());
        }
        let parsed = match parse(&words) {
            Ok(parsed) => parsed,
            Err(e) => {
                use clap::error::ErrorKind;
                if matches!(
                    e.kind(),
                    ErrorKind::DisplayHelp | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                ) {
                    let _ = crate::output::line(e.to_string().trim_end());
                    self.status = exit::OK;
                } else {
                    // clap's message is the paragraph before the usage line.
                    let text = e.to_string();
                    let message: Vec<&str> = text
                        .lines()
                        .map(str::trim)
                        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
                        .collect();
                    let message = message.join(" ");
                    let message = message.strip_prefix("error: ").unwrap_or(&message);
                    self.failed(&Failure::usage(format!("{message} (see `help`)")));
                }
                return Flow::Continue;
            }
        };
        let outcome = self.command(parsed).await;
        match outcome {
            Ok(Some(code)) => self.status = code,
            Ok(None) => return Flow::Exit,
            Err(failure) => self.failed(&failure),
        }
        Flow::Continue
    }

    fn failed(&mut self, failure: &Failure) {
        if let Some(message) = &failure.message {
            eprintln!("zk: {}", message.replace('\n', " "));
        }
        self.status = failure.code;
    }

    /// Runs a parsed line: `Ok(None)` to leave the shell.
    async fn command(&mut self, parsed: ShellLine) -> Result<Option<u8>, Failure> {
        let ctx = self.ctx.with_json(self.ctx.json || parsed.json);
        let cwd = self.cwd();
        match parsed.command {
            ShellCommand::Zk(mut command) => {
                line::resolve_paths(&mut command, &cwd);
                run_zk(&ctx, command).await.map(Some)
            }
            ShellCommand::Cd { path } => {
                let target = line::resolve(&cwd, path.as_deref().unwrap_or("/"));
                ctx.req(&target, ctx.client.exists(&target))
                    .await?
                    .ok_or_else(|| Failure::zk(&target, &aiozk::Error::NoNode))?;
                *self.cwd.lock().unwrap_or_else(|e| e.into_inner()) = target;
                Ok(Some(exit::OK))
            }
            ShellCommand::Pwd => {
                if ctx.json {
                    crate::output::json(&serde_json::json!({ "path": cwd }))?;
                } else {
                    crate::output::line(&cwd)?;
                }
                Ok(Some(exit::OK))
            }
            ShellCommand::Addauth { scheme, auth } => {
                ctx.req(&scheme, ctx.client.add_auth(&scheme, auth.as_bytes()))
                    .await?;
                Ok(Some(exit::OK))
            }
            ShellCommand::History => {
                if ctx.json {
                    crate::output::json(&serde_json::json!(self.history))?;
                } else {
                    for (n, entry) in self.history.iter().enumerate() {
                        crate::output::line(&format!("{n:>4}  {entry}"))?;
                    }
                }
                Ok(Some(exit::OK))
            }
            ShellCommand::Redo { n } => {
                let entry = self
                    .history
                    .get(n)
                    .cloned()
                    .ok_or_else(|| Failure::usage(format!("no line {n} in the history")))?;
                // A boxed future: redo runs a line, which may itself be a redo.
                Box::pin(self.line(&entry)).await;
                Ok(Some(self.status))
            }
            ShellCommand::Exit => Ok(None),
        }
    }
}

/// Parses a line; a command whose only missing argument is its path gets the current node
/// (`ls`, `stat`, `tree`, ...).
fn parse(words: &[String]) -> Result<ShellLine, clap::Error> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let err = match ShellLine::try_parse_from(words) {
        Ok(parsed) => return Ok(parsed),
        Err(e) => e,
    };
    let only_path = err.kind() == ErrorKind::MissingRequiredArgument
        && matches!(err.get(ContextKind::InvalidArg),
            Some(ContextValue::Strings(missing)) if missing.len() == 1 && missing[0] == "<PATH>");
    if only_path {
        let mut with_cwd = words.to_vec();
        with_cwd.push(".".to_owned());
        if let Ok(parsed) = ShellLine::try_parse_from(&with_cwd) {
            return Ok(parsed);
        }
    }
    Err(err)
}

/// Runs a zk command in the shell, where standard input holds the shell's own lines.
async fn run_zk(ctx: &Ctx, command: Command) -> Result<u8, Failure> {
    let from_stdin =
        || Failure::usage("standard input is the shell's own: `-` is not allowed here");
    match &command {
        Command::FourLw { server, word } => {
            return crate::info::four_lw(server, *word, ctx.timeout, ctx.json).await
        }
        Command::Shell => return Err(Failure::usage("already in the shell")),
        _ => {}
    }
    let data = match &command {
        Command::Create { data: Some(d), .. } | Command::Set { data: d, .. } => {
            if d == "-" {
                return Err(from_stdin());
            }
            d.as_encoded_bytes().to_vec()
        }
        _ => Vec::new(),
    };
    let dump = match &command {
        Command::Load { file, .. } if file.as_os_str() == "-" => return Err(from_stdin()),
        Command::Load { file, .. } => Some(crate::transfer::read_dump(file)?),
        _ => None,
    };
    crate::run_command(ctx, command, data, dump).await
}

/// Every command name and visible alias of a shell line, sorted.
fn command_names() -> Vec<String> {
    let cmd = ShellLine::command();
    let mut names: Vec<String> = cmd
        .get_subcommands()
        .flat_map(|s| {
            std::iter::once(s.get_name().to_owned())
                .chain(s.get_visible_aliases().map(str::to_owned))
        })
        .collect();
    names.push("help".to_owned());
    names.retain(|n| n != "shell");
    names.sort();
    names.dedup();
    names
}

fn editor(helper: ZkHelper) -> Result<Editor<ZkHelper, DefaultHistory>, Failure> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .max_history_size(1000)
        .map_err(|e| Failure::new(exit::GENERIC, format!("cannot start the editor: {e}")))?
        .build();
    let mut editor = Editor::with_config(config)
        .map_err(|e| Failure::new(exit::GENERIC, format!("cannot start the editor: {e}")))?;
    editor.set_helper(Some(helper));
    Ok(editor)
}

/// The history file: `$ZK_HISTORY`, else `~/.zk_history`.
fn history_file() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ZK_HISTORY") {
        return (!path.is_empty()).then(|| PathBuf::from(path));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".zk_history"))
}

/// The input thread on a terminal: the editor with its prompt, completion and history.
fn edit_lines(
    editor: &mut Editor<ZkHelper, DefaultHistory>,
    lines: &tokio_mpsc::UnboundedSender<Input>,
    next: &mpsc::Receiver<()>,
) {
    let history = history_file();
    if let Some(path) = &history {
        // A missing file is a first run.
        let _ = editor.load_history(path);
    }
    loop {
        let cwd = editor
            .helper()
            .map(|h| h.cwd.lock().map(|c| c.clone()).unwrap_or_default())
            .unwrap_or_default();
        let input = match editor.readline(&format!("zk {cwd}> ")) {
            Ok(text) => {
                if !text.trim().is_empty() {
                    let _ = editor.add_history_entry(text.trim());
                    if let Some(path) = &history {
                        let _ = editor.save_history(path);
                    }
                }
                Input::Line(text)
            }
            Err(ReadlineError::Interrupted) => Input::Interrupted,
            Err(_) => Input::End,
        };
        let end = matches!(input, Input::End);
        if lines.send(input).is_err() || end || next.recv().is_err() {
            return;
        }
    }
}

/// The input thread without a terminal: plain lines, no prompt.
fn read_lines(lines: &tokio_mpsc::UnboundedSender<Input>, next: &mpsc::Receiver<()>) {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    loop {
        let mut text = String::new();
        let input = match stdin.read_line(&mut text) {
            Ok(0) | Err(_) => Input::End,
            Ok(_) => Input::Line(text),
        };
        let end = matches!(input, Input::End);
        if lines.send(input).is_err() || end || next.recv().is_err() {
            return;
        }
    }
}
