//! `dump` and `load`: a subtree to and from JSON.

use std::collections::HashSet;
use std::io::Read as _;
use std::path::Path;

use aiozk::{Acl, CreateOptions, Error};
use serde_json::{json, Value};

use crate::exit::{self, Failure};
use crate::output;
use crate::session::Ctx;

/// The `format` member of a dump.
const FORMAT: &str = "zk-dump";
/// The `version` member of a dump.
const VERSION: u64 = 1;
/// How many nodes' requests are in flight at once.
const PIPELINE: usize = 256;

/// `dump`.
pub async fn dump(ctx: &Ctx, root: &str, output: Option<&Path>) -> Result<u8, Failure> {
    // The system subtree is the server's, not data to carry over (unless asked for).
    let skip_system = ctx.client.chroot().is_none() && !root.starts_with("/zookeeper");
    let total = ctx
        .bounded(ctx.client.get_all_children_number(root))
        .await
        .map_or(0, |n| u64::try_from(n).unwrap_or(0) + 1);
    let bar = crate::progress::bar(total, "dumping");
    let mut lines = Vec::new();
    let mut ephemerals = 0usize;
    let mut redacted = 0usize;
    let mut level = vec![root.to_owned()];
    while !level.is_empty() {
        let mut next = Vec::new();
        for chunk in level.chunks(PIPELINE) {
            let pending: Vec<_> = chunk
                .iter()
                .map(|p| {
                    let c = &ctx.client;
                    (p, c.get_data(p), c.get_acl(p), c.get_children(p))
                })
                .collect();
            for (path, data, acl, children) in pending {
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                let fetched = async {
                    let (data, stat) = ctx.bounded(data).await?;
                    let (acl, _) = ctx.bounded(acl).await?;
                    let children = ctx.bounded(children).await?;
                    Ok::<_, Error>((data, stat, acl, children))
                };
                let (data, stat, acl, mut children) = match fetched.await {
                    Ok(found) => found,
                    // Deleted while we walked: not part of the dump.
                    Err(Error::NoNode) if path.as_str() != root => continue,
                    Err(e) => return Err(Failure::zk(path, &e)),
                };
                if stat.ephemeral_owner != 0 {
                    ephemerals += 1;
                    continue;
                }
                children.sort();
                next.extend(
                    children
                        .iter()
                        .map(|c| aiozk::path::join(path, c))
                        .filter(|c| !(skip_system && c == "/zookeeper")),
                );
                if acl.iter().any(is_redacted) {
                    redacted += 1;
                }
                let (data, encoding) = output::data_fields(&data);
                let node = json!({
                    "path": relative(root, path),
                    "data": data,
                    "encoding": encoding,
                    "acl": output::acl_json(&acl),
                });
                lines.push(node.to_string());
            }
        }
        level = next;
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // One node per line: valid JSON that still diffs and greps well.
    let text = format!(
        "{{\"format\":{},\"version\":{VERSION},\"root\":{},\"nodes\":[\n{}\n]}}\n",
        json!(FORMAT),
        json!(root),
        lines.join(",\n")
    );
    match output {
        Some(file) => std::fs::write(file, text).map_err(|e| {
            Failure::new(
                exit::GENERIC,
                format!("cannot write {}: {e}", file.display()),
            )
        })?,
        None => output::raw(text.as_bytes())?,
    }
    if ephemerals > 0 {
        eprintln!("zk: left out {ephemerals} ephemeral node(s)");
    }
    if redacted > 0 {
        eprintln!(
            "zk: warning: the server hid the digest hashes in the ACLs of {redacted} node(s) \
             (`digest:user:x`): reading them needs ADMIN permission (--auth)"
        );
    }
    Ok(exit::OK)
}

/// ZooKeeper shows `digest:user:x` instead of the hash to readers without ADMIN permission.
fn is_redacted(acl: &Acl) -> bool {
    acl.id.scheme == "digest" && acl.id.id.ends_with(":x")
}

/// The path of `path` relative to the dump root: `""` for the root, else `/a/b`.
fn relative(root: &str, path: &str) -> String {
    if root == "/" {
        if path == "/" {
            String::new()
        } else {
            path.to_owned()
        }
    } else {
        path[root.len()..].to_owned()
    }
}

/// Where a dumped node goes under `target`.
fn absolute(target: &str, rel: &str) -> String {
    match (target, rel) {
        (t, "") => t.to_owned(),
        ("/", r) => r.to_owned(),
        (t, r) => format!("{t}{r}"),
    }
}

/// One node of a dump file, checked.
#[derive(Debug, PartialEq)]
pub struct DumpNode {
    /// Path relative to the dump root (`""` for the root).
    pub rel: String,
    /// The data.
    pub data: Vec<u8>,
    /// The ACL.
    pub acl: Vec<Acl>,
}

/// Reads and checks a dump file (`-` for standard input) before anything is sent.
pub fn read_dump(file: &Path) -> Result<Vec<DumpNode>, Failure> {
    let name = file.display().to_string();
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text).map(|_| ()))
    };
    read.map_err(|e| Failure::new(exit::GENERIC, format!("cannot read {name}: {e}")))?;
    parse_dump(&text).map_err(|e| Failure::usage(format!("{name}: {e}")))
}

