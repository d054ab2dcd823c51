//! Watches. Worker 0 writes (`set_data` on a few nodes), workers 1 and 2 arm one-shot data
//! watches one after another, worker 3 keeps a persistent recursive watch on the parent. The checker compares what they saw with the servers'
//! transaction logs.
//!
//! A one-shot watcher arms a watch (recording the node's zxid), then waits. When the
//! watch fires it records the event; when nothing came for a while it reads the node
//! again: ZooKeeper delivers a watch event before any reply that shows the new data, so a
//! read that shows a newer zxid while the watch is still silent is a missed event.

use std::time::Duration;

use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) const BASE: &str = "/proof/watch";
/// The nodes the writer changes; one more, never written, is watched too (a watch on it
/// may only end with the session).
pub(crate) const NODES: u64 = 3;

pub(crate) fn node(k: u64) -> String {
    format!("{BASE}/n{k}")
}

pub(crate) async fn run(ctx: &Ctx) {
    match ctx.cfg.id {
        0 => writer(ctx).await,
        1 | 2 => oneshot(ctx).await,
        _ => persistent(ctx).await,
    }
}

async fn writer(ctx: &Ctx) {
    while ctx.running() {
        let path = node(ctx.rand(NODES));
        let tag = ctx.tag();
        ctx.op(
            "write",
            json!({"path": path, "val": tag}),
            ctx.client.set_data(&path, tag.as_bytes(), None),
            |stat| json!({"mzxid": stat.mzxid}),
        )
        .await;
        ctx.pace(50, 300).await;
    }
}

async fn oneshot(ctx: &Ctx) {
    let mut seq = 0u64;
    while ctx.running() {
        seq += 1;
        let path = node(ctx.rand(NODES + 1));
        let armed = ctx
            .op(
                "arm",
                json!({"path": path, "seq": seq}),
                ctx.client.get_data_watched(&path),
                |(_, stat, _)| json!({"mzxid": stat.mzxid}),
            )
            .await;
        let Outcome::Ok((_, stat, mut watcher)) = armed else {
            ctx.pace(50, 200).await;
            continue;
        };
        let quiet = Duration::from_millis(ctx.range(1500, 4000));
        let fired = tokio::time::timeout(quiet, &mut watcher).await;
        let event = match fired {
            Ok(ev) => Some(ev),
            Err(_) => {
                // Nothing yet: has the node changed meanwhile?
                let checked = ctx
                    .op(
                        "check",
                        json!({"path": path, "seq": seq, "armed": stat.mzxid}),
                        ctx.client.get_data(&path),
                        |(_, s)| json!({"mzxid": s.mzxid}),
                    )
                    .await;
                match checked {
                    Outcome::Ok((_, now)) if now.mzxid > stat.mzxid => {
                        // The event must already be here (it precedes the reply).
                        match tokio::time::timeout(Duration::from_millis(500), &mut watcher).await {
                            Ok(ev) => Some(ev),
                            Err(_) => {
                                ctx.out.event(
                                    "watch-missed",
                                    json!({"path": path, "seq": seq, "armed": stat.mzxid, "seen": now.mzxid}),
                                );
                                None
                            }
                        }
                    }
                    _ => {
                        // Unchanged (or unknown): give the watch up and arm a new one.
                        None
                    }
                }
            }
        };
        if let Some(ev) = event {
            if ev.event_type != aiozk::EventType::None {
                // After a sync the member answering has every change the event can be
                // for: the node must now be newer than when the watch was armed.
                let sync = ctx.client.sync(&path);
                let read = ctx.client.get_data(&path);
                ctx.op(
                    "after-fire",
                    json!({"path": path, "seq": seq, "armed": stat.mzxid}),
                    async move {
                        sync.await?;
                        read.await
                    },
                    |(_, s)| json!({"mzxid": s.mzxid}),
                )
                .await;
            }
            ctx.out.event(
                "fired",
                json!({
                    "path": path,
                    "seq": seq,
                    "armed": stat.mzxid,
                    "etype": format!("{:?}", ev.event_type),
                    "state": format!("{:?}", ev.state),
                    "zxid": ev.zxid,
                }),
            );
        }
        drop(watcher);
    }
}

async fn persistent(ctx: &Ctx) {
    while ctx.running() {
        let added = ctx
            .op(
                "add-watch",
                json!({"path": BASE}),
                ctx.client.add_watch(BASE, true),
                |_| json!({}),
            )
            .await;
        let Outcome::Ok(mut stream) = added else {
            ctx.pace(100, 300).await;
            continue;
        };
        let start = ctx.client.last_zxid();
        ctx.out.event("segment-start", json!({"zxid": start}));
        let mut ended_by_session = false;
        while ctx.running() {
            match tokio::time::timeout(Duration::from_millis(200), stream.next()).await {
                Ok(Some(ev)) => {
                    if ev.event_type == aiozk::EventType::None {
                        ended_by_session = true;
                        ctx.out
                            .event("pevent-end", json!({"state": format!("{:?}", ev.state)}));
                        break;
                    }
                    ctx.out.event(
                        "pevent",
                        json!({"path": ev.path, "etype": format!("{:?}", ev.event_type), "zxid": ev.zxid}),
                    );
                }
                Ok(None) => {
                    ended_by_session = true;
                    break;
                }
                Err(_) => {}
            }
        }
        // The end of the segment: a sync makes the zxid below cover every change the
        // stream could still be owed; then trailing events get a moment to arrive.
        if !ended_by_session {
            let _ = tokio::time::timeout(Duration::from_secs(10), ctx.client.sync(BASE)).await;
            let end = ctx.client.last_zxid();
            let drain = tokio::time::sleep(Duration::from_secs(1));
            tokio::pin!(drain);
            loop {
                tokio::select! {
                    () = &mut drain => break,
                    ev = stream.next() => match ev {
                        Some(ev) if ev.event_type != aiozk::EventType::None => ctx.out.event(
                            "pevent",
                            json!({"path": ev.path, "etype": format!("{:?}", ev.event_type), "zxid": ev.zxid}),
                        ),
                        _ => break,
                    },
                }
            }
            ctx.out.event("segment-end", json!({"zxid": end}));
        } else {
            ctx.out.event(
                "segment-end",
                json!({"zxid": ctx.client.last_zxid(), "session": true}),
            );
        }
    }
}
