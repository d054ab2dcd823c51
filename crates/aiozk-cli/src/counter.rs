//! `counter`: read a counter, or add to it atomically.

use aiozk::Error;
use aiozk_recipes::{Counter, CounterValue, Int32Be, Int64Be};
use serde_json::json;

use crate::cli::CounterEncoding;
use crate::exit::{self, Failure};
use crate::output;
use crate::session::Ctx;

/// `counter`.
pub async fn counter(
    ctx: &Ctx,
    path: &str,
    add: Option<i64>,
    encoding: CounterEncoding,
) -> Result<u8, Failure> {
    aiozk::path::validate_path(path).map_err(|e| Failure::zk("", &e))?;
    let value = match encoding {
        CounterEncoding::Text => run(ctx, path, add, 0i64, |v| v).await?,
        CounterEncoding::Int64 => run(ctx, path, add, Int64Be(0), Int64Be).await?.0,
        CounterEncoding::Int32 => {
            let by = add
                .map(i32::try_from)
                .transpose()
                .map_err(|_| Failure::usage("--add: out of range for --encoding int32"))?;
            i64::from(
                run(ctx, path, by.map(i64::from), Int32Be(0), |v| {
                    Int32Be(v as i32)
                })
                .await?
                .0,
            )
        }
    };
    if ctx.json {
        output::json(&json!({"path": path, "value": value}))?;
    } else {
        output::line(&value.to_string())?;
    }
    Ok(exit::OK)
}

/// Reads the counter, or adds `add` (made a value by `of`) to it.
async fn run<T: CounterValue>(
    ctx: &Ctx,
    path: &str,
    add: Option<i64>,
    zero: T,
    of: impl Fn(i64) -> T,
) -> Result<T, Failure> {
    let counter = Counter::new(&ctx.client, path, zero);
    let Some(by) = add else {
        return ctx.req(path, counter.get()).await;
    };
    match ctx.bounded(counter.incr(of(by))).await {
        Ok(v) => Ok(v),
        Err(Error::ConnectionLoss) => Err(Failure::new(
            exit::CONNECTION,
            format!(
                "{path}: the connection was lost during the addition, and whether the server \
                 applied it cannot be told; it was not tried again"
            ),
        )),
        Err(e) => Err(Failure::zk(path, &e)),
    }
}
