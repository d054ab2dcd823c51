//! `lock`, `elect` and `double-barrier`: run a command while holding a lock, a permit or the
//! leadership, or between entering and leaving a double barrier.

use std::ffi::OsString;
use std::process::ExitStatus;
use std::time::Duration;

use aiozk::Error;
use aiozk_recipes::{
    DoubleBarrier, Layout, LeaderElection, Lock, LockGuard, LossReason, LostSignal, Semaphore,
    SharedLock,
};

use crate::exit::{self, Failure};
use crate::session::Ctx;
use crate::watch::interrupted;

/// How long a stopped command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// What `lock` takes.
#[derive(Debug, Clone, Copy)]
pub enum LockKind {
    /// The Lock recipe.
    Exclusive,
    /// The read lock of the SharedLock recipe.
    Read,
    /// The write lock of the SharedLock recipe.
    Write,
    /// One permit of the Semaphore recipe with this many permits.
    Permit(u32),
}

/// `lock`.
pub async fn lock(
    ctx: &Ctx,
    path: &str,
    wait: Option<Duration>,
    kind: LockKind,
    layout: Layout,
    command: &[OsString],
) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let acquire = async {
        match kind {
            LockKind::Exclusive => {
                Lock::new(&ctx.client, path)
                    .with_layout(layout)
                    .acquire(wait)
                    .await
            }
            LockKind::Read => {
                SharedLock::with_layout(&ctx.client, path, layout)
                    .acquire_read(wait)
                    .await
            }
            LockKind::Write => {
                SharedLock::with_layout(&ctx.client, path, layout)
                    .acquire_write(wait)
                    .await
            }
            LockKind::Permit(n) => {
                Semaphore::new(&ctx.client, path, n)
                    .with_layout(layout)
                    .acquire(wait)
                    .await
            }
        }
    };
    // Dropping the acquisition on an interrupt withdraws from the line.
    let guard: LockGuard = tokio::select! {
        acquired = acquire => acquired.map_err(|e| match e {
            Error::Timeout => Failure::new(
                exit::CONNECTION,
                format!("lock {path}: not acquired within {:?}", wait.unwrap_or_default()),
            ),
            e => Failure::zk(&format!("lock {path}"), &e),
        })?,
        () = interrupted() => return Ok(exit::INTERRUPTED),
    };
    let fence = Fencing {
        node: guard.node(),
        czxid: guard.czxid(),
    };
    let outcome = supervise(
        command,
        &fence,
        guard.lost(),
        || guard.is_held(),
        "the lock",
    )
    .await;
    ctx.renew(ctx.timeout);
    let _ = ctx.bounded(guard.release()).await;
    outcome.map_err(|f| in_context(f, "lock", path))
}

/// `elect`.
pub async fn elect(
    ctx: &Ctx,
    path: &str,
    layout: Layout,
    command: &[OsString],
) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let election = LeaderElection::new(&ctx.client, path).with_layout(layout);
    let what = format!("elect {path}");
    ctx.req(&what, election.volunteer()).await?;
    let won = async {
        loop {
            match election
                .wait_for_leadership(Some(Duration::from_millis(500)))
                .await
            {
                Ok(leadership) => return Ok(leadership),
                // Our candidacy ended while waiting (session expired): join again.
                Err(_) if !election.is_candidate() => {
                    match ctx.bounded(election.volunteer()).await {
                        Ok(()) | Err(Error::NodeExists) => {}
                        Err(e) if e.is_retryable() || e == Error::SessionExpired => {}
                        Err(e) => return Err(Failure::zk(&what, &e)),
                    }
                }
                Err(_) => {}
            }
        }
    };
    let leadership = tokio::select! {
        won = won => won?,
        () = interrupted() => {
            let _ = ctx.bounded(election.resign()).await;
            return Ok(exit::INTERRUPTED);
        }
    };
    let fence = Fencing {
        node: leadership.node(),
        czxid: leadership.czxid(),
    };
    let held = || leadership.is_held();
    let outcome = supervise(command, &fence, leadership.lost(), held, "the leadership").await;
    ctx.renew(ctx.timeout);
    let _ = ctx.bounded(election.resign()).await;
    outcome.map_err(|f| in_context(f, "elect", path))
}

/// `double-barrier`.
pub async fn double_barrier(
    ctx: &Ctx,
    path: &str,
    participants: u32,
    wait: Option<Duration>,
    layout: Layout,
    command: &[OsString],
) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let barrier = DoubleBarrier::new(&ctx.client, path, participants as usize).with_layout(layout);
    let timed_out = |what: &str| {
        Failure::new(
            exit::CONNECTION,
            format!(
                "double-barrier {path}: the others did not {what} within {:?}",
                wait.unwrap_or_default()
            ),
        )
    };
    // Dropping `enter` on an interrupt removes our node.
    tokio::select! {
        entered = barrier.enter(wait) => entered.map_err(|e| match e {
            Error::Timeout => timed_out("enter"),
            e => Failure::zk(&format!("double-barrier {path}"), &e),
        })?,
        () = interrupted() => return Ok(exit::INTERRUPTED),
    }
    let status = run_to_exit(command).await;
    ctx.renew(ctx.timeout);
    // Leave even when the command failed or zk was interrupted: the others wait for us.
    let left = barrier.leave(wait).await;
    let status = status?;
    match left {
        Ok(()) => Ok(status),
        Err(Error::Timeout) => Err(timed_out("leave")),
        Err(e) => Err(Failure::zk(&format!("double-barrier {path}"), &e)),
    }
}

