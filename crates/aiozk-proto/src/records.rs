//! The jute records of the client protocol.

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::{
    read_bool, read_buffer, read_i32, read_i64, read_ustring, read_vec, write_bool, write_buffer,
    write_string_vec, write_ustring, Decode, DecodeError, Encode,
};
use crate::consts::{AddWatchMode, CreateMode, OpCode, WatcherType, PASSWORD_LEN};

/// The metadata of a znode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stat {
    /// zxid of the change that created the node.
    pub czxid: i64,
    /// zxid of the change that last modified the node's data.
    pub mzxid: i64,
    /// Creation time, in milliseconds since the epoch (server clock).
    pub ctime: i64,
    /// Last data modification time, in milliseconds since the epoch.
    pub mtime: i64,
    /// Number of changes to the data.
    pub version: i32,
    /// Number of changes to the children (creates and deletes).
    pub cversion: i32,
    /// Number of changes to the ACL.
    pub aversion: i32,
    /// Session id of the owner if the node is ephemeral, otherwise 0.
    pub ephemeral_owner: i64,
    /// Length of the data.
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the last change to the children.
    pub pzxid: i64,
}

/// The encoded size of a [`Stat`].
pub const STAT_LEN: usize = 68;

impl Decode for Stat {
    fn decode(b: &mut Bytes) -> Result<Self, DecodeError> {
        if b.len() < STAT_LEN {
            return Err(DecodeError::UnexpectedEnd { what: "stat" });
        }
        Ok(Self {
            czxid: read_i64(b, "stat")?,
            mzxid: read_i64(b, "stat")?,
            ctime: read_i64(b, "stat")?,
            mtime: read_i64(b, "stat")?,
            version: read_i32(b, "stat")?,
            cversion: read_i32(b, "stat")?,
            aversion: read_i32(b, "stat")?,
            ephemeral_owner: read_i64(b, "stat")?,
            data_length: read_i32(b, "stat")?,
            num_children: read_i32(b, "stat")?,
            pzxid: read_i64(b, "stat")?,
        })
    }
}

impl Encode for Stat {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i64(self.czxid);
        b.put_i64(self.mzxid);
        b.put_i64(self.ctime);
        b.put_i64(self.mtime);
        b.put_i32(self.version);
        b.put_i32(self.cversion);
        b.put_i32(self.aversion);
        b.put_i64(self.ephemeral_owner);
        b.put_i32(self.data_length);
        b.put_i32(self.num_children);
        b.put_i64(self.pzxid);
    }
}

/// An access control entry as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AclRecord {
    /// Permission bits.
    pub perms: i32,
    /// Authentication scheme (`world`, `auth`, `digest`, `ip`, `sasl`, `x509`, ...).
    pub scheme: String,
    /// Identity within the scheme.
    pub id: String,
}

impl Decode for AclRecord {
    fn decode(b: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(Self {
            perms: read_i32(b, "acl perms")?,
            scheme: read_ustring(b, "acl scheme")?,
            id: read_ustring(b, "acl id")?,
        })
    }
}

impl Encode for AclRecord {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i32(self.perms);
        write_ustring(b, &self.scheme);
        write_ustring(b, &self.id);
    }
}

fn write_acls(b: &mut BytesMut, acl: &[AclRecord]) {
    b.put_i32(i32::try_from(acl.len()).unwrap_or(i32::MAX));
    for a in acl {
        a.encode(b);
    }
}

fn read_acls(b: &mut Bytes) -> Result<Vec<AclRecord>, DecodeError> {
    read_vec(b, "acl list", 12, AclRecord::decode)
}

/// One identity of the connection, as returned by whoAmI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientInfo {
    /// The scheme (`ip`, `digest`, `sasl`, `x509`, `super`).
    pub auth_scheme: String,
    /// The identity.
    pub user: String,
}

/// The first frame a client sends on a new connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectRequest<'a> {
    /// Highest zxid seen in a reply.
    pub last_zxid_seen: i64,
    /// Requested session timeout in milliseconds.
    pub timeout_ms: i32,
    /// 0 for a new session, else the session to resume.
    pub session_id: i64,
    /// The session password (16 zero bytes for a new session).
    pub password: &'a [u8],
    /// Whether a read-only server is acceptable.
    pub read_only: bool,
}

impl Encode for ConnectRequest<'_> {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i32(0);
        b.put_i64(self.last_zxid_seen);
        b.put_i32(self.timeout_ms);
        b.put_i64(self.session_id);
        if self.password.is_empty() {
            write_buffer(b, Some(&[0u8; PASSWORD_LEN]));
        } else {
            write_buffer(b, Some(self.password));
        }
        write_bool(b, self.read_only);
    }
}

