//! `zk`: a command-line tool for Apache ZooKeeper, built on the public API of the aiozk
//! client (and the aiozk-recipes for `zk lock`, `zk elect`, `zk double-barrier` and
//! `zk counter`).
//!
//! `zk --help` documents the commands, the JSON shapes and the exit statuses
//! ([`exit::TABLE`]).

mod cli;
mod counter;
mod exit;
mod info;
mod nodes;
mod output;
mod progress;
mod run;
mod session;
mod shell;
mod transfer;
mod watch;

use std::ffi::OsStr;
use std::io::Read as _;
use std::process::ExitCode;

use clap::Parser as _;

use crate::cli::{Cli, Command};
use crate::exit::Failure;
use crate::session::Ctx;

fn main() -> ExitCode {
    // `--timeout` counts from here.
    let started = tokio::time::Instant::now();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    // One thread: startup is faster, and zk does one thing at a time.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(Failure::new(exit::GENERIC, format!("cannot start: {e}"))),
    };
    // Installed before the client is built, so its metrics are recorded from the start.
    let metrics = if cli.global.metrics {
        match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
            Ok(handle) => Some(handle),
            Err(e) => return fail(Failure::new(exit::GENERIC, format!("--metrics: {e}"))),
        }
    } else {
        None
    };
    let outcome = runtime.block_on(dispatch(cli, started));
    if let Some(handle) = metrics {
        eprint!("{}", handle.render());
    }
    // Do not wait for anything left behind (e.g. a blocked read of standard input).
    runtime.shutdown_background();
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(failure) => fail(failure),
    }
}

/// Help and version go to stdout with status 0; a usage error is one line with status 2.
fn usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::from(if e.use_stderr() {
            exit::USAGE
        } else {
            exit::OK
        });
    }
    // clap's message is the paragraph before the usage line.
    let text = e.to_string();
    let message: Vec<&str> = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    fail(Failure::usage(format!("{message} (see `zk --help`)")))
}

fn fail(failure: Failure) -> ExitCode {
    if let Some(message) = &failure.message {
        // One line, whatever the error text holds.
        eprintln!("zk: {}", message.replace('\n', " "));
    }
    ExitCode::from(failure.code)
}

/// Reads everything the command needs from files or standard input, connects, runs the
/// command and closes the session.
async fn dispatch(cli: Cli, started: tokio::time::Instant) -> Result<u8, Failure> {
    let g = &cli.global;
    // Inputs first, so a bad file or a slow pipe does not hold a session open.
    let data = match &cli.command {
        Command::Create { data: Some(d), .. } => Some(read_data(d)?),
        Command::Create { data: None, .. } => Some(Vec::new()),
        Command::Set { data, .. } => Some(read_data(data)?),
        _ => None,
    };
    let dump = match &cli.command {
        Command::Load { file, .. } => Some(transfer::read_dump(file)?),
        _ => None,
    };
    if let Command::FourLw { server, word } = &cli.command {
        return info::four_lw(server, *word, g.timeout, g.json).await;
    }
    let ctx = Ctx::connect(g, started, runs_long(&cli.command)).await?;
    let outcome = match cli.command {
        Command::Shell => shell::run(&ctx).await,
        command => run_command(&ctx, command, data.unwrap_or_default(), dump).await,
    };
    ctx.close().await;
    outcome
}

/// Commands whose work has no fixed size: each of their requests gets `--timeout`.
fn runs_long(command: &Command) -> bool {
    matches!(
        command,
        Command::Ls {
            recursive: true,
            ..
        } | Command::Tree { .. }
            | Command::Rmr { .. }
            | Command::Dump { .. }
            | Command::Load { .. }
            | Command::Ephemerals { .. }
            | Command::Watch { .. }
            | Command::Lock { .. }
            | Command::Elect { .. }
            | Command::DoubleBarrier { .. }
            | Command::Shell
    )
}

