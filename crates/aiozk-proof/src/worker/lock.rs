//! Locks and leader elections with fenced writes. Every acquisition is a *holder*; while it
//! believes it holds, it writes its name through the recipe's fence to one shared node.
//! The checker orders the successful fenced writes by zxid: two holders whose writes
//! interleave both held at the server at once.

use std::time::Duration;

use aiozk_recipes::{LeaderElection, Lock, LossReason};
use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) const BASE: &str = "/proof/lock";
pub(crate) const DATA: &str = "/proof/lock-data";
pub(crate) const ELECTION: &str = "/proof/election";

pub(crate) async fn run(ctx: &Ctx, election: bool) {
    let lock = Lock::new(&ctx.client, BASE);
    let mut n = 0u64;
    while ctx.running() {
        n += 1;
        // A third of the attempts give up soon (a try-lock with a deadline), so waiters
        // leave the line while others hold.
        let patience = if ctx.rand(3) == 0 {
            Duration::from_millis(ctx.range(100, 600))
        } else {
            Duration::from_secs(10)
        };
        let holder = format!("w{}-h{n}", ctx.cfg.id);
        let (fence, lost, release): (_, _, Release) = if election {
            let el = LeaderElection::new(&ctx.client, ELECTION);
            let joined = ctx
                .op(
                    "volunteer",
                    json!({"holder": holder}),
                    el.volunteer(),
                    |()| json!({}),
                )
                .await;
            if !matches!(joined, Outcome::Ok(())) {
                ctx.pace(50, 200).await;
                continue;
            }
            let won = ctx
                .op(
                    "acquire",
                    json!({"holder": holder}),
                    el.wait_for_leadership(Some(patience)),
                    |l| json!({"node": l.node()}),
                )
                .await;
            match won {
                Outcome::Ok(l) => (l.fence(), l.lost(), Release::Election(el)),
                _ => {
                    let _ = tokio::time::timeout(Duration::from_secs(10), el.resign()).await;
                    continue;
                }
            }
        } else {
            let got = ctx
                .op(
                    "acquire",
                    json!({"holder": holder}),
                    lock.acquire(Some(patience)),
                    |g| json!({"node": g.node()}),
                )
                .await;
            match got {
                Outcome::Ok(g) => (g.fence(), g.lost(), Release::Lock(g)),
                _ => {
                    ctx.pace(50, 200).await;
                    continue;
                }
            }
        };
        // The loss signal's time is what the pause measurements need.
        {
            let lost = lost.clone();
            let out = ctx.out.clone();
            let holder = holder.clone();
            tokio::spawn(async move {
                let reason = lost.wait().await;
                if reason != LossReason::Released {
                    out.event(
                        "lost",
                        json!({"holder": holder, "reason": format!("{reason:?}")}),
                    );
                }
            });
        }
        // A naive holder: it counts its work, not the time, and never looks at the loss
        // signal, so like a process frozen by a GC pause it carries on afterwards as if
        // nothing happened. Only the fence can keep its writes out once the ownership is
        // gone.
        let writes = ctx.range(5, 30);
        let mut seq = 0u64;
        while seq < writes {
            seq += 1;
            ctx.pace(20, 60).await;
            let value = format!("{holder}:{seq}");
            ctx.op(
                "fenced",
                json!({"holder": holder, "val": value}),
                fence.set_data(DATA, value.as_bytes(), None),
                |stat| json!({"mzxid": stat.mzxid}),
            )
            .await;
        }
        let released = match release {
            Release::Lock(g) => {
                ctx.op("release", json!({"holder": holder}), g.release(), |()| {
                    json!({})
                })
                .await
            }
            Release::Election(el) => {
                ctx.op("release", json!({"holder": holder}), el.resign(), |()| {
                    json!({})
                })
                .await
            }
        };
        let _ = released;
        ctx.pace(0, 100).await;
    }
}

enum Release {
    Lock(aiozk_recipes::LockGuard),
    Election(LeaderElection),
}