/// Runs the command until it exits (or zk is interrupted: it is stopped, and the status is
/// [`exit::INTERRUPTED`]).
async fn run_to_exit(command: &[OsString]) -> Result<u8, Failure> {
    let mut child = spawn(command, None)?;
    tokio::select! {
        status = child.wait() => status.map(status_code).map_err(|e| {
            Failure::new(exit::GENERIC, format!("waiting for the command: {e}"))
        }),
        () = interrupted() => {
            stop(&mut child).await;
            Ok(exit::INTERRUPTED)
        }
    }
}

/// Starts the command, with the fencing variables when given.
fn spawn(
    command: &[OsString],
    fence: Option<&Fencing<'_>>,
) -> Result<tokio::process::Child, Failure> {
    let program = command
        .first()
        .ok_or_else(|| Failure::usage("no command given"))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(&command[1..]);
    if let Some(fence) = fence {
        cmd.env("ZK_FENCE_NODE", fence.node)
            .env("ZK_FENCE_CZXID", fence.czxid.to_string());
    }
    cmd.spawn().map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            exit::NOT_FOUND
        } else {
            exit::CANNOT_EXECUTE
        };
        Failure::new(
            code,
            format!("cannot run {}: {e}", program.to_string_lossy()),
        )
    })
}

fn in_context(mut failure: Failure, command: &str, path: &str) -> Failure {
    if let Some(m) = &mut failure.message {
        *m = format!("{command} {path}: {m}");
    }
    failure
}

/// What the command is given to fence its writes, in its environment.
struct Fencing<'a> {
    /// `ZK_FENCE_NODE`: the ownership node's path.
    node: &'a str,
    /// `ZK_FENCE_CZXID`: the zxid of its creation, in decimal.
    czxid: i64,
}

/// Runs the command until it exits, the ownership is lost or zk is interrupted; returns
/// the command's exit status (or ours).
///
/// When the command exits, the ownership is checked once more (`held`, which also asks the
/// clock whether the server has been heard from recently enough): a command that finished
/// while zk could no longer vouch for the ownership (zk was paused, the server went silent)
/// makes zk exit with [`exit::LOST`], not with the command's status.
async fn supervise(
    command: &[OsString],
    fence: &Fencing<'_>,
    lost: LostSignal,
    held: impl Fn() -> bool,
    what: &str,
) -> Result<u8, Failure> {
    let mut child = spawn(command, Some(fence))?;
    let lost_before_exit = |reason: &str, status: u8| {
        Failure::new(
            exit::LOST,
            format!("{what} was lost ({reason}) before the command exited (status {status})"),
        )
    };
    tokio::select! {
        // A loss that is already known wins over an exit seen in the same wake-up.
        biased;
        reason = lost.wait() => {
            stop(&mut child).await;
            Err(Failure::new(
                exit::LOST,
                format!("{what} was lost ({}); the command was stopped", reason_text(reason)),
            ))
        }
        status = child.wait() => {
            let status = status.map(status_code).map_err(|e| {
                Failure::new(exit::GENERIC, format!("waiting for the command: {e}"))
            })?;
            match lost.reason() {
                Some(reason) => Err(lost_before_exit(reason_text(reason), status)),
                None if !held() => Err(lost_before_exit("the server was not heard from in time", status)),
                None => Ok(status),
            }
        }
        () = interrupted() => {
            stop(&mut child).await;
            Ok(exit::INTERRUPTED)
        }
    }
}

fn reason_text(reason: LossReason) -> &'static str {
    match reason {
        LossReason::Released => "released",
        LossReason::SessionExpired => "session expired",
        LossReason::NodeDeleted => "its node was deleted",
        LossReason::Suspended => "connection down too long",
        LossReason::LeaseExpired => "lease expired",
        LossReason::ClientClosed => "client closed",
        _ => "lost",
    }
}

/// SIGTERM, then SIGKILL if the command is still running after [`GRACE`].
async fn stop(child: &mut tokio::process::Child) {
    #[cfg(unix)]
    if let Some(pid) = child
        .id()
        .and_then(|id| rustix::process::Pid::from_raw(id as i32))
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        if tokio::time::timeout(GRACE, child.wait()).await.is_ok() {
            return;
        }
    }
    let _ = child.kill().await;
}

/// The shell's view of an exit status: the code, or 128 + the signal that killed it.
fn status_code(status: ExitStatus) -> u8 {
    if let Some(code) = status.code() {
        return u8::try_from(code & 0xff).unwrap_or(exit::GENERIC);
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt as _;
        if let Some(signal) = status.signal() {
            return u8::try_from(128 + signal).unwrap_or(exit::GENERIC);
        }
    }
    exit::GENERIC
}