/// Runs one command on the session (`data` for create and set, `dump` for load).
pub(crate) async fn run_command(
    ctx: &Ctx,
    command: Command,
    data: Vec<u8>,
    dump: Option<Vec<transfer::DumpNode>>,
) -> Result<u8, Failure> {
    match command {
        Command::Ls {
            recursive,
            stat,
            path,
        } => nodes::ls(ctx, &path, recursive, stat).await,
        Command::Tree { path } => nodes::tree(ctx, &path).await,
        Command::Get { stat, path } => nodes::get(ctx, &path, stat).await,
        Command::Stat { path } => nodes::stat(ctx, &path).await,
        Command::Exists { path } => nodes::exists(ctx, &path).await,
        Command::Create {
            ephemeral,
            sequential,
            container,
            ttl,
            parents,
            acl,
            fence,
            path,
            data: _,
        } => {
            let args = nodes::CreateArgs {
                ephemeral,
                sequential,
                container,
                ttl,
                parents,
                acl,
                fence,
            };
            nodes::create(ctx, &path, &data, args).await
        }
        Command::Set {
            version,
            fence,
            path,
            ..
        } => nodes::set(ctx, &path, &data, version, fence.as_deref()).await,
        Command::Rm {
            version,
            fence,
            path,
        } => nodes::rm(ctx, &path, version, fence.as_deref()).await,
        Command::Rmr { path } => nodes::rmr(ctx, &path).await,
        Command::Getacl { path } => nodes::getacl(ctx, &path).await,
        Command::Setacl { version, path, acl } => nodes::setacl(ctx, &path, &acl, version).await,
        Command::Sync { path } => nodes::sync(ctx, &path).await,
        Command::Watch {
            recursive,
            persistent,
            count,
            path,
        } => {
            let args = watch::WatchArgs {
                recursive,
                persistent,
                count,
            };
            watch::watch(ctx, &path, args).await
        }
        Command::Dump { path, output } => transfer::dump(ctx, &path, output.as_deref()).await,
        Command::Load {
            path, overwrite, ..
        } => transfer::load(ctx, &dump.unwrap_or_default(), &path, overwrite).await,
        Command::Lock {
            wait,
            read,
            write,
            permits,
            layout,
            path,
            command,
        } => {
            let kind = match (read, write, permits) {
                (true, _, _) => run::LockKind::Read,
                (_, true, _) => run::LockKind::Write,
                (_, _, Some(n)) => run::LockKind::Permit(n),
                _ => run::LockKind::Exclusive,
            };
            run::lock(ctx, &path, wait, kind, layout, &command).await
        }
        Command::DoubleBarrier {
            participants,
            wait,
            layout,
            path,
            command,
        } => run::double_barrier(ctx, &path, participants, wait, layout, &command).await,
        Command::Counter {
            add,
            encoding,
            path,
        } => counter::counter(ctx, &path, add, encoding).await,
        Command::Elect {
            layout,
            path,
            command,
        } => run::elect(ctx, &path, layout, &command).await,
        Command::Whoami => info::whoami(ctx).await,
        Command::Ephemerals { owner, path } => info::ephemerals(ctx, &path, owner).await,
        Command::Count { path } => info::count(ctx, &path).await,
        Command::Config => info::config(ctx).await,
        Command::Reconfig {
            add,
            remove,
            members,
            from_version,
        } => info::reconfig(ctx, &add, &remove, &members, from_version).await,
        // Answered without a session in `dispatch`.
        Command::FourLw { .. } => Ok(exit::OK),
        Command::Shell => Err(Failure::usage("already in the shell")),
    }
}

/// A data argument: its bytes, or standard input for `-`.
fn read_data(arg: &OsStr) -> Result<Vec<u8>, Failure> {
    if arg == "-" {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(|e| Failure::new(exit::GENERIC, format!("cannot read standard input: {e}")))?;
        return Ok(data);
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt as _;
        Ok(arg.as_bytes().to_vec())
    }
    #[cfg(not(unix))]
    {
        arg.to_str()
            .map(|s| s.as_bytes().to_vec())
            .ok_or_else(|| Failure::usage("the data is not valid Unicode"))
    }
}
