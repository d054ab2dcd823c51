//! Opcodes, special xids, create modes, event types and other protocol enumerations.

/// Request type codes (`ZooDefs.OpCode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum OpCode {
    /// create (1): returns the path.
    Create = 1,
    /// delete (2).
    Delete = 2,
    /// exists (3).
    Exists = 3,
    /// getData (4).
    GetData = 4,
    /// setData (5).
    SetData = 5,
    /// getACL (6).
    GetAcl = 6,
    /// setACL (7).
    SetAcl = 7,
    /// getChildren (8).
    GetChildren = 8,
    /// sync (9).
    Sync = 9,
    /// ping (11), always with xid -2.
    Ping = 11,
    /// getChildren2 (12): children plus the parent's Stat.
    GetChildren2 = 12,
    /// check (13), only inside a multi.
    Check = 13,
    /// multi (14): an atomic transaction.
    Multi = 14,
    /// create2 (15): create returning the Stat (3.5+).
    Create2 = 15,
    /// reconfig (16).
    Reconfig = 16,
    /// checkWatches (17).
    CheckWatches = 17,
    /// removeWatches (18).
    RemoveWatches = 18,
    /// createContainer (19).
    CreateContainer = 19,
    /// deleteContainer (20): server internal, never sent by clients.
    DeleteContainer = 20,
    /// createTTL (21).
    CreateTtl = 21,
    /// multiRead (22): a non-atomic batch of reads (3.6+).
    MultiRead = 22,
    /// auth (100), always with xid -4.
    Auth = 100,
    /// setWatches (101).
    SetWatches = 101,
    /// sasl (102).
    Sasl = 102,
    /// getEphemerals (103).
    GetEphemerals = 103,
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber = 104,
    /// setWatches2 (105).
    SetWatches2 = 105,
    /// addWatch (106).
    AddWatch = 106,
    /// whoAmI (107).
    WhoAmI = 107,
    /// createSession (-10): server internal.
    CreateSession = -10,
    /// closeSession (-11).
    CloseSession = -11,
    /// error (-1): the type of an error result inside a multi response.
    Error = -1,
}