/// The server's answer to a [`ConnectRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectResponse {
    /// Protocol version (0).
    pub protocol_version: i32,
    /// Negotiated timeout in milliseconds; `<= 0` means the session is invalid (expired).
    pub timeout_ms: i32,
    /// The session id (0 on refusal).
    pub session_id: i64,
    /// The session password.
    pub password: Bytes,
    /// True when the server is in read-only mode.
    pub read_only: bool,
}

impl Decode for ConnectResponse {
    fn decode(b: &mut Bytes) -> Result<Self, DecodeError> {
        let protocol_version = read_i32(b, "connect response")?;
        let timeout_ms = read_i32(b, "connect response")?;
        let session_id = read_i64(b, "connect response")?;
        let password = read_buffer(b, "session password")?.unwrap_or_default();
        // The read-only flag is optional: old servers end the record after the password.
        let read_only = if b.is_empty() {
            false
        } else {
            read_bool(b, "read-only flag")?
        };
        Ok(Self {
            protocol_version,
            timeout_ms,
            session_id,
            password,
            read_only,
        })
    }
}

/// The header of every request after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader {
    /// Correlation id.
    pub xid: i32,
    /// The operation.
    pub op: i32,
}

impl Encode for RequestHeader {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i32(self.xid);
        b.put_i32(self.op);
    }
}

impl Decode for RequestHeader {
    fn decode(b: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(Self {
            xid: read_i32(b, "request header")?,
            op: read_i32(b, "request header")?,
        })
    }
}

/// The header of every server frame after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyHeader {
    /// The request's xid, or a special xid.
    pub xid: i32,
    /// The server's last processed zxid.
    pub zxid: i64,
    /// 0 or an error code.
    pub err: i32,
}

impl Decode for ReplyHeader {
    fn decode(b: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(Self {
            xid: read_i32(b, "reply header")?,
            zxid: read_i64(b, "reply header")?,
            err: read_i32(b, "reply header")?,
        })
    }
}

impl Encode for ReplyHeader {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i32(self.xid);
        b.put_i64(self.zxid);
        b.put_i32(self.err);
    }
}

/// A watch notification (the body of a frame with xid -1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatcherEvent {
    /// The event type (see [`crate::EventType`]).
    pub event_type: i32,
    /// The keeper state (always 3, SyncConnected, from a server).
    pub state: i32,
    /// The server path of the node.
    pub path: String,
}

impl Decode for WatcherEvent {
    fn decode(b: &mut Bytes) -> Result<Self, DecodeError> {
        Ok(Self {
            event_type: read_i32(b, "watcher event")?,
            state: read_i32(b, "watcher event")?,
            path: read_ustring(b, "watcher event path")?,
        })
    }
}

impl Encode for WatcherEvent {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i32(self.event_type);
        b.put_i32(self.state);
        write_ustring(b, &self.path);
    }
}

/// The watch lists of a SetWatches (v1 when both persistent lists are empty) request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetWatches<'a> {
    /// The client's last seen zxid: the server reports changes after it.
    pub relative_zxid: i64,
    /// Data watches.
    pub data: Vec<&'a str>,
    /// Exist watches (node absent when set).
    pub exist: Vec<&'a str>,
    /// Child watches.
    pub child: Vec<&'a str>,
    /// Persistent watches (SetWatches2 only).
    pub persistent: Vec<&'a str>,
    /// Persistent recursive watches (SetWatches2 only).
    pub persistent_recursive: Vec<&'a str>,
}

impl SetWatches<'_> {
    /// True when the batch needs SetWatches2 (it holds persistent watches).
    pub fn needs_v2(&self) -> bool {
        !self.persistent.is_empty() || !self.persistent_recursive.is_empty()
    }

    /// The opcode this batch is sent with.
    pub fn opcode(&self) -> OpCode {
        if self.needs_v2() {
            OpCode::SetWatches2
        } else {
            OpCode::SetWatches
        }
    }

    /// Total number of paths in the batch.
    pub fn len(&self) -> usize {
        self.data.len()
            + self.exist.len()
            + self.child.len()
            + self.persistent.len()
            + self.persistent_recursive.len()
    }

    /// True when the batch holds no path.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Encode for SetWatches<'_> {
    fn encode(&self, b: &mut BytesMut) {
        b.put_i64(self.relative_zxid);
        write_string_vec(b, &self.data);
        write_string_vec(b, &self.exist);
        write_string_vec(b, &self.child);
        if self.needs_v2() {
            write_string_vec(b, &self.persistent);
            write_string_vec(b, &self.persistent_recursive);
        }
    }
}

