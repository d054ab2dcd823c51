//! `lock` and `elect`: run a command while holding a lock or the leadership.

use std::ffi::OsString;
use std::process::ExitStatus;
use std::time::Duration;

use aiozk::Error;
use aiozk_recipes::{LeaderElection, Lock, LossReason, LostSignal};

use crate::exit::{self, Failure};
use crate::session::Ctx;
use crate::watch::interrupted;

/// How long a stopped command gets between SIGTERM and SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// `lock`.
pub async fn lock(
    ctx: &Ctx,
    path: &str,
    wait: Option<Duration>,
    command: &[OsString],
) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let lock = Lock::new(&ctx.client, path);
    // Dropping the acquisition on an interrupt withdraws from the line.
    let guard = tokio::select! {
        acquired = lock.acquire(wait) => acquired.map_err(|e| match e {
            Error::Timeout => Failure::new(
                exit::CONNECTION,
                format!("lock {path}: not acquired within {:?}", wait.unwrap_or_default()),
            ),
            e => Failure::zk(&format!("lock {path}"), &e),
        })?,
        () = interrupted() => return Ok(exit::INTERRUPTED),
    };
    let outcome = supervise(command, guard.lost(), "the lock").await;
    let _ = ctx.bounded(guard.release()).await;
    outcome.map_err(|f| in_context(f, "lock", path))
}

/// `elect`.
pub async fn elect(ctx: &Ctx, path: &str, command: &[OsString]) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let election = LeaderElection::new(&ctx.client, path);
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
    let outcome = supervise(command, leadership.lost(), "the leadership").await;
    let _ = ctx.bounded(election.resign()).await;
    outcome.map_err(|f| in_context(f, "elect", path))
}

fn in_context(mut failure: Failure, command: &str, path: &str) -> Failure {
    if let Some(m) = &mut failure.message {
        *m = format!("{command} {path}: {m}");
    }
    failure
}

/// Runs the command until it exits, the ownership is lost or zk is interrupted; returns
/// the command's exit status (or ours).
async fn supervise(command: &[OsString], lost: LostSignal, what: &str) -> Result<u8, Failure> {
    let program = command
        .first()
        .ok_or_else(|| Failure::usage("no command given"))?;
    let mut child = tokio::process::Command::new(program)
        .args(&command[1..])
        .spawn()
        .map_err(|e| {
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                exit::NOT_FOUND
            } else {
                exit::CANNOT_EXECUTE
            };
            Failure::new(
                code,
                format!("cannot run {}: {e}", program.to_string_lossy()),
            )
        })?;
    tokio::select! {
        status = child.wait() => status
            .map(status_code)
            .map_err(|e| Failure::new(exit::GENERIC, format!("waiting for the command: {e}"))),
        reason = lost.wait() => {
            stop(&mut child).await;
            Err(Failure::new(
                exit::LOST,
                format!("{what} was lost ({}); the command was stopped", reason_text(reason)),
            ))
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
