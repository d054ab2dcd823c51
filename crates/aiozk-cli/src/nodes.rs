//! The commands on nodes: ls, tree, get, stat, exists, create, set, rm, rmr, getacl, setacl,
//! sync; and the subtree walk that ls -R, tree, dump and ephemerals share.

use std::collections::HashMap;
use std::time::Duration;

use aiozk::{Acl, CreateOptions, Error, OpResult, Stat, Transaction};
use serde_json::{json, Value};

use crate::exit::{self, Failure};
use crate::output;
use crate::session::Ctx;

/// How many requests of a walk are in flight at once.
const PIPELINE: usize = 512;

/// One node met by [`walk`].
pub struct Node {
    /// Its path.
    pub path: String,
    /// Its Stat.
    pub stat: Stat,
    /// Its children's names, sorted.
    pub children: Vec<String>,
}

/// The subtree at `root`, breadth first, each node with its Stat and sorted children.
/// Requests are pipelined; nodes that vanish during the walk are left out, and so are the
/// subtrees for which `skip` is true. `step` is called once per node.
pub async fn walk(
    ctx: &Ctx,
    root: &str,
    skip: impl Fn(&str) -> bool,
    mut step: impl FnMut(),
) -> Result<Vec<Node>, Failure> {
    let mut nodes = Vec::new();
    let mut level = vec![root.to_owned()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for chunk in level.chunks(PIPELINE) {
            // Every request is queued before the first reply is awaited.
            let pending: Vec<_> = chunk
                .iter()
                .map(|p| (p, ctx.client.get_children_stat(p)))
                .collect();
            for (path, fut) in pending {
                match ctx.bounded(fut).await {
                    Ok((mut children, stat)) => {
                        children.sort();
                        next.extend(
                            children
                                .iter()
                                .map(|c| aiozk::path::join(path, c))
                                .filter(|c| !skip(c)),
                        );
                        nodes.push(Node {
                            path: path.clone(),
                            stat,
                            children,
                        });
                        step();
                    }
                    Err(Error::NoNode) if path.as_str() != root => {}
                    Err(e) => return Err(Failure::zk(path, &e)),
                }
            }
        }
        level = next;
    }
    Ok(nodes)
}

/// `ls`.
pub async fn ls(ctx: &Ctx, path: &str, recursive: bool, with_stat: bool) -> Result<u8, Failure> {
    if recursive {
        let nodes = walk(ctx, path, |_| false, || {}).await?;
        let stat = nodes.first().map(|n| n.stat);
        if ctx.json {
            let paths: Vec<&str> = nodes.iter().map(|n| n.path.as_str()).collect();
            let mut v = json!({"path": path, "paths": paths});
            if let (true, Some(stat)) = (with_stat, stat) {
                v["stat"] = output::stat_json(&stat);
            }
            output::json(&v)?;
        } else {
            for node in &nodes {
                output::line(&node.path)?;
            }
            if let (true, Some(stat)) = (with_stat, stat) {
                output::line(&output::stat_text(&stat))?;
            }
        }
        return Ok(exit::OK);
    }
    let (mut children, stat) = ctx.req(path, ctx.client.get_children_stat(path)).await?;
    children.sort();
    if ctx.json {
        let mut v = json!({"path": path, "children": children});
        if with_stat {
            v["stat"] = output::stat_json(&stat);
        }
        output::json(&v)?;
    } else {
        for child in &children {
            output::line(child)?;
        }
        if with_stat {
            output::line(&output::stat_text(&stat))?;
        }
    }
    Ok(exit::OK)
}

/// `tree`.
pub async fn tree(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    let nodes = walk(ctx, path, |_| false, || {}).await?;
    let by_path: HashMap<&str, &Node> = nodes.iter().map(|n| (n.path.as_str(), n)).collect();
    if ctx.json {
        output::json(&tree_json(&by_path, path))?;
    } else {
        let mut lines = Vec::new();
        tree_text(&by_path, path, 0, &mut lines);
        output::line(&lines.join("\n"))?;
    }
    Ok(exit::OK)
}