/// A request body, borrowing its arguments. [`Request::opcode`] gives the type to put in the
/// header; [`Encode::encode`] writes the body (without header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// create / create2 / createContainer / createTTL, by `mode`.
    Create {
        /// Server path (for sequential modes, the prefix).
        path: &'a str,
        /// Node data; `None` sends null data (a buffer of length -1), which is what a node
        /// created without data holds and what getData then returns as `None`.
        data: Option<&'a [u8]>,
        /// ACL of the new node.
        acl: &'a [AclRecord],
        /// Creation mode.
        mode: CreateMode,
        /// TTL in ms for the TTL modes.
        ttl: Option<i64>,
    },
    /// delete.
    Delete {
        /// Server path.
        path: &'a str,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// exists.
    Exists {
        /// Server path.
        path: &'a str,
        /// Set a watch.
        watch: bool,
    },
    /// getData.
    GetData {
        /// Server path.
        path: &'a str,
        /// Set a watch.
        watch: bool,
    },
    /// setData.
    SetData {
        /// Server path.
        path: &'a str,
        /// New data; `None` sends null data (length -1).
        data: Option<&'a [u8]>,
        /// Expected version, -1 for any.
        version: i32,
    },
    /// getACL.
    GetAcl {
        /// Server path.
        path: &'a str,
    },
    /// setACL.
    SetAcl {
        /// Server path.
        path: &'a str,
        /// New ACL.
        acl: &'a [AclRecord],
        /// Expected ACL version, -1 for any.
        version: i32,
    },
    /// getChildren (no Stat).
    GetChildren {
        /// Server path.
        path: &'a str,
        /// Set a watch.
        watch: bool,
    },
    /// getChildren2 (with the parent's Stat).
    GetChildren2 {
        /// Server path.
        path: &'a str,
        /// Set a watch.
        watch: bool,
    },
    /// sync.
    Sync {
        /// Server path.
        path: &'a str,
    },
    /// check (only inside a multi).
    Check {
        /// Server path.
        path: &'a str,
        /// Expected version; -1 checks existence only.
        version: i32,
    },
    /// multi: create, delete, setData and check operations.
    Multi(&'a [Request<'a>]),
    /// multiRead: getData and getChildren operations.
    MultiRead(&'a [Request<'a>]),
    /// reconfig.
    Reconfig {
        /// Servers to add (comma separated server lines). Each of the three strings is sent
        /// as null when empty.
        joining: &'a str,
        /// Server ids to remove (comma separated).
        leaving: &'a str,
        /// A whole new membership (non-incremental).
        new_members: &'a str,
        /// Expected config version, -1 for any.
        from_config: i64,
    },
    /// checkWatches.
    CheckWatches {
        /// Server path.
        path: &'a str,
        /// Which table.
        watcher_type: WatcherType,
    },
    /// removeWatches.
    RemoveWatches {
        /// Server path.
        path: &'a str,
        /// Which table.
        watcher_type: WatcherType,
    },
    /// addWatch.
    AddWatch {
        /// Server path.
        path: &'a str,
        /// Persistent or recursive.
        mode: AddWatchMode,
    },
    /// auth (xid -4).
    Auth {
        /// Scheme, e.g. `digest`.
        scheme: &'a str,
        /// Credentials, e.g. `user:password`.
        auth: &'a [u8],
    },
    /// setWatches / setWatches2.
    SetWatches(SetWatches<'a>),
    /// sasl token.
    Sasl {
        /// The client token.
        token: &'a [u8],
    },
    /// getEphemerals.
    GetEphemerals {
        /// Server path prefix.
        prefix: &'a str,
    },
    /// getAllChildrenNumber.
    GetAllChildrenNumber {
        /// Server path.
        path: &'a str,
    },
    /// whoAmI.
    WhoAmI,
    /// ping (xid -2).
    Ping,
    /// closeSession.
    CloseSession,
}