impl OpCode {
    /// The opcode with this number, if any.
    pub fn from_i32(code: i32) -> Option<Self> {
        Some(match code {
            1 => Self::Create,
            2 => Self::Delete,
            3 => Self::Exists,
            4 => Self::GetData,
            5 => Self::SetData,
            6 => Self::GetAcl,
            7 => Self::SetAcl,
            8 => Self::GetChildren,
            9 => Self::Sync,
            11 => Self::Ping,
            12 => Self::GetChildren2,
            13 => Self::Check,
            14 => Self::Multi,
            15 => Self::Create2,
            16 => Self::Reconfig,
            17 => Self::CheckWatches,
            18 => Self::RemoveWatches,
            19 => Self::CreateContainer,
            20 => Self::DeleteContainer,
            21 => Self::CreateTtl,
            22 => Self::MultiRead,
            100 => Self::Auth,
            101 => Self::SetWatches,
            102 => Self::Sasl,
            103 => Self::GetEphemerals,
            104 => Self::GetAllChildrenNumber,
            105 => Self::SetWatches2,
            106 => Self::AddWatch,
            107 => Self::WhoAmI,
            -10 => Self::CreateSession,
            -11 => Self::CloseSession,
            -1 => Self::Error,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn as_i32(self) -> i32 {
        self as i32
    }

    /// The operation's name as ZooKeeper spells it (`ZooDefs.opNames`, and the names of the
    /// `OpCode` constants for the operations that list leaves out): `getData`, `create2`,
    /// `addWatch`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Delete => "delete",
            Self::Exists => "exists",
            Self::GetData => "getData",
            Self::SetData => "setData",
            Self::GetAcl => "getACL",
            Self::SetAcl => "setACL",
            Self::GetChildren => "getChildren",
            Self::Sync => "sync",
            Self::Ping => "ping",
            Self::GetChildren2 => "getChildren2",
            Self::Check => "check",
            Self::Multi => "multi",
            Self::Create2 => "create2",
            Self::Reconfig => "reconfig",
            Self::CheckWatches => "checkWatches",
            Self::RemoveWatches => "removeWatches",
            Self::CreateContainer => "createContainer",
            Self::DeleteContainer => "deleteContainer",
            Self::CreateTtl => "createTTL",
            Self::MultiRead => "multiRead",
            Self::Auth => "auth",
            Self::SetWatches => "setWatches",
            Self::Sasl => "sasl",
            Self::GetEphemerals => "getEphemerals",
            Self::GetAllChildrenNumber => "getAllChildrenNumber",
            Self::SetWatches2 => "setWatches2",
            Self::AddWatch => "addWatch",
            Self::WhoAmI => "whoAmI",
            Self::CreateSession => "createSession",
            Self::CloseSession => "closeSession",
            Self::Error => "error",
        }
    }

    /// True for operations that change the tree (a read-only server refuses them).
    pub fn is_write(self) -> bool {
        matches!(
            self,
            Self::Create
                | Self::Create2
                | Self::CreateContainer
                | Self::CreateTtl
                | Self::Delete
                | Self::SetData
                | Self::SetAcl
                | Self::Check
                | Self::Multi
                | Self::Reconfig
        )
    }
}

/// Special xids.
pub mod xid {
    /// A watch notification (server to client only).
    pub const NOTIFICATION: i32 = -1;
    /// A ping and its reply.
    pub const PING: i32 = -2;
    /// An auth packet and its reply.
    pub const AUTH: i32 = -4;
    /// SetWatches as the C client sends it. We give SetWatches normal xids instead.
    pub const SET_WATCHES: i32 = -8;
}

/// Node creation modes (the `flags` of a create request).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CreateMode {
    /// A plain node (0).
    #[default]
    Persistent,
    /// Deleted when the creating session ends (1).
    Ephemeral,
    /// A persistent node whose name gets a 10-digit sequence suffix (2).
    PersistentSequential,
    /// An ephemeral node with a sequence suffix (3).
    EphemeralSequential,
    /// Deleted by the server some time after its last child is deleted (4).
    Container,
    /// Deleted once it has gone `ttl` without modification and has no children (5).
    PersistentWithTtl,
    /// A TTL node with a sequence suffix (6).
    PersistentSequentialWithTtl,
}

impl CreateMode {
    /// The wire flags.
    pub fn flags(self) -> i32 {
        match self {
            Self::Persistent => 0,
            Self::Ephemeral => 1,
            Self::PersistentSequential => 2,
            Self::EphemeralSequential => 3,
            Self::Container => 4,
            Self::PersistentWithTtl => 5,
            Self::PersistentSequentialWithTtl => 6,
        }
    }

    /// The mode with these flags, if any.
    pub fn from_flags(flags: i32) -> Option<Self> {
        Some(match flags {
            0 => Self::Persistent,
            1 => Self::Ephemeral,
            2 => Self::PersistentSequential,
            3 => Self::EphemeralSequential,
            4 => Self::Container,
            5 => Self::PersistentWithTtl,
            6 => Self::PersistentSequentialWithTtl,
            _ => return None,
        })
    }

    /// True for the modes that append a sequence number.
    pub fn is_sequential(self) -> bool {
        matches!(
            self,
            Self::PersistentSequential
                | Self::EphemeralSequential
                | Self::PersistentSequentialWithTtl
        )
    }

    /// True for the modes whose node dies with the session.
    pub fn is_ephemeral(self) -> bool {
        matches!(self, Self::Ephemeral | Self::EphemeralSequential)
    }

    /// True for the modes that need a TTL.
    pub fn is_ttl(self) -> bool {
        matches!(
            self,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl
        )
    }