fn tree_json(by_path: &HashMap<&str, &Node>, path: &str) -> Value {
    let node = by_path[path];
    let children: Vec<Value> = node
        .children
        .iter()
        .map(|c| aiozk::path::join(path, c))
        .filter(|c| by_path.contains_key(c.as_str()))
        .map(|c| tree_json(by_path, &c))
        .collect();
    json!({
        "name": aiozk::path::basename(path),
        "path": path,
        "size": node.stat.data_length,
        "num_children": node.stat.num_children,
        "ephemeral": node.stat.ephemeral_owner != 0,
        "children": children,
    })
}

fn tree_text(by_path: &HashMap<&str, &Node>, path: &str, depth: usize, out: &mut Vec<String>) {
    let node = by_path[path];
    let name = if depth == 0 {
        path
    } else {
        aiozk::path::basename(path)
    };
    let mut details = format!("{} B", node.stat.data_length);
    if node.stat.num_children > 0 {
        let n = node.stat.num_children;
        details.push_str(&format!(
            ", {n} {}",
            if n == 1 { "child" } else { "children" }
        ));
    }
    if node.stat.ephemeral_owner != 0 {
        details.push_str(", ephemeral");
    }
    out.push(format!("{}{name} ({details})", "  ".repeat(depth)));
    for child in &node.children {
        let child = aiozk::path::join(path, child);
        if by_path.contains_key(child.as_str()) {
            tree_text(by_path, &child, depth + 1, out);
        }
    }
}

/// `get`.
pub async fn get(ctx: &Ctx, path: &str, with_stat: bool) -> Result<u8, Failure> {
    let (data, stat) = ctx.req(path, ctx.client.get_data(path)).await?;
    if ctx.json {
        let (data, encoding) = output::data_fields(&data);
        let mut v = json!({"path": path, "data": data, "encoding": encoding});
        if with_stat {
            v["stat"] = output::stat_json(&stat);
        }
        output::json(&v)?;
    } else {
        output::raw(&data)?;
        if with_stat {
            eprintln!("{}", output::stat_text(&stat));
        }
    }
    Ok(exit::OK)
}

/// `stat`.
pub async fn stat(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    let stat = ctx
        .req(path, ctx.client.exists(path))
        .await?
        .ok_or_else(|| Failure::zk(path, &Error::NoNode))?;
    if ctx.json {
        output::json(&output::stat_json(&stat))?;
    } else {
        output::line(&output::stat_text(&stat))?;
    }
    Ok(exit::OK)
}

/// `exists`: 0 if the node exists, 1 if not.
pub async fn exists(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    let stat = ctx.req(path, ctx.client.exists(path)).await?;
    if ctx.json {
        output::json(&json!({
            "path": path,
            "exists": stat.is_some(),
            "stat": stat.as_ref().map(output::stat_json),
        }))?;
    }
    Ok(if stat.is_some() {
        exit::OK
    } else {
        exit::GENERIC
    })
}

/// The options of `create`.
pub struct CreateArgs {
    /// `-e`.
    pub ephemeral: bool,
    /// `-s`.
    pub sequential: bool,
    /// `-c`.
    pub container: bool,
    /// `--ttl`, in ms.
    pub ttl: Option<u64>,
    /// `-p`.
    pub parents: bool,
    /// `--acl`.
    pub acl: Vec<Acl>,
    /// `--fence`.
    pub fence: Option<String>,
}