impl Request<'_> {
    /// The opcode to put in the request header.
    pub fn opcode(&self) -> OpCode {
        match self {
            Self::Create { mode, .. } => mode.opcode(),
            Self::Delete { .. } => OpCode::Delete,
            Self::Exists { .. } => OpCode::Exists,
            Self::GetData { .. } => OpCode::GetData,
            Self::SetData { .. } => OpCode::SetData,
            Self::GetAcl { .. } => OpCode::GetAcl,
            Self::SetAcl { .. } => OpCode::SetAcl,
            Self::GetChildren { .. } => OpCode::GetChildren,
            Self::GetChildren2 { .. } => OpCode::GetChildren2,
            Self::Sync { .. } => OpCode::Sync,
            Self::Check { .. } => OpCode::Check,
            Self::Multi(_) => OpCode::Multi,
            Self::MultiRead(_) => OpCode::MultiRead,
            Self::Reconfig { .. } => OpCode::Reconfig,
            Self::CheckWatches { .. } => OpCode::CheckWatches,
            Self::RemoveWatches { .. } => OpCode::RemoveWatches,
            Self::AddWatch { .. } => OpCode::AddWatch,
            Self::Auth { .. } => OpCode::Auth,
            Self::SetWatches(sw) => sw.opcode(),
            Self::Sasl { .. } => OpCode::Sasl,
            Self::GetEphemerals { .. } => OpCode::GetEphemerals,
            Self::GetAllChildrenNumber { .. } => OpCode::GetAllChildrenNumber,
            Self::WhoAmI => OpCode::WhoAmI,
            Self::Ping => OpCode::Ping,
            Self::CloseSession => OpCode::CloseSession,
        }
    }
}

fn write_multi_header(b: &mut BytesMut, op: i32, done: bool) {
    b.put_i32(op);
    write_bool(b, done);
    b.put_i32(-1);
}

/// Appends one operation to a multi or multiRead body being assembled from records encoded
/// on their own: the operation's header, then `record` as [`Encode::encode`] wrote it for a
/// lone request of type `op`. Close the body with [`finish_multi_body`].
///
/// The reads of a multiRead (getData, getChildren) must carry `watch = false`: the server
/// would set the watch, and nothing would record it.
pub fn push_multi_op(b: &mut BytesMut, op: OpCode, record: &[u8]) {
    write_multi_header(b, op.as_i32(), false);
    b.extend_from_slice(record);
}

/// Ends a multi or multiRead body started with [`push_multi_op`].
pub fn finish_multi_body(b: &mut BytesMut) {
    write_multi_header(b, -1, true);
}

/// Bytes that [`push_multi_op`] adds before an operation's record.
pub const MULTI_OP_HEADER_LEN: usize = 9;

/// Bytes of the end marker that [`finish_multi_body`] writes.
pub const MULTI_END_LEN: usize = 9;

impl Encode for Request<'_> {
    fn encode(&self, b: &mut BytesMut) {
        match self {
            Self::Create {
                path,
                data,
                acl,
                mode,
                ttl,
            } => {
                write_ustring(b, path);
                write_buffer(b, *data);
                write_acls(b, acl);
                b.put_i32(mode.flags());
                if mode.is_ttl() {
                    b.put_i64(ttl.unwrap_or(0));
                }
            }
            Self::Delete { path, version } | Self::Check { path, version } => {
                write_ustring(b, path);
                b.put_i32(*version);
            }
            Self::Exists { path, watch }
            | Self::GetData { path, watch }
            | Self::GetChildren { path, watch }
            | Self::GetChildren2 { path, watch } => {
                write_ustring(b, path);
                write_bool(b, *watch);
            }
            Self::SetData {
                path,
                data,
                version,
            } => {
                write_ustring(b, path);
                write_buffer(b, *data);
                b.put_i32(*version);
            }
            Self::GetAcl { path }
            | Self::Sync { path }
            | Self::GetAllChildrenNumber { path }
            | Self::GetEphemerals { prefix: path } => write_ustring(b, path),
            Self::SetAcl { path, acl, version } => {
                write_ustring(b, path);
                write_acls(b, acl);
                b.put_i32(*version);
            }
            Self::Multi(ops) | Self::MultiRead(ops) => {
                for op in ops.iter() {
                    // A create is create2 (15), container or TTL create, whose result carries
                    // the new node's Stat. Before 3.8.2 (and 3.9.0) a server answers a
                    // create2 inside a multi with a plain create result, without the Stat
                    // (ZOOKEEPER-4026); the results decode either way.
                    write_multi_header(b, op.opcode().as_i32(), false);
                    match op {
                        // Reads inside multiRead never set watches: the client would have no
                        // record of them.
                        Self::GetData { path, .. } => {
                            Self::GetData { path, watch: false }.encode(b)
                        }
                        Self::GetChildren { path, .. } => {
                            Self::GetChildren { path, watch: false }.encode(b)
                        }
                        other => other.encode(b),
                    }
                }
                write_multi_header(b, -1, true);
            }
            Self::Reconfig {
                joining,
                leaving,
                new_members,
                from_config,
            } => {
                // An empty part travels as null, as the Java client sends it: the server
                // takes any non-null `newMembers`, even an empty one, for a non-incremental
                // reconfig.
                for part in [joining, leaving, new_members] {
                    if part.is_empty() {
                        b.put_i32(-1);
                    } else {
                        write_ustring(b, part);
                    }
                }
                b.put_i64(*from_config);
            }
            Self::CheckWatches { path, watcher_type }
            | Self::RemoveWatches { path, watcher_type } => {
                write_ustring(b, path);
                b.put_i32(watcher_type.as_i32());
            }
            Self::AddWatch { path, mode } => {
                write_ustring(b, path);
                b.put_i32(mode.as_i32());
            }
            Self::Auth { scheme, auth } => {
                b.put_i32(0);
                write_ustring(b, scheme);
                write_buffer(b, Some(auth));
            }
            Self::SetWatches(sw) => sw.encode(b),
            Self::Sasl { token } => write_buffer(b, Some(token)),
            Self::WhoAmI | Self::Ping | Self::CloseSession => {}
        }
    }
}