    /// The opcode that creates a node of this mode and returns its Stat.
    pub fn opcode(self) -> OpCode {
        match self {
            Self::Container => OpCode::CreateContainer,
            Self::PersistentWithTtl | Self::PersistentSequentialWithTtl => OpCode::CreateTtl,
            _ => OpCode::Create2,
        }
    }
}

/// The largest TTL the server accepts, in milliseconds (2^40 - 1).
pub const MAX_TTL_MS: i64 = (1 << 40) - 1;

/// Watch notification types (`Watcher.Event.EventType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// -1: a session state change (never from the server).
    None,
    /// 1
    NodeCreated,
    /// 2
    NodeDeleted,
    /// 3
    NodeDataChanged,
    /// 4
    NodeChildrenChanged,
    /// 5 (client-local)
    DataWatchRemoved,
    /// 6 (client-local)
    ChildWatchRemoved,
    /// 7 (client-local)
    PersistentWatchRemoved,
}

impl EventType {
    /// The type with this wire value.
    pub fn from_i32(v: i32) -> Option<Self> {
        Some(match v {
            -1 => Self::None,
            1 => Self::NodeCreated,
            2 => Self::NodeDeleted,
            3 => Self::NodeDataChanged,
            4 => Self::NodeChildrenChanged,
            5 => Self::DataWatchRemoved,
            6 => Self::ChildWatchRemoved,
            7 => Self::PersistentWatchRemoved,
            _ => return None,
        })
    }

    /// The wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            Self::None => -1,
            Self::NodeCreated => 1,
            Self::NodeDeleted => 2,
            Self::NodeDataChanged => 3,
            Self::NodeChildrenChanged => 4,
            Self::DataWatchRemoved => 5,
            Self::ChildWatchRemoved => 6,
            Self::PersistentWatchRemoved => 7,
        }
    }
}

/// `AddWatchMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddWatchMode {
    /// 0: events for the node and its direct children list.
    Persistent,
    /// 1: events for the node and every descendant (no child events).
    PersistentRecursive,
}

impl AddWatchMode {
    /// The wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            Self::Persistent => 0,
            Self::PersistentRecursive => 1,
        }
    }
}

/// `WatcherType` of checkWatches and removeWatches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatcherType {
    /// 1
    Children,
    /// 2
    Data,
    /// 3: both tables; the only way to remove persistent watches before 3.9.
    Any,
    /// 4: a persistent watch (3.9+; older servers answer MARSHALLINGERROR).
    Persistent,
    /// 5: a persistent recursive watch (3.9+; older servers answer MARSHALLINGERROR).
    PersistentRecursive,
}

impl WatcherType {
    /// The wire value.
    pub fn as_i32(self) -> i32 {
        match self {
            Self::Children => 1,
            Self::Data => 2,
            Self::Any => 3,
            Self::Persistent => 4,
            Self::PersistentRecursive => 5,
        }
    }
}

/// The size of a session password.
pub const PASSWORD_LEN: usize = 16;

/// The default frame limit of server and Java client (`jute.maxbuffer`): 1 MiB - 1.
pub const DEFAULT_MAX_FRAME: usize = 0xF_FFFF;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip() {
        for code in -20..120 {
            if let Some(op) = OpCode::from_i32(code) {
                assert_eq!(op.as_i32(), code);
            }
        }
        assert_eq!(OpCode::from_i32(10), None);
    }

    #[test]
    fn create_modes_round_trip() {
        for flags in 0..7 {
            let mode = CreateMode::from_flags(flags).unwrap();
            assert_eq!(mode.flags(), flags);
        }
        assert_eq!(CreateMode::from_flags(7), None);
        assert_eq!(CreateMode::Container.opcode(), OpCode::CreateContainer);
        assert_eq!(CreateMode::PersistentWithTtl.opcode(), OpCode::CreateTtl);
    }

    #[test]
    fn event_types_round_trip() {
        for v in -1..8 {
            if let Some(t) = EventType::from_i32(v) {
                assert_eq!(t.as_i32(), v);
            }
        }
    }
}
