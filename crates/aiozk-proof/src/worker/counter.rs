//! The counter recipe: increments of one, and reads.

use aiozk_recipes::Counter;
use serde_json::json;

use super::Ctx;

pub(crate) const PATH: &str = "/proof/counter";

pub(crate) async fn run(ctx: &Ctx) {
    let counter: Counter<i64> = Counter::new(&ctx.client, PATH, 0);
    while ctx.running() {
        if ctx.rand(5) == 0 {
            ctx.op("get", json!({}), counter.get(), |v| json!({"val": v}))
                .await;
        } else {
            ctx.op("incr", json!({}), counter.incr(1), |v| json!({"val": v}))
                .await;
        }
        ctx.pace(5, 30).await;
    }
}