/// One operation's outcome inside a multi or multiRead response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// A create without Stat (plain create).
    Create {
        /// The created server path.
        path: String,
    },
    /// A create with Stat (container and TTL creates).
    Create2 {
        /// The created server path.
        path: String,
        /// Its Stat.
        stat: Stat,
    },
    /// A delete.
    Delete,
    /// A setData.
    SetData {
        /// The node's new Stat.
        stat: Stat,
    },
    /// A check.
    Check,
    /// A getData (multiRead).
    GetData {
        /// The data (`None` for null data).
        data: Option<Bytes>,
        /// The node's Stat.
        stat: Stat,
    },
    /// A getChildren (multiRead).
    GetChildren {
        /// Child names.
        children: Vec<String>,
    },
    /// An error result carrying the code (0 means "rolled back").
    Error(i32),
}

/// A decoded response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// An operation with no response body (delete, setWatches, auth, removeWatches, close).
    Empty,
    /// create (1) and sync: a server path.
    Path(String),
    /// create2 / createContainer / createTTL.
    Create2 {
        /// The created server path.
        path: String,
        /// Its Stat.
        stat: Stat,
    },
    /// exists, setData, setACL.
    Stat(Stat),
    /// getData and reconfig.
    Data {
        /// The data (`None` for null data).
        data: Option<Bytes>,
        /// The node's Stat.
        stat: Stat,
    },
    /// getACL.
    Acl {
        /// The ACL.
        acl: Vec<AclRecord>,
        /// The node's Stat.
        stat: Stat,
    },
    /// getChildren (no Stat) and getEphemerals.
    Strings(Vec<String>),
    /// getChildren2.
    Children2 {
        /// Child names.
        children: Vec<String>,
        /// The parent's Stat.
        stat: Stat,
    },
    /// multi / multiRead.
    Multi(Vec<MultiResult>),
    /// getAllChildrenNumber.
    Count(i32),
    /// whoAmI.
    WhoAmI(Vec<ClientInfo>),
    /// sasl.
    Sasl(Option<Bytes>),
}

