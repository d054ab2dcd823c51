"""aiozk's protocol records, for ``ZKClient.send`` and for values such as ``Stat`` and ``ACL``.

The wire format itself is the Rust client's business: the request classes here only hold
the fields ``ZKClient.send`` needs, and the response classes the fields it returns.
"""

from __future__ import annotations

from typing import Any, Dict, List

from .acl import ACL, AUTHED_UNRESTRICTED, ID, UNRESTRICTED_ACCESS, WORLD_READABLE
from .part import Part
from .stat import Stat
from .watches import WATCH_XID, WatchEvent

PING_XID = -2
AUTH_XID = -4
CLOSE_XID = None


class Request(Part):
    """A request for ``ZKClient.send``."""

    opcode: int = 0
    writes_data = False


class Response(Part):
    """The reply to a ``Request``."""

    opcode: int = 0


class ExistsRequest(Request):
    """exists (op 3)."""

    opcode = 3
    parts = (('path', str), ('watch', bool))


class ExistsResponse(Response):
    """The node's ``stat`` (the call raises NoNode when it is missing)."""

    opcode = 3
    parts = (('stat', Stat),)


class GetDataRequest(Request):
    """getData (op 4)."""

    opcode = 4
    parts = (('path', str), ('watch', bool))


class GetDataResponse(Response):
    """``data`` and ``stat``."""

    opcode = 4
    parts = (('data', bytes), ('stat', Stat))


class SetDataRequest(Request):
    """setData (op 5)."""

    opcode = 5
    writes_data = True
    parts = (('path', str), ('data', bytes), ('version', int))


class SetDataResponse(Response):
    """The new ``stat``."""

    opcode = 5
    parts = (('stat', Stat),)


class CreateRequest(Request):
    """create (op 1); ``flags``: 1 ephemeral, 2 sequential, 4 container."""

    opcode = 1
    writes_data = True
    EPHEMERAL_FLAG = 1 << 0
    SEQUENTIAL_FLAG = 1 << 1
    CONTAINER_FLAG = 1 << 2
    parts = (('path', str), ('data', bytes), ('acl', list), ('flags', int))

    def set_flags(self, ephemeral: bool = False, sequential: bool = False, container: bool = False) -> None:
        """Sets ``flags`` from the node type."""
        self.flags = (
            (self.EPHEMERAL_FLAG if ephemeral else 0)
            | (self.SEQUENTIAL_FLAG if sequential else 0)
            | (self.CONTAINER_FLAG if container else 0)
        )


class CreateResponse(Response):
    """The created ``path``."""

    opcode = 1
    parts = (('path', str),)


class Create2Request(CreateRequest):
    """create2 (op 15)."""

    opcode = 15


class Create2Response(Response):
    """The created ``path`` and its ``stat``."""

    opcode = 15
    parts = (('path', str), ('stat', Stat))


class DeleteRequest(Request):
    """delete (op 2)."""

    opcode = 2
    writes_data = True
    parts = (('path', str), ('version', int))


class DeleteResponse(Response):
    """No fields."""

    opcode = 2


class GetChildrenRequest(Request):
    """getChildren (op 8)."""

    opcode = 8
    parts = (('path', str), ('watch', bool))


class GetChildrenResponse(Response):
    """The ``children`` names."""

    opcode = 8
    parts = (('children', list),)


class GetChildren2Request(Request):
    """getChildren2 (op 12)."""

    opcode = 12
    parts = (('path', str), ('watch', bool))


class GetChildren2Response(Response):
    """The ``children`` names and the parent's ``stat``."""

    opcode = 12
    parts = (('children', list), ('stat', Stat))


class GetACLRequest(Request):
    """getACL (op 6)."""

    opcode = 6
    parts = (('path', str),)


class GetACLResponse(Response):
    """The ``acl`` list and the ``stat``."""

    opcode = 6
    parts = (('acl', list), ('stat', Stat))


class SetACLRequest(Request):
    """setACL (op 7)."""

    opcode = 7
    writes_data = True
    parts = (('path', str), ('acl', list), ('version', int))


class SetACLResponse(Response):
    """The new ``stat``."""

    opcode = 7
    parts = (('stat', Stat),)


class SyncRequest(Request):
    """sync (op 9)."""

    opcode = 9
    parts = (('path', str),)


class SyncResponse(Response):
    """The synced ``path``."""

    opcode = 9
    parts = (('path', str),)


class AuthRequest(Request):
    """auth (op 100): adds credentials to the session."""

    opcode = 100
    parts = (('type', int), ('scheme', str), ('auth', bytes))


class AuthResponse(Response):
    """No fields."""

    opcode = 100


class CheckVersionRequest(Request):
    """check (op 13), only inside a transaction."""

    opcode = 13
    parts = (('path', str), ('version', int))


class CheckVersionResponse(Response):
    """No fields."""

    opcode = 13


class PingRequest(Request):
    """ping (op 11): the Rust session pings by itself; sending one is a round trip."""

    opcode = 11


class PingResponse(Response):
    """No fields."""

    opcode = 11


class CloseRequest(Request):
    """closeSession (op -11): closes the client."""

    opcode = -11


class CloseResponse(Response):
    """No fields."""

    opcode = -11


class ReconfigRequest(Request):
    """reconfig (op 16): ``joining_servers``, ``leaving_servers``, ``new_members`` (comma
    separated, None or '' for none) and ``current_config_id`` (-1: any)."""

    opcode = 16
    writes_data = True
    parts = (
        ('joining_servers', str),
        ('leaving_servers', str),
        ('new_members', str),
        ('current_config_id', int),
    )