fn parse_dump(text: &str) -> Result<Vec<DumpNode>, String> {
    let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(format!("not a zk dump (no \"format\": \"{FORMAT}\")"));
    }
    if doc.get("version").and_then(Value::as_u64) != Some(VERSION) {
        return Err(format!(
            "unsupported dump version (this zk reads {VERSION})"
        ));
    }
    let nodes = doc
        .get("nodes")
        .and_then(Value::as_array)
        .ok_or("no \"nodes\" array")?;
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(nodes.len());
    for (i, node) in nodes.iter().enumerate() {
        let at = |msg: String| format!("node {i}: {msg}");
        let field = |name: &str| {
            node.get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| at(format!("no string {name:?}")))
        };
        let rel = field("path")?.to_owned();
        if i == 0 && !rel.is_empty() {
            return Err(at("the first node must be the root (path \"\")".into()));
        }
        if i > 0 {
            aiozk::path::validate_path(&rel).map_err(|e| at(e.to_string()))?;
            let parent = match aiozk::path::parent(&rel) {
                Some("/") | None => "",
                Some(p) => p,
            };
            if !seen.contains(parent) {
                return Err(at(format!("{rel:?} comes before its parent")));
            }
        }
        if !seen.insert(rel.clone()) {
            return Err(at(format!("{rel:?} appears twice")));
        }
        let data = output::decode_data(field("data")?, field("encoding")?).map_err(at)?;
        let acl = output::acl_from_json(node.get("acl").unwrap_or(&Value::Null)).map_err(at)?;
        if acl.is_empty() {
            return Err(at("empty ACL".into()));
        }
        out.push(DumpNode { rel, data, acl });
    }
    if out.is_empty() {
        return Err("the dump holds no node".into());
    }
    Ok(out)
}