/// `create`.
pub async fn create(ctx: &Ctx, path: &str, data: &[u8], args: CreateArgs) -> Result<u8, Failure> {
    let mut options = CreateOptions::new();
    if args.container {
        options = options.container();
    }
    if let Some(ms) = args.ttl {
        options = options.ttl(Duration::from_millis(ms));
    }
    if args.ephemeral {
        options = options.ephemeral();
    }
    if args.sequential {
        options = options.sequential();
    }
    if !args.acl.is_empty() {
        options = options.acl(args.acl);
    }
    if args.parents {
        if let Some(parent) = aiozk::path::parent(path).filter(|p| *p != "/") {
            ctx.req(parent, ctx.client.ensure_path(parent)).await?;
        }
    }
    let (created, stat) = match &args.fence {
        None => ctx
            .req(path, ctx.client.create_with(path, data, &options))
            .await
            .map(|(created, stat)| (created, Some(stat))),
        Some(fence) => {
            match fenced(ctx, fence, path, |t| t.create(path, data, &options))
                .await?
                .pop()
            {
                // A create in a transaction comes back without its Stat.
                Some(OpResult::Created { path, stat }) => Ok((path, stat)),
                _ => Err(Failure::zk(path, &unexpected())),
            }
        }
    }
    .map_err(|f| explain(f, args.ttl.is_some()))?;
    if ctx.json {
        let stat = stat.as_ref().map(output::stat_json);
        output::json(&json!({"path": created, "stat": stat}))?;
    } else {
        output::line(&created)?;
    }
    Ok(exit::OK)
}

fn explain(mut failure: Failure, ttl: bool) -> Failure {
    let hint = match failure.code {
        exit::NO_NODE => " (the parent is missing: -p creates it)",
        exit::GENERIC if ttl => " (TTL nodes need extendedTypesEnabled=true on the server)",
        _ => "",
    };
    if let Some(m) = &mut failure.message {
        m.push_str(hint);
    }
    failure
}

/// `set`.
pub async fn set(
    ctx: &Ctx,
    path: &str,
    data: &[u8],
    version: Option<i32>,
    fence: Option<&str>,
) -> Result<u8, Failure> {
    let stat = match fence {
        None => {
            ctx.req(path, ctx.client.set_data(path, data, version))
                .await?
        }
        Some(fence) => {
            let version = version.unwrap_or(-1);
            match fenced(ctx, fence, path, |t| t.set_data(path, data, version))
                .await?
                .pop()
            {
                Some(OpResult::Updated(stat)) => stat,
                _ => return Err(Failure::zk(path, &unexpected())),
            }
        }
    };
    if ctx.json {
        output::json(&json!({"path": path, "stat": output::stat_json(&stat)}))?;
    }
    Ok(exit::OK)
}

/// `rm`.
pub async fn rm(
    ctx: &Ctx,
    path: &str,
    version: Option<i32>,
    fence: Option<&str>,
) -> Result<u8, Failure> {
    match fence {
        None => ctx.req(path, ctx.client.delete(path, version)).await?,
        Some(fence) => {
            let version = version.unwrap_or(-1);
            fenced(ctx, fence, path, |t| t.delete(path, version)).await?;
        }
    }
    if ctx.json {
        output::json(&json!({"path": path, "deleted": true}))?;
    }
    Ok(exit::OK)
}

/// Commits the write that `write` adds to a transaction (one write to `path`) behind a check
/// that `fence` exists; returns the write's result (the check's taken off). A failed check
/// is [`exit::LOST`]: the lock or leadership that `fence` stands for is gone, and nothing
/// was written.
async fn fenced(
    ctx: &Ctx,
    fence: &str,
    path: &str,
    write: impl FnOnce(Transaction) -> Transaction,
) -> Result<Vec<OpResult>, Failure> {
    aiozk::path::validate_path(fence).map_err(|e| Failure::zk("--fence", &e))?;
    // One multi: the check first, then the write.
    let txn = write(ctx.client.transaction().check_version(fence, -1));
    match ctx.bounded(txn.commit()).await {
        Ok(mut results) => {
            results.remove(0);
            Ok(results)
        }
        Err(Error::TransactionFailed {
            index: 0, error, ..
        }) => Err(Failure::new(
            exit::LOST,
            format!(
                "{path}: not written: the fence {fence} is gone ({error}): the lock or \
                 leadership it stands for was lost"
            ),
        )),
        Err(Error::TransactionFailed { error, .. }) => Err(Failure::zk(path, &error)),
        Err(e) => Err(Failure::zk(path, &e)),
    }
}

