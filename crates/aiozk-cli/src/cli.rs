//! The command line: global options and one variant per command, with their help text.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use aiozk::fourlw::FourLetterWord;
use aiozk::Acl;
use aiozk_recipes::Layout;
use clap::{Args, Parser, Subcommand};

/// The client's default frame limit: the server's default `jute.maxbuffer`, 1 MiB - 1.
pub(crate) const DEFAULT_MAX_FRAME: usize = 1024 * 1024 - 1;

const ABOUT: &str = "A command-line tool for Apache ZooKeeper";

const LONG_ABOUT: &str = "\
A command-line tool for Apache ZooKeeper, built on the aiozk client.

Every command opens one session, runs, and closes the session (so ephemeral nodes made by
`create -e` are deleted when zk exits). --timeout bounds the whole command: connecting, the
requests and the closeSession at exit, so zk never hangs on a dead or wrong server. Commands
that walk a subtree (ls -R, tree, rmr, dump, load, ephemerals) and lock, elect, double-barrier
and watch give each request --timeout instead. When every server refuses the connection twice in a row, zk
fails at once.

Paths are relative to the chroot given in --servers (`host:port/chroot`). Node data given on
the command line is taken as the argument's bytes; `-` reads it from standard input.

Output is meant for people; with --json every command prints JSON instead (one document, or
one line per event for `watch`):
  stat     {\"czxid\":..,\"mzxid\":..,\"ctime\":..,\"mtime\":..,\"version\":..,\"cversion\":..,
            \"aversion\":..,\"ephemeral_owner\":..,\"data_length\":..,\"num_children\":..,
            \"pzxid\":..}   (the Stat field names; times in ms since the epoch)
  data     {\"data\": \"...\", \"encoding\": \"utf8\"|\"base64\"}  (base64 when not UTF-8)
  acl      [{\"scheme\": \"world\", \"id\": \"anyone\", \"perms\": \"cdrwa\"}, ...]
Errors are one line on standard error, also with --json.";

/// `zk`: the global options and the command.
#[derive(Debug, Parser)]
#[command(
    name = "zk",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_long_help = crate::exit::TABLE,
    after_help = "Run `zk help COMMAND` for a command's options; `zk --help` for the JSON shapes and exit statuses.",
    max_term_width = 100,
    args_override_self = true
)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options that apply to every command.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct Global {
    /// The servers, `host:port,host:port[/chroot]`; IPv6 as `[::1]:2181`; `tls://host:port`
    /// for TLS to that server.
    #[arg(
        long,
        env = "ZK_SERVERS",
        default_value = "127.0.0.1:2181",
        value_name = "HOSTS",
        global = true
    )]
    pub servers: String,

    /// Add credentials to the session, `scheme:credentials` (e.g. `digest:user:password`);
    /// may be repeated.
    #[arg(
        long,
        env = "ZK_AUTH",
        hide_env_values = true,
        value_name = "SCHEME:CREDENTIALS",
        value_parser = parse_auth,
        global = true
    )]
    pub auth: Vec<(String, String)>,

    /// Authenticate with SASL DIGEST-MD5 as `user:password`.
    #[arg(
        long,
        env = "ZK_SASL",
        hide_env_values = true,
        value_name = "USER:PASSWORD",
        value_parser = parse_user_password,
        global = true
    )]
    pub sasl: Option<(String, String)>,

    /// Authenticate with Kerberos (SASL GSSAPI): with --keytab and --principal, a login of
    /// its own renewed before its ticket expires; otherwise the tickets of the ticket cache
    /// (KRB5CCNAME or --ccache). The server's principal is `zookeeper/<host>` of each server
    /// (see --sasl-service and --server-principal). Needs a zk built with the `gssapi`
    /// feature.
    #[arg(long, env = "ZK_SASL_GSSAPI", global = true)]
    pub sasl_gssapi: bool,

    /// The keytab of a Kerberos login (with --principal).
    #[arg(long, value_name = "FILE", requires_all = ["sasl_gssapi", "principal"], global = true)]
    pub keytab: Option<PathBuf>,

    /// The client's Kerberos principal, `name@REALM`: with --keytab, the one to log in as;
    /// with a ticket cache, the one whose tickets to use.
    #[arg(
        long,
        value_name = "PRINCIPAL",
        requires = "sasl_gssapi",
        global = true
    )]
    pub principal: Option<String>,

    /// The ticket cache to use instead of the default one (`FILE:/tmp/krb5cc_1000`).
    #[arg(
        long,
        value_name = "NAME",
        requires = "sasl_gssapi",
        conflicts_with = "keytab",
        global = true
    )]
    pub ccache: Option<String>,

    /// The service part of the servers' Kerberos principals (`zookeeper` by default).
    #[arg(long, value_name = "NAME", requires = "sasl_gssapi", global = true)]
    pub sasl_service: Option<String>,

    /// The servers' whole Kerberos principal (`zookeeper/zk1.example.com@EXAMPLE.COM`)
    /// instead of one made from each server's host.
    #[arg(
        long,
        value_name = "PRINCIPAL",
        requires = "sasl_gssapi",
        global = true
    )]
    pub server_principal: Option<String>,

    /// Use TLS to every server, trusting the certificate authorities in this PEM file.
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_ca: Option<PathBuf>,

    /// Client certificate chain (PEM) for mutual TLS; turns TLS on (with the system's
    /// authorities unless --tls-ca is given). Needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", global = true)]
    pub tls_cert: Option<PathBuf>,

    /// The client certificate's private key (PEM). Needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert", global = true)]
    pub tls_key: Option<PathBuf>,

    /// Refuse server certificates that this certificate revocation list (PEM) revokes; may
    /// be repeated. Turns TLS on (with the system's authorities unless --tls-ca is given).
    #[arg(long, value_name = "FILE", global = true)]
    pub tls_crl: Vec<PathBuf>,

    /// Accept a server certificate issued for another name (it must still chain to a
    /// trusted authority). For test setups only.
    #[arg(long, global = true)]
    pub tls_skip_hostname: bool,

    /// Read the Java client's configuration file (`zkCli.sh -client-configuration`):
    /// `zookeeper.client.secure`, `zookeeper.ssl.*` PEM stores, `zookeeper.request.timeout`,
    /// `jute.maxbuffer`, ...; keys that are not applied are warned about on standard error.
    /// The other options override the file's settings.
    #[arg(long, env = "ZK_CLIENT_CONFIG", value_name = "FILE", global = true)]
    pub client_config: Option<PathBuf>,

    /// Seconds allowed for the whole command: connecting, the requests and the
    /// closeSession at exit (fractions allowed). Subtree walks, lock, elect, double-barrier, watch
    /// and shell: for
    /// each request.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "10",
        value_parser = parse_seconds,
        global = true
    )]
    pub timeout: Duration,

    /// The session timeout to ask for, in seconds: how soon the ephemeral nodes of a
    /// crashed `zk lock`/`zk elect` go away (the server clamps it).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value = "10",
        value_parser = parse_seconds,
        global = true
    )]
    pub session_timeout: Duration,

    /// The largest reply accepted (and request sent), in bytes: raise it to read a node
    /// whose data or list of children is bigger than the server's default jute.maxbuffer.
    #[arg(
        long,
        env = "ZK_MAX_FRAME",
        value_name = "BYTES",
        default_value_t = DEFAULT_MAX_FRAME,
        value_parser = parse_bytes,
        global = true
    )]
    pub max_frame: usize,

    /// Follow the ensemble's membership (/zookeeper/config) while the command runs: the
    /// session moves to added servers and off removed ones, with the load evened out (for
    /// long-running commands such as watch, lock and elect).
    #[arg(long, env = "ZK_TRACK_ENSEMBLE", global = true)]
    pub track_ensemble: bool,

    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,

    /// At exit, print the client's metrics (requests by operation and outcome, latencies,
    /// reconnects, bytes, ...) on standard error, in the Prometheus text format.
    #[arg(long, global = true)]
    pub metrics: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the children of a node (sorted).
    #[command(long_about = "List the children of a node, sorted by name.\n\n\
        With -R, list the whole subtree as full paths, the node itself first, breadth first.\n\
        JSON: {\"path\": P, \"children\": [names]}; with -R {\"path\": P, \"paths\": [paths]}; \
        -s adds \"stat\".")]
    Ls {
        /// List the whole subtree, as full paths.
        #[arg(short = 'R', long)]
        recursive: bool,
        /// Also print the node's Stat.
        #[arg(short = 's', long)]
        stat: bool,
        /// The node.
        path: String,
    },

    /// Show a subtree, indented, with data sizes and child counts.
    #[command(
        long_about = "Show a subtree as an indented tree: each node with its data size in \
        bytes and its number of children.\n\n\
        JSON: {\"name\", \"path\", \"size\", \"num_children\", \"ephemeral\", \"children\": [...]} \
        nested."
    )]
    Tree {
        /// The root of the subtree.
        path: String,
    },

    /// Print a node's data (raw bytes).
    #[command(
        long_about = "Print a node's data to standard output, as raw bytes with nothing \
        added, so `zk get /n > file` copies it exactly.\n\n\
        -s also prints the Stat, on standard error in text mode (standard output stays the \
        data).\n\
        JSON: {\"path\", \"data\", \"encoding\": \"utf8\"|\"base64\"}; -s adds \"stat\"."
    )]
    Get {
        /// Also print the Stat.
        #[arg(short = 's', long)]
        stat: bool,
        /// The node.
        path: String,
    },

    /// Print a node's Stat.
    #[command(
        long_about = "Print a node's Stat: zxids in hex, times as UTC dates.\n\n\
        JSON: the Stat object (times in ms since the epoch)."
    )]
    Stat {
        /// The node.
        path: String,
    },

    /// Exit 0 if the node exists, 1 if not.
    #[command(
        long_about = "Test whether a node exists: exit status 0 if it does, 1 if it \
        does not. Prints nothing in text mode.\n\n\
        JSON: {\"path\", \"exists\": bool, \"stat\": Stat or null}."
    )]
    Exists {
        /// The node.
        path: String,
    },

    /// Create a node.
    #[command(
        long_about = "Create a node and print its path (with the sequence number for -s).\n\n\
        An ephemeral node (-e) is deleted when zk exits, since zk's session ends then.\n\
        TTL nodes (--ttl) need extendedTypesEnabled=true on the server.\n\
        JSON: {\"path\", \"stat\"}."
    )]
    Create {
        /// Ephemeral: deleted when the session (zk) ends.
        #[arg(short = 'e', long, conflicts_with_all = ["container", "ttl"])]
        ephemeral: bool,
        /// Sequential: the server appends a 10-digit sequence number.
        #[arg(short = 's', long, conflicts_with = "container")]
        sequential: bool,
        /// Container: the server deletes it some time after its last child goes.
        #[arg(short = 'c', long, conflicts_with = "ttl")]
        container: bool,
        /// TTL node: deleted once unmodified for MS milliseconds with no children.
        #[arg(short = 't', long, value_name = "MS")]
        ttl: Option<u64>,
        /// Create missing parents (as persistent nodes).
        #[arg(short = 'p', long)]
        parents: bool,
        /// The node's ACL, `scheme:id:perms` (perms from `cdrwa`); may be repeated.
        /// Default: world:anyone:cdrwa.
        #[arg(long, value_name = "ACL", value_parser = parse_acl)]
        acl: Vec<Acl>,
        /// Write only while NODE exists, in one transaction with a check of NODE (else exit 9,
        /// nothing written). Under `zk lock`/`zk elect`: `--fence "$ZK_FENCE_NODE"`.
        #[arg(long, value_name = "NODE")]
        fence: Option<String>,
        /// The node's path (the prefix for -s).
        path: String,
        /// The data: the argument's bytes, or `-` to read standard input. Default: empty.
        #[arg(value_name = "DATA|-")]
        data: Option<OsString>,
    },

    /// Set a node's data.
    #[command(long_about = "Set a node's data.\n\n\
        JSON: {\"path\", \"stat\"} with the new Stat.")]
    Set {
        /// Only if the data version is VERSION (else exit 5).
        #[arg(short = 'v', long = "data-version", value_name = "VERSION")]
        version: Option<i32>,
        /// Write only while NODE exists, in one transaction with a check of NODE (else exit 9,
        /// nothing written). Under `zk lock`/`zk elect`: `--fence "$ZK_FENCE_NODE"`.
        #[arg(long, value_name = "NODE")]
        fence: Option<String>,
        /// The node.
        path: String,
        /// The data: the argument's bytes, or `-` to read standard input.
        #[arg(value_name = "DATA|-")]
        data: OsString,
    },

    /// Delete a node (which must have no children).
    #[command(
        visible_alias = "delete",
        long_about = "Delete a node; it must have no children (else exit 6; see rmr).\n\n\
        JSON: {\"path\", \"deleted\": true}."
    )]
    Rm {
        /// Only if the data version is VERSION (else exit 5).
        #[arg(short = 'v', long = "data-version", value_name = "VERSION")]
        version: Option<i32>,
        /// Write only while NODE exists, in one transaction with a check of NODE (else exit 9,
        /// nothing written). Under `zk lock`/`zk elect`: `--fence "$ZK_FENCE_NODE"`.
        #[arg(long, value_name = "NODE")]
        fence: Option<String>,
        /// The node.
        path: String,
    },

    /// Delete a node and everything below it.
    #[command(
        long_about = "Delete a node and its whole subtree, deepest nodes first. Shows a \
        progress bar on a terminal for big subtrees.\n\n\
        Nodes created meanwhile by others may make it fail with `not empty` (exit 6).\n\
        JSON: {\"path\", \"deleted\": N}."
    )]
    #[command(visible_alias = "deleteall")]
    Rmr {
        /// The root of the subtree.
        path: String,
    },

    /// Print a node's ACL.
    #[command(
        long_about = "Print a node's ACL, one `scheme:id:perms` entry per line.\n\n\
        JSON: {\"path\", \"acl\": [{\"scheme\", \"id\", \"perms\"}], \"aversion\"}."
    )]
    #[command(visible_alias = "getAcl")]
    Getacl {
        /// The node.
        path: String,
    },

    /// Replace a node's ACL.
    #[command(long_about = "Replace a node's ACL with the given entries, each \
        `scheme:id:perms` with perms letters from `cdrwa`, e.g. `world:anyone:r`, \
        `digest:bob:<base64 sha1>:cdrwa`, `ip:10.0.0.0/8:rw`, `auth::cdrwa`.\n\n\
        JSON: {\"path\", \"stat\"}.")]
    #[command(visible_alias = "setAcl")]
    Setacl {
        /// Only if the ACL version (aversion) is VERSION (else exit 5).
        #[arg(short = 'v', long = "acl-version", value_name = "VERSION")]
        version: Option<i32>,
        /// The node.
        path: String,
        /// The new ACL entries.
        #[arg(required = true, value_name = "ACL", value_parser = parse_acl)]
        acl: Vec<Acl>,
    },

    /// Wait until the server has caught up with the leader for a path.
    #[command(
        long_about = "Wait until the connected server has caught up with the leader for \
        PATH.\n\nJSON: {\"path\", \"synced\": true}."
    )]
    Sync {
        /// The path.
        path: String,
    },

    /// Print the changes to a node, one line each, until interrupted.
    #[command(
        long_about = "Print the changes to a node, one line each (`EVENT PATH`), until \
        interrupted (exit 0) or until -n events were printed.\n\n\
        Without options one-shot data and child watches are set and set again after each \
        event (changes made in between are not seen). --persistent uses a persistent watch \
        on the node and its children list; -r a persistent recursive watch on the whole \
        subtree (ZooKeeper 3.6+); these miss nothing.\n\
        Connection changes are printed too: `disconnected: REASON`, `reconnected (session \
        0x..)`, `session expired; new session 0x..`; the watches carry on. Changes made \
        while disconnected are printed once back, marked `(catch-up)`, one per kind of \
        change; a recursive watch prints `Resync PATH` instead when something changed \
        (changes below PATH may have been missed).\n\
        JSON, one object per line: {\"type\": \"event\", \"event\": \"NodeDataChanged\"|..|\
        \"Resync\", \"path\", \"zxid\" (null before ZooKeeper 3.9 and for catch-up events), \
        \"catch_up\": bool, \"resync\": bool} or {\"type\": \"state\", \"state\": \
        \"disconnected\"|\"reconnected\"|\"new_session\", \"session\", \"reason\"}."
    )]
    Watch {
        /// Watch the whole subtree (persistent recursive watch).
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Use a persistent watch instead of one-shot watches.
        #[arg(long)]
        persistent: bool,
        /// Exit after N events.
        #[arg(short = 'n', long, value_name = "N")]
        count: Option<u64>,
        /// The node (it need not exist).
        path: String,
    },

    /// Export a subtree as JSON.
    #[command(
        long_about = "Export a subtree to standard output (or -o FILE) as JSON, for \
        `zk load`. Shows progress on a terminal.\n\n\
        Format: {\"format\": \"zk-dump\", \"version\": 1, \"root\": PATH, \"nodes\": [{\"path\", \
        \"data\", \"encoding\", \"acl\": [{\"scheme\", \"id\", \"perms\"}]}]}: node paths are \
        relative to the root (\"\" for the root itself), parents before children; data is \
        base64 where not UTF-8. Ephemeral nodes are left out, and so is /zookeeper when there \
        is no chroot. The dump is not a snapshot: changes made while it runs may or may not \
        be in it."
    )]
    Dump {
        /// The root of the subtree.
        path: String,
        /// Write to FILE instead of standard output.
        #[arg(short = 'o', long, value_name = "FILE")]
        output: Option<PathBuf>,
    },

    /// Import a subtree exported by `zk dump`.
    #[command(
        long_about = "Import a file written by `zk dump` (`-` for standard input) under \
        PATH: the dump's root becomes PATH, with data and ACLs as dumped. Missing parents of \
        PATH are created. Shows progress on a terminal.\n\n\
        Fails with exit 4 if PATH exists (or any node does), unless --overwrite, which sets \
        the data and ACL of existing nodes instead (`/` always exists: its data and ACL are \
        only set with --overwrite). Not atomic: a failure leaves what was created.\n\
        JSON: {\"path\", \"created\": N, \"updated\": N}."
    )]
    Load {
        /// The dump file, or `-` for standard input.
        file: PathBuf,
        /// Where the dump's root goes.
        path: String,
        /// Overwrite the data and ACL of nodes that exist.
        #[arg(long)]
        overwrite: bool,
    },

    /// Run a command while holding a lock.
    #[command(
        long_about = "Take the lock at PATH (the Lock recipe of aiozk-recipes), run the \
        command, release the lock when it exits. zk's exit status is the command's.\n\n\
        If the lock is lost while the command runs (session expired), the command gets \
        SIGTERM (SIGKILL 5 s later) and zk exits with 9; so it does when the command exits \
        but the lock can no longer be vouched for (zk was paused, the server went silent). \
        If zk gets SIGINT or SIGTERM it passes SIGTERM on, waits for the command, releases \
        the lock and exits with 130.\n\n\
        The command gets ZK_FENCE_NODE, the lock node's path, and ZK_FENCE_CZXID, its \
        creation zxid (decimal; it grows with every holder, a fencing token for other \
        systems). Its writes with `zk set/create/rm --fence \"$ZK_FENCE_NODE\"` succeed only \
        while the lock is held, even if this zk process is frozen and the lock passed on.\n\n\
        --read and --write take the read or the write lock of the read/write lock at PATH \
        (the SharedLock recipe: readers share it, a writer excludes everyone); --permits N \
        takes one of the N permits of the semaphore at PATH (the Semaphore recipe; every user \
        of PATH must give the same N).\n\n\
        --layout curator contends with Apache Curator's InterProcessMutex on PATH (with \
        --read/--write its InterProcessReadWriteLock, with --permits its \
        InterProcessSemaphoreV2), --layout kazoo with kazoo's Lock (ReadLock/WriteLock, \
        Semaphore)."
    )]
    Lock {
        /// Give up (exit 8) if the lock is not acquired within SECONDS. Default: wait.
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        wait: Option<Duration>,
        /// Take the read lock of a read/write lock: shared with other readers.
        #[arg(long, conflicts_with_all = ["write", "permits"])]
        read: bool,
        /// Take the write lock of a read/write lock: excludes readers and writers.
        #[arg(long, conflicts_with = "permits")]
        write: bool,
        /// Take one of N permits of a semaphore (every user of PATH must give the same N).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        permits: Option<u32>,
        /// Whose lock nodes to use: aiozk's, Curator's or kazoo's.
        #[arg(long, value_name = "LAYOUT", default_value = "aiozk", value_parser = parse_layout)]
        layout: Layout,
        /// The lock's path.
        path: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },

    /// Run a command while leader.
    #[command(
        long_about = "Join the leader election at PATH (the LeaderElection recipe of \
        aiozk-recipes), wait to be elected, run the command while leader, step down when it \
        exits. zk's exit status is the command's.\n\n\
        If leadership is lost while the command runs, the command gets SIGTERM (SIGKILL 5 s \
        later) and zk exits with 9; so it does when the command exits but the leadership \
        can no longer be vouched for. If zk gets SIGINT or SIGTERM it passes SIGTERM on, \
        waits for the command, steps down and exits with 130.\n\n\
        The command gets ZK_FENCE_NODE and ZK_FENCE_CZXID as under `zk lock`: fence its \
        writes with `--fence \"$ZK_FENCE_NODE\"`.\n\n\
        --layout curator takes part in Apache Curator's LeaderLatch on PATH, --layout kazoo \
        in kazoo's Election."
    )]
    Elect {
        /// Whose election nodes to use: aiozk's, Curator's or kazoo's.
        #[arg(long, value_name = "LAYOUT", default_value = "aiozk", value_parser = parse_layout)]
        layout: Layout,
        /// The election's path.
        path: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },

    /// Run a command in step with other participants (a double barrier).
    #[command(
        long_about = "Enter the double barrier at PATH (the DoubleBarrier recipe of \
        aiozk-recipes), wait until N participants have entered, run the command, then leave \
        and wait until every participant has left. zk's exit status is the command's; exit 8 \
        when the others did not enter or leave within --wait.\n\n\
        --layout curator takes part in Apache Curator's DistributedDoubleBarrier on PATH, \
        --layout kazoo in kazoo's DoubleBarrier."
    )]
    DoubleBarrier {
        /// How many participants the barrier waits for.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        participants: u32,
        /// Give up (exit 8) if the others have not entered, or left, within SECONDS each.
        /// Default: wait.
        #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
        wait: Option<Duration>,
        /// Whose barrier nodes to use: aiozk's, Curator's or kazoo's.
        #[arg(long, value_name = "LAYOUT", default_value = "aiozk", value_parser = parse_layout)]
        layout: Layout,
        /// The barrier's path.
        path: String,
        /// The command and its arguments (after `--`).
        #[arg(last = true, required = true, value_name = "CMD")]
        command: Vec<OsString>,
    },

    /// Print a counter, or add to it atomically.
    #[command(
        long_about = "Print the value of the counter at PATH (the Counter recipe of \
        aiozk-recipes). With --add N, add N (negative subtracts) with a compare-and-set that \
        is tried again on a conflict, creating the counter with 0 when missing, and print the \
        new value.\n\n\
        --encoding text is the decimal text of aiozk's and kazoo's Counter; int32 is 4 \
        big-endian bytes (Curator's SharedCount, kazoo's Counter(support_curator=True)); \
        int64 is 8 (Curator's DistributedAtomicLong).\n\n\
        If the connection drops while the addition is in flight and it cannot be told \
        whether the server applied it, zk exits with 8 and says so: it never adds twice.\n\n\
        JSON: {\"path\", \"value\"}."
    )]
    Counter {
        /// Add N atomically, then print the new value.
        #[arg(long, value_name = "N", allow_negative_numbers = true)]
        add: Option<i64>,
        /// How the node holds the value: text, int32 or int64.
        #[arg(long, value_enum, value_name = "ENCODING", default_value = "text")]
        encoding: CounterEncoding,
        /// The counter's node.
        path: String,
    },

    /// Print the identities the server gives this session.
    #[command(
        long_about = "Print the identities the server associates with zk's session, \
        one `scheme user` per line (ZooKeeper 3.7+).\n\n\
        JSON: [{\"scheme\", \"user\"}]."
    )]
    Whoami,

    /// List the ephemeral nodes of a subtree and their owners.
    #[command(long_about = "List the ephemeral nodes under PATH (default /), one \
        `PATH OWNER` per line with the owner's session id in hex. Walks the subtree: zk's own \
        session never owns any ephemeral node, so the server's per-session getEphemerals \
        would always be empty here.\n\n\
        JSON: [{\"path\", \"owner\": \"0x..\"}].")]
    Ephemerals {
        /// Only the nodes of this session (hex `0x..` or decimal).
        #[arg(long, value_name = "SESSION", value_parser = parse_session)]
        owner: Option<i64>,
        /// The root of the subtree.
        #[arg(default_value = "/")]
        path: String,
    },

    /// Print the number of nodes below a node.
    #[command(
        long_about = "Print the number of all descendants of a node, not counting \
        itself (ZooKeeper 3.6+).\n\nJSON: {\"path\", \"count\"}."
    )]
    #[command(visible_alias = "getAllChildrenNumber")]
    Count {
        /// The node.
        path: String,
    },

    /// Print the ensemble's dynamic configuration.
    #[command(
        long_about = "Print the ensemble's dynamic configuration (/zookeeper/config), \
        `key=value` lines; empty on a standalone server without dynamic reconfiguration.\n\n\
        JSON: {\"config\": {key: value}, \"version\": \"..\"|null, \"stat\"}."
    )]
    Config,

    /// Change the ensemble's membership (dynamic reconfiguration).
    #[command(
        long_about = "Change the ensemble's membership and print the new configuration: add \
        servers (`server.N=host:quorum:election[:role];[client_host:]client_port`) and remove \
        server ids incrementally, or give the whole new membership with --members. The servers \
        need reconfigEnabled=true, and the session must be allowed to reconfigure (a super user, \
        or skipACL). Exit 5 when --from-version is not the current version.\n\n\
        JSON: as `zk config`."
    )]
    Reconfig {
        /// A server to add; may be repeated.
        #[arg(long, value_name = "SERVER_LINE")]
        add: Vec<String>,
        /// A server id to remove; may be repeated.
        #[arg(long, value_name = "ID")]
        remove: Vec<String>,
        /// The whole new membership (not with --add or --remove); may be repeated.
        #[arg(long, value_name = "SERVER_LINE", conflicts_with_all = ["add", "remove"])]
        members: Vec<String>,
        /// Only if the current configuration's version is VERSION (hexadecimal, as in
        /// `version=` of `zk config`).
        #[arg(long, value_name = "VERSION", value_parser = parse_hex_version)]
        from_version: Option<i64>,
    },

    /// An interactive shell: zkCli.sh's commands and these, with completion and history.
    #[command(
        long_about = "An interactive shell on one session: every command of zk (and \
        zkCli.sh's names for them: delete, deleteall, getAcl, setAcl, getAllChildrenNumber), \
        plus cd, pwd, addauth, history, redo and exit (or quit, or Ctrl-D).\n\n\
        Paths are relative to the current node (`cd`, shown in the prompt), which stays \
        inside the chroot of --servers. Tab completes command names, and paths from the \
        server's children. --json on a line prints that command's result as JSON. History \
        is kept in $ZK_HISTORY (default ~/.zk_history).\n\n\
        Without a terminal (`echo 'ls /' | zk shell`) the lines of standard input are run \
        with no prompt; the exit status is the last command's. Node data and dump files \
        cannot be read from standard input (`-`) in the shell."
    )]
    Shell,

    /// Send a four-letter word (ruok, srvr, mntr, ...) to one server.
    #[command(
        name = "4lw",
        long_about = "Send a four-letter word to the server at HOST:PORT and print its answer \
        (no session is opened; --servers and the TLS options are not used). The server answers \
        only the words on its 4lw.commands.whitelist (by default just srvr).\n\
        Words: ruok srvr stat mntr conf cons envi wchs isro dump dirs wchc wchp crst srst.\n\n\
        JSON: {\"server\", \"word\", \"answer\"}, plus \"metrics\": {key: value} for mntr, \
        \"mode\" for srvr and stat, \"ok\" for ruok."
    )]
    FourLw {
        /// The server, `host:port`.
        #[arg(value_name = "HOST:PORT")]
        server: String,
        /// The word.
        #[arg(value_name = "WORD", value_parser = parse_word)]
        word: FourLetterWord,
    },
}

