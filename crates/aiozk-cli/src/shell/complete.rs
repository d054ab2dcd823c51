//! Tab completion: command names for the first word, node paths (read from the server)
//! for the others.

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use aiozk::Client;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::Helper;

use super::line::resolve;

/// The editor's helper. It runs on the editor's thread; requests go to the session through
/// the runtime's handle (the main thread drives the runtime while it waits for a line).
pub struct ZkHelper {
    /// Every command name and alias, sorted.
    pub commands: Vec<String>,
    /// The current node, shared with the shell.
    pub cwd: Arc<Mutex<String>>,
    /// The session.
    pub client: Client,
    /// The runtime the session runs on.
    pub runtime: tokio::runtime::Handle,
    /// How long a completion may wait for the server.
    pub timeout: Duration,
}

impl ZkHelper {
    /// Runs a request on the runtime and waits for it, at most the timeout.
    fn request<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = aiozk::Result<T>> + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.runtime.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv_timeout(self.timeout).ok()?.ok()
    }

    fn complete_command(&self, word: &str) -> Vec<Pair> {
        self.commands
            .iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect()
    }

    fn complete_path(&self, word: &str) -> Vec<Pair> {
        let (dir, prefix) = match word.rfind('/') {
            Some(i) => word.split_at(i + 1),
            None => ("", word),
        };
        let cwd = self
            .cwd
            .lock()
            .map(|c| c.clone())
            .unwrap_or_else(|e| e.into_inner().clone());
        let parent = resolve(&cwd, if dir.is_empty() { "." } else { dir });
        let Some(mut children) = self.request(self.client.get_children(&parent)) else {
            return Vec::new();
        };
        children.retain(|c| c.starts_with(prefix));
        children.sort();
        let mut pairs: Vec<Pair> = children
            .iter()
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{dir}{c}"),
            })
            .collect();
        // A single match that has children gets a `/`, so the next Tab goes on below it.
        if let [only] = pairs.as_mut_slice() {
            let path = aiozk::path::join(&parent, &only.display);
            let stat = self.request(self.client.exists(&path)).flatten();
            if stat.is_some_and(|s| s.num_children > 0) {
                only.replacement.push('/');
            } else {
                only.replacement.push(' ');
            }
        }
        pairs
    }
}

impl Completer for ZkHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let before = &line[..pos];
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        let word = &before[start..];
        let first = before[..start].trim().is_empty();
        let pairs = if first {
            self.complete_command(word)
        } else if word.starts_with('-') {
            Vec::new()
        } else {
            self.complete_path(word)
        };
        Ok((start, pairs))
    }
}

impl Hinter for ZkHelper {
    type Hint = String;
}

impl Highlighter for ZkHelper {}

impl Validator for ZkHelper {}

impl Helper for ZkHelper {}
