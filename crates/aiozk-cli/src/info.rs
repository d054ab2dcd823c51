//! whoami, ephemerals, count, config and 4lw.

use std::time::Duration;

use aiozk::fourlw::{self, FourLetterWord};
use serde_json::{json, Map, Value};

use crate::exit::{self, Failure};
use crate::nodes::walk;
use crate::output;
use crate::session::Ctx;

/// `whoami`.
pub async fn whoami(ctx: &Ctx) -> Result<u8, Failure> {
    let ids = ctx.req("whoami", ctx.client.whoami()).await?;
    if ctx.json {
        let v: Vec<Value> = ids
            .iter()
            .map(|i| json!({"scheme": i.auth_scheme, "user": i.user}))
            .collect();
        output::json(&Value::Array(v))?;
    } else {
        for id in &ids {
            output::line(&format!("{} {}", id.auth_scheme, id.user))?;
        }
    }
    Ok(exit::OK)
}

/// `ephemerals`: the ephemeral nodes of a subtree, optionally of one session only.
pub async fn ephemerals(ctx: &Ctx, path: &str, owner: Option<i64>) -> Result<u8, Failure> {
    let nodes = walk(ctx, path, |_| false, || {}).await?;
    let found: Vec<(&str, i64)> = nodes
        .iter()
        .filter(|n| n.stat.ephemeral_owner != 0)
        .filter(|n| owner.is_none_or(|o| o == n.stat.ephemeral_owner))
        .map(|n| (n.path.as_str(), n.stat.ephemeral_owner))
        .collect();
    if ctx.json {
        let v: Vec<Value> = found
            .iter()
            .map(|(p, o)| json!({"path": p, "owner": output::hex(*o)}))
            .collect();
        output::json(&Value::Array(v))?;
    } else {
        for (p, o) in &found {
            output::line(&format!("{p} {}", output::hex(*o)))?;
        }
    }
    Ok(exit::OK)
}

/// `count`.
pub async fn count(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    let n = ctx
        .req(path, ctx.client.get_all_children_number(path))
        .await?;
    if ctx.json {
        output::json(&json!({"path": path, "count": n}))?;
    } else {
        output::line(&n.to_string())?;
    }
    Ok(exit::OK)
}

/// `config`.
pub async fn config(ctx: &Ctx) -> Result<u8, Failure> {
    let (data, stat) = ctx
        .req("/zookeeper/config", ctx.client.get_config())
        .await?;
    print_config(ctx, &data, &stat)
}

/// `reconfig`: changes the membership, then prints the new configuration as `config` does.
pub async fn reconfig(
    ctx: &Ctx,
    add: &[String],
    remove: &[String],
    members: &[String],
    from_version: Option<i64>,
) -> Result<u8, Failure> {
    if add.is_empty() && remove.is_empty() && members.is_empty() {
        return Err(Failure::usage(
            "reconfig needs --add, --remove or --members",
        ));
    }
    let (data, stat) = ctx
        .req(
            "/zookeeper/config",
            ctx.client.reconfig(
                &add.join(","),
                &remove.join(","),
                &members.join(","),
                from_version.unwrap_or(-1),
            ),
        )
        .await?;
    print_config(ctx, &data, &stat)
}

fn print_config(ctx: &Ctx, data: &[u8], stat: &aiozk::Stat) -> Result<u8, Failure> {
    let text = String::from_utf8_lossy(data);
    if ctx.json {
        let mut entries = Map::new();
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                entries.insert(k.trim().to_owned(), Value::String(v.trim().to_owned()));
            }
        }
        let version = entries.get("version").cloned().unwrap_or(Value::Null);
        output::json(&json!({
            "config": entries,
            "version": version,
            "stat": output::stat_json(stat),
        }))?;
    } else if !text.is_empty() {
        output::line(text.trim_end())?;
    }
    Ok(exit::OK)
}

/// `4lw`: no session, just one exchange with one server.
pub async fn four_lw(
    server: &str,
    word: FourLetterWord,
    timeout: Duration,
    json: bool,
) -> Result<u8, Failure> {
    let answer = fourlw::four_letter_word(server, word, timeout)
        .await
        .map_err(|e| {
            let mut f = Failure::zk(server, &e);
            // Refused by the whitelist: the arguments were fine.
            if matches!(e, aiozk::Error::InvalidArgument(_)) {
                f.code = exit::GENERIC;
            }
            f
        })?;
    if json {
        let mut v = json!({"server": server, "word": word.as_str(), "answer": answer});
        match word {
            FourLetterWord::Mntr => v["metrics"] = json!(fourlw::parse_mntr(&answer)),
            FourLetterWord::Srvr | FourLetterWord::Stat => {
                v["mode"] = json!(fourlw::parse_srvr_mode(&answer))
            }
            FourLetterWord::Ruok => v["ok"] = json!(answer.trim() == "imok"),
            _ => {}
        }
        output::json(&v)?;
    } else {
        output::line(answer.trim_end())?;
    }
    Ok(exit::OK)
}