fn parse_hex_version(s: &str) -> Result<i64, String> {
    let digits = s.trim().trim_start_matches("0x");
    i64::from_str_radix(digits, 16).map_err(|_| format!("{s:?} is not a hexadecimal version"))
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !secs.is_finite() || secs <= 0.0 || secs > 1e9 {
        return Err(format!("{s:?}: seconds must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// How `zk counter` reads and writes the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CounterEncoding {
    /// Decimal text (aiozk, kazoo).
    Text,
    /// 4 bytes, big-endian (Curator's SharedCount).
    Int32,
    /// 8 bytes, big-endian (Curator's DistributedAtomicLong).
    Int64,
}

/// A recipe layout: `aiozk`, `curator` or `kazoo`.
fn parse_layout(s: &str) -> Result<Layout, String> {
    s.parse().map_err(|e: aiozk::Error| e.to_string())
}

/// A byte count: digits, optionally followed by `k`/`K` (KiB) or `m`/`M` (MiB).
fn parse_bytes(s: &str) -> Result<usize, String> {
    let (digits, unit) = match s.char_indices().last() {
        Some((i, 'k' | 'K')) => (&s[..i], 1024),
        Some((i, 'm' | 'M')) => (&s[..i], 1024 * 1024),
        _ => (s, 1),
    };
    digits
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|&n| n >= 1024 && i32::try_from(n).is_ok())
        .ok_or_else(|| {
            format!("{s:?} is not a byte count from 1K to 2047M (digits, optionally K or M)")
        })
}

fn parse_auth(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((scheme, creds)) if !scheme.is_empty() => Ok((scheme.to_owned(), creds.to_owned())),
        _ => Err("expected SCHEME:CREDENTIALS, e.g. digest:user:password".into()),
    }
}

fn parse_user_password(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pw)) if !user.is_empty() => Ok((user.to_owned(), pw.to_owned())),
        _ => Err("expected USER:PASSWORD".into()),
    }
}