fn unexpected() -> Error {
    Error::ProtocolViolation("unexpected transaction result".into())
}

/// `rmr`: the client's `deleteall`, with a progress bar on a terminal that follows the
/// subtree's size as it shrinks.
pub async fn rmr(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    // The size first: it tells a missing node apart, sizes the bar and the deadline.
    let total = match ctx.bounded(ctx.client.get_all_children_number(path)).await {
        Ok(n) => u64::try_from(n).unwrap_or(0) + 1,
        // Servers before 3.6: no count, no bar.
        Err(Error::Unimplemented) => {
            ctx.req(path, ctx.client.exists(path))
                .await?
                .ok_or_else(|| Failure::zk(path, &Error::NoNode))?;
            1
        }
        Err(e) => return Err(Failure::zk(path, &e)),
    };
    let bar = crate::progress::bar(total, "deleting");
    let poller = bar.clone().map(|bar| {
        let client = ctx.client.clone();
        let path = path.to_owned();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let left = match client.get_all_children_number(&path).await {
                    Ok(n) => u64::try_from(n).unwrap_or(0) + 1,
                    Err(Error::NoNode) => 0,
                    Err(_) => continue,
                };
                bar.set_position(total.saturating_sub(left));
            }
        })
    });
    // Every request is bounded by the client (a lost connection fails those in flight);
    // the whole walk gets --timeout per thousand nodes as a safety net.
    let thousands = u32::try_from(total / 1000).unwrap_or(u32::MAX);
    let budget = ctx.timeout.saturating_mul(thousands.saturating_add(1));
    ctx.renew(budget);
    let report = tokio::time::timeout(budget, ctx.client.deleteall(path)).await;
    if let Some(poller) = poller {
        poller.abort();
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let report = match report {
        Ok(r) => r.map_err(|e| Failure::zk(path, &e))?,
        Err(_) => return Err(Failure::zk(path, &Error::Timeout)),
    };
    if let Some((first, err)) = report.failed.first() {
        let more = match report.failed.len() - 1 {
            0 => String::new(),
            n => format!(" (and {n} more nodes not deleted)"),
        };
        return Err(Failure::new(
            exit::status_of(err),
            format!("{first}: {}{more}", exit::describe(err)),
        ));
    }
    if ctx.json {
        output::json(&json!({"path": path, "deleted": report.deleted}))?;
    }
    Ok(exit::OK)
}

/// `getacl`.
pub async fn getacl(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    let (acl, stat) = ctx.req(path, ctx.client.get_acl(path)).await?;
    if ctx.json {
        output::json(&json!({
            "path": path,
            "acl": output::acl_json(&acl),
            "aversion": stat.aversion,
        }))?;
    } else {
        for entry in &acl {
            output::line(&entry.to_string())?;
        }
    }
    Ok(exit::OK)
}

/// `setacl`.
pub async fn setacl(
    ctx: &Ctx,
    path: &str,
    acl: &[Acl],
    version: Option<i32>,
) -> Result<u8, Failure> {
    let stat = ctx
        .req(path, ctx.client.set_acl(path, acl, version))
        .await?;
    if ctx.json {
        output::json(&json!({"path": path, "stat": output::stat_json(&stat)}))?;
    }
    Ok(exit::OK)
}

/// `sync`.
pub async fn sync(ctx: &Ctx, path: &str) -> Result<u8, Failure> {
    ctx.req(path, ctx.client.sync(path)).await?;
    if ctx.json {
        output::json(&json!({"path": path, "synced": true}))?;
    }
    Ok(exit::OK)
}