/// Decodes the body of a successful (err 0) reply to a request of type `op`.
///
/// # Errors
/// [`DecodeError`] when the body does not match the operation's response record.
pub fn decode_response(op: OpCode, body: &mut Bytes) -> Result<Response, DecodeError> {
    Ok(match op {
        OpCode::Create | OpCode::Sync => Response::Path(read_ustring(body, "path")?),
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => Response::Create2 {
            path: read_ustring(body, "path")?,
            stat: Stat::decode(body)?,
        },
        OpCode::Exists | OpCode::SetData | OpCode::SetAcl => Response::Stat(Stat::decode(body)?),
        OpCode::GetData | OpCode::Reconfig => Response::Data {
            data: read_buffer(body, "data")?,
            stat: Stat::decode(body)?,
        },
        OpCode::GetAcl => Response::Acl {
            acl: read_acls(body)?,
            stat: Stat::decode(body)?,
        },
        OpCode::GetChildren => Response::Strings(crate::codec::read_string_vec(body, "children")?),
        OpCode::GetEphemerals => {
            Response::Strings(crate::codec::read_string_vec(body, "ephemerals")?)
        }
        OpCode::GetChildren2 => Response::Children2 {
            children: crate::codec::read_string_vec(body, "children")?,
            stat: Stat::decode(body)?,
        },
        OpCode::Multi | OpCode::MultiRead => Response::Multi(decode_multi(body)?),
        OpCode::GetAllChildrenNumber => Response::Count(read_i32(body, "count")?),
        OpCode::WhoAmI => Response::WhoAmI(read_vec(body, "client info", 8, |b| {
            Ok(ClientInfo {
                auth_scheme: read_ustring(b, "auth scheme")?,
                user: read_ustring(b, "user")?,
            })
        })?),
        OpCode::Sasl => Response::Sasl(read_buffer(body, "sasl token")?),
        OpCode::Delete
        | OpCode::Ping
        | OpCode::Check
        | OpCode::CheckWatches
        | OpCode::RemoveWatches
        | OpCode::AddWatch
        | OpCode::Auth
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::CloseSession
        | OpCode::CreateSession
        | OpCode::DeleteContainer
        | OpCode::Error => Response::Empty,
    })
}

fn decode_multi(body: &mut Bytes) -> Result<Vec<MultiResult>, DecodeError> {
    let mut out = Vec::new();
    while let Some(result) = decode_multi_result(body)? {
        out.push(result);
    }
    Ok(out)
}