fn parse_acl(s: &str) -> Result<Acl, String> {
    s.parse::<Acl>()
        .map_err(|e| format!("{e} (expected scheme:id:perms, perms from cdrwa)"))
}

fn parse_word(s: &str) -> Result<FourLetterWord, String> {
    s.parse::<FourLetterWord>().map_err(|_| {
        let all: Vec<&str> = FourLetterWord::ALL.iter().map(|w| w.as_str()).collect();
        format!("unknown four-letter word (known: {})", all.join(" "))
    })
}

fn parse_session(s: &str) -> Result<i64, String> {
    let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).map(|v| v as i64),
        None => s.parse::<i64>().map_err(|_| ()).or_else(|_| {
            // Not decimal: also accept bare hex.
            u64::from_str_radix(s, 16).map(|v| v as i64)
        }),
    };
    parsed.map_err(|_| format!("{s:?} is not a session id (0x.. or decimal)"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn value_parsers() {
        assert_eq!(parse_seconds("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_bytes("2000000"), Ok(2_000_000));
        assert_eq!(parse_bytes("4M"), Ok(4 << 20));
        assert_eq!(parse_bytes("64k"), Ok(64 << 10));
        assert!(parse_bytes("12").is_err());
        assert!(parse_bytes("3000M").is_err());
        assert!(parse_bytes("x").is_err());
        assert!(parse_seconds("0").is_err());
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("x").is_err());
        assert_eq!(
            parse_auth("digest:bob:pw"),
            Ok(("digest".into(), "bob:pw".into()))
        );
        assert!(parse_auth("nope").is_err());
        assert_eq!(parse_session("0x10"), Ok(16));
        assert_eq!(parse_session("16"), Ok(16));
        assert_eq!(parse_session("0x100000d3f2a0000"), Ok(0x100000d3f2a0000));
        assert!(parse_acl("world:anyone:cdrwa").is_ok());
        assert!(parse_acl("world:anyone").is_err());
        assert_eq!(parse_word("RUOK"), Ok(FourLetterWord::Ruok));
    }
}
