//! The queue recipe: workers put uniquely tagged items and take and complete them.

use std::time::Duration;

use aiozk_recipes::Queue;
use serde_json::json;

use super::{Ctx, Outcome};

pub(crate) const BASE: &str = "/proof/queue";

pub(crate) async fn run(ctx: &Ctx) {
    let queue = Queue::new(&ctx.client, BASE);
    while ctx.running() {
        if ctx.rand(2) == 0 {
            let tag = ctx.tag();
            ctx.op(
                "put",
                json!({"tag": tag}),
                queue.put(tag.as_bytes()),
                |path| json!({"path": path}),
            )
            .await;
        } else {
            let taken = ctx
                .op(
                    "take",
                    json!({}),
                    queue.take(Some(Duration::from_millis(500))),
                    |item| {
                        json!({"tag": String::from_utf8_lossy(item.data()), "path": item.path()})
                    },
                )
                .await;
            if let Outcome::Ok(item) = taken {
                let tag = String::from_utf8_lossy(item.data()).into_owned();
                let path = item.path().to_owned();
                // Processing the item: a pause of the consumer lands here most often.
                ctx.pace(50, 400).await;
                ctx.op(
                    "complete",
                    json!({"tag": tag, "path": path}),
                    item.complete(),
                    |()| json!({}),
                )
                .await;
            }
        }
        ctx.pace(5, 30).await;
    }
}
