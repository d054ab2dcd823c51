//! Unique ids from protected sequential creates; each node's data names the operation that
//! created it, so the final listing can be matched against the history.

use aiozk::CreateOptions;
use serde_json::json;

use super::Ctx;

pub(crate) const BASE: &str = "/proof/ids";

pub(crate) async fn run(ctx: &Ctx) {
    let options = CreateOptions::new().sequential().protected();
    while ctx.running() {
        let tag = ctx.tag();
        ctx.op(
            "create",
            json!({"tag": tag}),
            ctx.client
                .create_with(&format!("{BASE}/id-"), tag.as_bytes(), &options),
            |(path, stat)| json!({"path": path, "czxid": stat.czxid}),
        )
        .await;
        ctx.pace(5, 30).await;
    }
}