class ReconfigResponse(Response):
    """The new configuration's ``stat``, and its ``data`` (the configuration text)."""

    opcode = 16
    parts = (('stat', Stat), ('data', bytes))


class TransactionRequest(Request):
    """multi (op 14): the records added with ``add()`` (create, create2, delete, setData,
    check), applied atomically."""

    opcode = 14
    writes_data = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.requests: List[Request] = []

    def add(self, request: Request) -> None:
        """Appends an operation."""
        self.requests.append(request)

    def __str__(self) -> str:
        return 'Txn[%s]' % ', '.join(map(str, self.requests))


class TransactionResponse(Response):
    """``responses``: one per operation, in order: the operation's response record, or
    (when the transaction failed) every operation's exception, as in aiozk."""

    opcode = 14

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.responses: List[Any] = []

    def __str__(self) -> str:
        return 'Txn[%s]' % ', '.join(map(str, self.responses))


# The records below are the session's own business in this package: ``ZKClient.send``
# raises ``NotImplementedError`` for them, naming what to use instead.


class ConnectRequest(Request):
    """The handshake; the session sends it itself (``ZKClient.start``)."""

    parts = (
        ('protocol_version', int),
        ('last_seen_zxid', int),
        ('timeout', int),
        ('session_id', int),
        ('password', bytes),
        ('read_only', bool),
    )


class ConnectResponse(Response):
    """The handshake's reply."""

    parts = (('protocol_version', int), ('timeout', int), ('session_id', int), ('password', bytes))


class SASLRequest(Request):
    """A SASL token (op 102); the session authenticates itself (``ZKClient(sasl=...)``)."""

    opcode = 102
    parts = (('token', bytes),)


class SASLResponse(Response):
    """A SASL token from the server."""

    opcode = 102
    parts = (('token', bytes),)


class SetWatchesRequest(Request):
    """Watch re-registration (op 101); the session re-registers every watch itself after
    each reconnect."""

    opcode = 101
    parts = (
        ('relative_zxid', int),
        ('data_watches', list),
        ('exist_watches', list),
        ('child_watches', list),
    )


class SetWatchesResponse(Response):
    """No fields."""

    opcode = 101


class CheckWatchesRequest(Request):
    """checkWatches (op 17): whether the server has a watch of ``type`` (1 children, 2
    data, 3 any) on ``path``."""

    opcode = 17
    parts = (('path', str), ('type', int))


class CheckWatchesResponse(Response):
    """No fields."""

    opcode = 17


class RemoveWatchesRequest(Request):
    """removeWatches (op 18) of ``type`` (1 children, 2 data, 3 any) on ``path``."""

    opcode = 18
    parts = (('path', str), ('type', int))


class RemoveWatchesResponse(Response):
    """No fields."""

    opcode = 18


#: Response record classes by opcode, as aiozk's ``response_xref``.
response_xref: Dict[Any, type] = {
    cls.opcode: cls
    for cls in (
        CreateResponse,
        DeleteResponse,
        ExistsResponse,
        GetDataResponse,
        SetDataResponse,
        GetACLResponse,
        SetACLResponse,
        GetChildrenResponse,
        SyncResponse,
        PingResponse,
        GetChildren2Response,
        CheckVersionResponse,
        TransactionResponse,
        Create2Response,
        ReconfigResponse,
        CheckWatchesResponse,
        RemoveWatchesResponse,
        CloseResponse,
        AuthResponse,
        SetWatchesResponse,
        SASLResponse,
    )
}
response_xref[None] = ConnectResponse

SPECIAL_XIDS = (AUTH_XID, PING_XID, CLOSE_XID)

__all__ = [
    'CheckWatchesRequest',
    'CheckWatchesResponse',
    'ConnectRequest',
    'ConnectResponse',
    'ReconfigRequest',
    'ReconfigResponse',
    'RemoveWatchesRequest',
    'RemoveWatchesResponse',
    'SASLRequest',
    'SASLResponse',
    'SPECIAL_XIDS',
    'SetWatchesRequest',
    'SetWatchesResponse',
    'TransactionRequest',
    'TransactionResponse',
    'response_xref',
    'ACL',
    'AUTHED_UNRESTRICTED',
    'AUTH_XID',
    'CLOSE_XID',
    'ID',
    'PING_XID',
    'UNRESTRICTED_ACCESS',
    'WATCH_XID',
    'WORLD_READABLE',
    'AuthRequest',
    'AuthResponse',
    'CheckVersionRequest',
    'CheckVersionResponse',
    'CloseRequest',
    'CloseResponse',
    'Create2Request',
    'Create2Response',
    'CreateRequest',
    'CreateResponse',
    'DeleteRequest',
    'DeleteResponse',
    'ExistsRequest',
    'ExistsResponse',
    'GetACLRequest',
    'GetACLResponse',
    'GetChildren2Request',
    'GetChildren2Response',
    'GetChildrenRequest',
    'GetChildrenResponse',
    'GetDataRequest',
    'GetDataResponse',
    'Part',
    'PingRequest',
    'PingResponse',
    'Request',
    'Response',
    'SetACLRequest',
    'SetACLResponse',
    'SetDataRequest',
    'SetDataResponse',
    'Stat',
    'SyncRequest',
    'SyncResponse',
    'WatchEvent',
]
