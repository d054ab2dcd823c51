//! CAS registers: reads, blind writes and compare-and-set (`set_data` with the version last
//! seen) on a few keys.

use serde_json::json;

use super::{Ctx, Outcome};

/// How many registers the run shares.
pub(crate) const KEYS: u64 = 2;

/// The path of register `k`.
pub(crate) fn key_path(k: u64) -> String {
    format!("/proof/register/k{k}")
}

pub(crate) async fn run(ctx: &Ctx) {
    let mut seen = [0i32; KEYS as usize];
    while ctx.running() {
        let k = ctx.rand(KEYS);
        let ki = usize::try_from(k).unwrap_or(0);
        let path = key_path(k);
        let dice = ctx.rand(10);
        if dice < 4 {
            let got = ctx
                .op(
                    "read",
                    json!({"key": k}),
                    ctx.client.get_data(&path),
                    |(data, stat)| {
                        json!({"val": String::from_utf8_lossy(data), "ver": stat.version, "mzxid": stat.mzxid})
                    },
                )
                .await;
            if let Outcome::Ok((_, stat)) = got {
                seen[ki] = stat.version;
            }
        } else {
            let value = ctx.tag();
            let version = (dice >= 6).then_some(seen[ki]);
            let name = if version.is_some() { "cas" } else { "write" };
            let got = ctx
                .op(
                    name,
                    json!({"key": k, "val": value, "exp": version}),
                    ctx.client.set_data(&path, value.as_bytes(), version),
                    |stat| json!({"ver": stat.version, "mzxid": stat.mzxid}),
                )
                .await;
            if let Outcome::Ok(stat) = got {
                seen[ki] = stat.version;
            }
        }
        ctx.pace(5, 40).await;
    }
}