/// `load`.
///
/// Nodes are created parents first, level by level with pipelined requests. A node with
/// children in the dump is created empty with the open ACL, and gets its data and ACL once
/// its children exist (its ACL might not let us create them); a leaf is created with its
/// data and ACL at once.
pub async fn load(
    ctx: &Ctx,
    nodes: &[DumpNode],
    target: &str,
    overwrite: bool,
) -> Result<u8, Failure> {
    aiozk::path::validate_path(target).map_err(|e| Failure::zk("", &e))?;
    if target != "/" && !overwrite && ctx.req(target, ctx.client.exists(target)).await?.is_some() {
        return Err(Failure::new(
            exit::NODE_EXISTS,
            format!("{target}: node already exists (--overwrite to replace it)"),
        ));
    }
    if let Some(parent) = aiozk::path::parent(target).filter(|p| *p != "/") {
        ctx.req(parent, ctx.client.ensure_path(parent)).await?;
    }
    let parents: HashSet<&str> = nodes
        .iter()
        .filter_map(|n| {
            if n.rel.is_empty() {
                None
            } else {
                Some(aiozk::path::parent(&n.rel).map_or("", |p| if p == "/" { "" } else { p }))
            }
        })
        .collect();
    let open = aiozk::acl::open_acl_unsafe();
    let bar = crate::progress::bar(nodes.len() as u64, "loading");
    let (mut created, mut updated) = (0usize, 0usize);
    // Nodes whose data and ACL are still to be set, with whether they existed before.
    let mut finish: Vec<(&DumpNode, String, bool)> = Vec::new();
    // The dump lists parents first; creating in that order keeps parents ahead on the wire.
    for chunk in nodes.chunks(PIPELINE) {
        let pending: Vec<_> = chunk
            .iter()
            .map(|n| {
                let path = absolute(target, &n.rel);
                let inner = parents.contains(n.rel.as_str());
                let fut = if path == "/" {
                    None
                } else if inner {
                    Some(ctx.client.create_with(&path, &[], &CreateOptions::new()))
                } else {
                    let options = CreateOptions::new().acl(n.acl.clone());
                    Some(ctx.client.create_with(&path, &n.data, &options))
                };
                (n, path, inner, fut)
            })
            .collect();
        for (node, path, inner, fut) in pending {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            let outcome = match fut {
                Some(fut) => ctx.bounded(fut).await.map(|_| ()),
                None => Err(Error::NodeExists),
            };
            match outcome {
                Ok(()) => {
                    created += 1;
                    if inner && (!node.data.is_empty() || node.acl != open) {
                        finish.push((node, path, false));
                    }
                }
                Err(Error::NodeExists) if overwrite => finish.push((node, path, true)),
                // `/` always exists; without --overwrite it is left as it is.
                Err(Error::NodeExists) if path == "/" => {}
                Err(Error::NodeExists) => {
                    return Err(Failure::new(
                        exit::NODE_EXISTS,
                        format!("{path}: node already exists (--overwrite to replace it)"),
                    ))
                }
                Err(e) => return Err(Failure::zk(&path, &e)),
            }
        }
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    // Data before ACL for each node: the final ACL may take our WRITE permission away.
    for chunk in finish.chunks(PIPELINE) {
        let pending: Vec<_> = chunk
            .iter()
            .map(|(n, path, existed)| {
                let data = (*existed || !n.data.is_empty())
                    .then(|| ctx.client.set_data(path, &n.data, None));
                let acl =
                    (*existed || n.acl != open).then(|| ctx.client.set_acl(path, &n.acl, None));
                (path, *existed, data, acl)
            })
            .collect();
        for (path, existed, data, acl) in pending {
            if let Some(fut) = data {
                ctx.req(path, fut).await?;
            }
            if let Some(fut) = acl {
                ctx.req(path, fut).await?;
            }
            if existed {
                updated += 1;
            }
        }
    }
    if ctx.json {
        output::json(&json!({"path": target, "created": created, "updated": updated}))?;
    }
    Ok(exit::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_between_roots() {
        assert_eq!(relative("/", "/"), "");
        assert_eq!(relative("/", "/a/b"), "/a/b");
        assert_eq!(relative("/a", "/a"), "");
        assert_eq!(relative("/a", "/a/b/c"), "/b/c");
        assert_eq!(absolute("/", ""), "/");
        assert_eq!(absolute("/", "/x"), "/x");
        assert_eq!(absolute("/t", ""), "/t");
        assert_eq!(absolute("/t", "/x/y"), "/t/x/y");
    }

    #[test]
    fn dump_files_are_checked() {
        let ok = r#"{"format":"zk-dump","version":1,"root":"/a","nodes":[
            {"path":"","data":"","encoding":"utf8","acl":[{"scheme":"world","id":"anyone","perms":"cdrwa"}]},
            {"path":"/b","data":"/w==","encoding":"base64","acl":[{"scheme":"world","id":"anyone","perms":"r"}]}
        ]}"#;
        let nodes = parse_dump(ok).unwrap();
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes[1].data, vec![0xff]);
        let orphan = ok.replace("\"/b\"", "\"/x/b\"");
        assert!(parse_dump(&orphan)
            .unwrap_err()
            .contains("before its parent"));
        assert!(parse_dump("{}").is_err());
        assert!(parse_dump("nope").is_err());
        let bad_acl = ok.replace("\"r\"}", "\"q\"}");
        assert!(parse_dump(&bad_acl).is_err());
        let not_root = ok.replacen("\"path\":\"\"", "\"path\":\"/z\"", 1);
        assert!(parse_dump(&not_root).is_err());
    }
}