/// Decodes the next result of a multi or multiRead reply body (err 0), or `None` at the end
/// marker. Decoding one result at a time lets a caller hand each one on as it goes.
///
/// # Errors
/// [`DecodeError`] for a truncated body or an unknown result type.
pub fn decode_multi_result(body: &mut Bytes) -> Result<Option<MultiResult>, DecodeError> {
    let op = read_i32(body, "multi header")?;
    let done = read_bool(body, "multi header")?;
    let err = read_i32(body, "multi header")?;
    if done {
        return Ok(None);
    }
    Ok(Some(match OpCode::from_i32(op) {
        Some(OpCode::Create) => MultiResult::Create {
            path: read_ustring(body, "multi create path")?,
        },
        Some(OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl) => {
            MultiResult::Create2 {
                path: read_ustring(body, "multi create path")?,
                stat: Stat::decode(body)?,
            }
        }
        Some(OpCode::Delete) => MultiResult::Delete,
        Some(OpCode::SetData) => MultiResult::SetData {
            stat: Stat::decode(body)?,
        },
        Some(OpCode::Check) => MultiResult::Check,
        Some(OpCode::GetData) => MultiResult::GetData {
            data: read_buffer(body, "multi data")?,
            stat: Stat::decode(body)?,
        },
        Some(OpCode::GetChildren) => MultiResult::GetChildren {
            children: crate::codec::read_string_vec(body, "multi children")?,
        },
        Some(OpCode::Error) => {
            // The body repeats the code; the header's copy is authoritative.
            let _ = read_i32(body, "multi error")?;
            MultiResult::Error(err)
        }
        _ => {
            return Err(DecodeError::BadValue {
                what: "multi result type",
                value: op.into(),
            })
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(r: &impl Encode) -> Vec<u8> {
        let mut b = BytesMut::new();
        r.encode(&mut b);
        b.to_vec()
    }

    #[test]
    fn reconfig_sends_empty_parts_as_null() {
        let req = Request::Reconfig {
            joining: "server.4=h:1:2;3",
            leaving: "",
            new_members: "",
            from_config: -1,
        };
        let mut expect = vec![0, 0, 0, 16];
        expect.extend(b"server.4=h:1:2;3");
        expect.extend([0xff; 16]);
        assert_eq!(encode(&req), expect);
    }

    #[test]
    fn connect_request_matches_reference_bytes() {
        let req = ConnectRequest {
            last_zxid_seen: 0,
            timeout_ms: 10_000,
            session_id: 0,
            password: &[],
            read_only: false,
        };
        let mut expect = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x27, 0x10];
        expect.extend([0; 8]);
        expect.extend([0, 0, 0, 16]);
        expect.extend([0; 16]);
        expect.push(0);
        assert_eq!(encode(&req), expect);
        assert_eq!(expect.len(), 45);
    }

    #[test]
    fn get_data_matches_reference_bytes() {
        let body = encode(&Request::GetData {
            path: "/a",
            watch: true,
        });
        assert_eq!(body, [0, 0, 0, 2, b'/', b'a', 1]);
    }

    #[test]
    fn connect_response_with_and_without_read_only_flag() {
        let mut b = BytesMut::new();
        b.put_i32(0);
        b.put_i32(4000);
        b.put_i64(0x1234);
        write_buffer(&mut b, Some(&[7; 16]));
        let mut short = b.clone().freeze();
        let r = ConnectResponse::decode(&mut short).unwrap();
        assert_eq!(
            (r.timeout_ms, r.session_id, r.read_only),
            (4000, 0x1234, false)
        );
        b.put_u8(1);
        let r = ConnectResponse::decode(&mut b.freeze()).unwrap();
        assert!(r.read_only);
        assert_eq!(&r.password[..], &[7; 16]);
    }

    #[test]
    fn create_and_set_data_encode_null_and_empty_data_distinctly() {
        let acl = [AclRecord {
            perms: 31,
            scheme: "world".into(),
            id: "anyone".into(),
        }];
        let create = |data| {
            encode(&Request::Create {
                path: "/n",
                data,
                acl: &acl,
                mode: CreateMode::Persistent,
                ttl: None,
            })
        };
        let null = create(None);
        let empty = create(Some(b""));
        let some = create(Some(b"xy"));
        // path "/n", then the data buffer, then the ACL vector and the flags.
        assert_eq!(&null[..6], &[0, 0, 0, 2, b'/', b'n']);
        assert_eq!(&null[6..10], &[255, 255, 255, 255]);
        assert_eq!(&empty[6..10], &[0, 0, 0, 0]);
        assert_eq!(&some[6..12], &[0, 0, 0, 2, b'x', b'y']);
        assert_eq!(&null[10..], &empty[10..]);
        assert_eq!(&null[10..], &some[12..]);
        assert_eq!(&null[null.len() - 4..], &[0, 0, 0, 0]);

        let set = |data| {
            encode(&Request::SetData {
                path: "/n",
                data,
                version: 7,
            })
        };
        assert_eq!(
            set(None),
            [0, 0, 0, 2, b'/', b'n', 255, 255, 255, 255, 0, 0, 0, 7]
        );
        assert_eq!(
            set(Some(b"")),
            [0, 0, 0, 2, b'/', b'n', 0, 0, 0, 0, 0, 0, 0, 7]
        );

        // Inside a multi the operations keep their data as given.
        let ops = [Request::SetData {
            path: "/n",
            data: None,
            version: -1,
        }];
        let multi = encode(&Request::Multi(&ops));
        assert_eq!(&multi[9..19], &[0, 0, 0, 2, b'/', b'n', 255, 255, 255, 255]);
    }

    #[test]
    fn get_data_responses_keep_null_and_empty_data_apart() {
        let stat = Stat {
            version: 3,
            ..Stat::default()
        };
        let reply = |data: Option<&[u8]>| {
            let mut b = BytesMut::new();
            write_buffer(&mut b, data);
            stat.encode(&mut b);
            decode_response(OpCode::GetData, &mut b.freeze()).unwrap()
        };
        assert_eq!(reply(None), Response::Data { data: None, stat });
        assert_eq!(
            reply(Some(b"")),
            Response::Data {
                data: Some(Bytes::new()),
                stat
            }
        );
        assert_eq!(
            reply(Some(b"ab")),
            Response::Data {
                data: Some(Bytes::from_static(b"ab")),
                stat
            }
        );

        // The same inside a multiRead.
        let mut b = BytesMut::new();
        for data in [None, Some(&b""[..])] {
            write_multi_header(&mut b, OpCode::GetData.as_i32(), false);
            let at = b.len() - 4;
            b[at..].copy_from_slice(&0i32.to_be_bytes());
            write_buffer(&mut b, data);
            stat.encode(&mut b);
        }
        write_multi_header(&mut b, -1, true);
        assert_eq!(
            decode_response(OpCode::MultiRead, &mut b.freeze()).unwrap(),
            Response::Multi(vec![
                MultiResult::GetData { data: None, stat },
                MultiResult::GetData {
                    data: Some(Bytes::new()),
                    stat
                },
            ])
        );
    }

    #[test]
    fn multi_read_assembled_from_lone_records_matches_its_encoding() {
        let ops = [
            Request::GetData {
                path: "/a",
                watch: false,
            },
            Request::GetChildren {
                path: "/bc",
                watch: false,
            },
        ];
        let mut b = BytesMut::new();
        for op in &ops {
            let record = encode(op);
            push_multi_op(&mut b, op.opcode(), &record);
        }
        finish_multi_body(&mut b);
        assert_eq!(&b[..], &encode(&Request::MultiRead(&ops))[..]);
        let records: usize = ops.iter().map(|op| encode(op).len()).sum();
        assert_eq!(
            b.len(),
            records + ops.len() * MULTI_OP_HEADER_LEN + MULTI_END_LEN
        );
    }

    #[test]
    fn multi_results_decode_one_at_a_time() {
        let stat = Stat {
            version: 9,
            ..Stat::default()
        };
        let mut b = BytesMut::new();
        b.put_i32(OpCode::GetData.as_i32());
        write_bool(&mut b, false);
        b.put_i32(0);
        write_buffer(&mut b, Some(b"xyz"));
        stat.encode(&mut b);
        b.put_i32(OpCode::Error.as_i32());
        write_bool(&mut b, false);
        b.put_i32(-101);
        b.put_i32(-101);
        b.put_i32(OpCode::GetChildren.as_i32());
        write_bool(&mut b, false);
        b.put_i32(0);
        b.put_i32(1);
        write_ustring(&mut b, "k");
        write_multi_header(&mut b, -1, true);
        let mut body = b.freeze();
        assert_eq!(
            decode_multi_result(&mut body).unwrap(),
            Some(MultiResult::GetData {
                data: Some(Bytes::from_static(b"xyz")),
                stat
            })
        );
        assert_eq!(
            decode_multi_result(&mut body).unwrap(),
            Some(MultiResult::Error(-101))
        );
        assert_eq!(
            decode_multi_result(&mut body).unwrap(),
            Some(MultiResult::GetChildren {
                children: vec!["k".into()]
            })
        );
        assert_eq!(decode_multi_result(&mut body).unwrap(), None);
        assert!(body.is_empty());
        // A truncated body is an error, not a panic or an end.
        assert!(decode_multi_result(&mut Bytes::from_static(&[0, 0, 0, 4, 0])).is_err());
    }

    #[test]
    fn multi_request_layout() {
        let ops = [
            Request::Check {
                path: "/a",
                version: 3,
            },
            Request::Delete {
                path: "/b",
                version: -1,
            },
        ];
        let body = encode(&Request::Multi(&ops));
        let mut expect = vec![
            0, 0, 0, 13, 0, 255, 255, 255, 255, 0, 0, 0, 2, b'/', b'a', 0, 0, 0, 3,
        ];
        expect.extend([0, 0, 0, 2, 0, 255, 255, 255, 255, 0, 0, 0, 2, b'/', b'b']);
        expect.extend([255, 255, 255, 255]);
        expect.extend([255, 255, 255, 255, 1, 255, 255, 255, 255]);
        assert_eq!(body, expect);
    }

    #[test]
    fn failed_multi_response_decodes_every_code() {
        let mut b = BytesMut::new();
        for code in [0i32, -101, -2] {
            write_multi_header(&mut b, -1, false);
            let at = b.len() - 4;
            b[at..].copy_from_slice(&code.to_be_bytes());
            b.put_i32(code);
        }
        write_multi_header(&mut b, -1, true);
        let r = decode_response(OpCode::Multi, &mut b.freeze()).unwrap();
        assert_eq!(
            r,
            Response::Multi(vec![
                MultiResult::Error(0),
                MultiResult::Error(-101),
                MultiResult::Error(-2)
            ])
        );
    }

    #[test]
    fn set_watches_uses_v1_without_persistent_watches() {
        let mut sw = SetWatches {
            relative_zxid: 5,
            data: vec!["/a"],
            ..Default::default()
        };
        assert_eq!(sw.opcode(), OpCode::SetWatches);
        assert_eq!(encode(&sw).len(), 8 + 4 + 6 + 4 + 4);
        sw.persistent_recursive.push("/r");
        assert_eq!(sw.opcode(), OpCode::SetWatches2);
        assert_eq!(encode(&sw).len(), 8 + 4 + 6 + 4 + 4 + 4 + 4 + 6);
    }

    #[test]
    fn stat_round_trips() {
        let stat = Stat {
            czxid: 1,
            mzxid: 2,
            ctime: 3,
            mtime: 4,
            version: 5,
            cversion: 6,
            aversion: 7,
            ephemeral_owner: 8,
            data_length: 9,
            num_children: 10,
            pzxid: 11,
        };
        let bytes = encode(&stat);
        assert_eq!(bytes.len(), STAT_LEN);
        assert_eq!(Stat::decode(&mut Bytes::from(bytes)).unwrap(), stat);
    }
}
