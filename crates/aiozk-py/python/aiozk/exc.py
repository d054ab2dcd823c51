"""Exceptions, with aiozk's class names, hierarchy and error codes.

Every class of aiozk is here under the same name and base class. ``ResponseError``
subclasses carry the ZooKeeper error code as ``error_code`` (also on the instance), and
``str()`` of one is its class name, as in aiozk. ``get_response_error(code)`` and
``response_error_xref`` work as in aiozk.

Additions (all subclasses of aiozk classes, so existing ``except`` clauses still catch
them):

* server codes aiozk does not name (``RequestTimeout`` -122, ``ReconfigDisabled`` -123,
  ``SessionClosedRequireSaslAuth`` -124, ``QuotaExceeded`` -125, ``Throttled`` -127,
  ``InvalidState`` -9, ``SSLConnectionError`` -15, ``SessionClosing`` -116,
  ``NothingToProcess`` -117) are subclasses of ``UnknownError``, which aiozk raises for them;
  ``RequestTimeout`` (also raised when a call's ``read_timeout`` passes before its result)
  is a ``TimeoutError`` too;
* ``ClientClosed`` (a call on a closed client) is an ``InvalidClientState``;
* ``InvalidPath`` and ``InvalidArgument`` (refused before anything is sent) are also
  ``ValueError``;
* ``ProtocolError`` (the server broke the protocol: the message says what it sent and which
  server it was; a reply over ``max_frame`` has ``size`` and ``limit``) and ``TLSError`` are
  ``ZKError``.

``UnknownError`` does not print its code to stdout (aiozk does).
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, Optional, Type


class ZKError(Exception):
    """Base class of every error of this package."""


class ClientConfigWarning(UserWarning):
    """A key of a Java client configuration file (``ZKClient(client_config=...)``) that is
    not applied: unknown, a server setting, or a Java client setting with no equivalent."""


class ConnectError(ZKError):
    """A server could not be connected to."""

    def __init__(self, host: Any, port: Any, server_id: Any = None) -> None:
        super().__init__(host, port, server_id)
        self.host = host
        self.port = port
        self.server_id = server_id

    def __str__(self) -> str:
        return f'Error connecting to {self.host}:{self.port}'


class NoServersError(ZKError):
    """No server of the connect string answered (raised by ``start(timeout=...)``)."""


class SessionLost(ZKError):
    """The session was lost (kept for aiozk compatibility; expiry raises SessionExpired)."""


class InvalidClientState(ZKError):
    """The client is in a state that does not allow the call."""


class ClientClosed(InvalidClientState):
    """The client was closed (or never started)."""


class TimeoutError(ZKError):  # noqa: A001 - aiozk's name
    """A wait timed out. Not a subclass of the builtin or asyncio ``TimeoutError``."""


class UnfinishedRead(ZKError):
    """A reply was cut short (kept for aiozk compatibility)."""


class FailedRetry(ZKError):
    """The retry policy gave up; ``last_error`` is the error of the last attempt."""

    attempts: Optional[int] = None
    last_error: Optional[BaseException] = None


class InvalidStateTransition(ZKError):
    """An invalid session state transition was requested."""


class TransactionFailed(ZKError):
    """A transaction failed as a whole.

    Raised bare by ``async with Transaction(...)`` when the commit failed (as aiozk). When
    raised from a commit, ``index`` is the failed operation, ``error`` its error and
    ``results`` every operation's own outcome (``RolledBack`` before the failed one,
    ``RuntimeInconsistency`` after it).
    """

    index: Optional[int] = None
    error: Optional[BaseException] = None
    results: Optional[list] = None


class ProtocolError(ZKError):
    """The server sent something that breaks the protocol; the connection was dropped."""


class TLSError(ZKError):
    """A TLS handshake failed."""


class InvalidPath(ZKError, ValueError):
    """A path was refused before anything was sent."""


class InvalidArgument(ZKError, ValueError):
    """An argument was refused before anything was sent."""


response_error_xref: Dict[Optional[int], Type['ResponseError']] = {}


class ResponseErrorMeta(type):
    """Registers every ``ResponseError`` subclass under its error code."""

    def __new__(mcs, name: str, bases: tuple, attrs: dict) -> 'ResponseErrorMeta':  # noqa: N804
        new_class = super().__new__(mcs, name, bases, attrs)
        response_error_xref[getattr(new_class, 'error_code', None)] = new_class  # type: ignore[assignment]
        return new_class


class ResponseError(ZKError, metaclass=ResponseErrorMeta):
    """An error code sent by the server."""

    error_code: ClassVar[Optional[int]] = None

    def __str__(self) -> str:
        return self.__class__.__name__


class UnknownError(ResponseError):
    """An error code aiozk does not name."""

    def __init__(self, error_code: Optional[int] = None, *args: Any) -> None:
        super().__init__(error_code, *args)
        if error_code is not None:
            self.error_code = error_code  # type: ignore[misc]

    def __str__(self) -> str:
        return f'Unknown error code: {self.error_code}'


def get_response_error(error_code: int) -> ResponseError:
    """The exception instance for a server error code."""
    if error_code not in response_error_xref:
        return UnknownError(error_code)
    return response_error_xref[error_code]()


class RolledBack(ResponseError):
    """In a failed transaction: this operation was rolled back (code 0)."""

    error_code = 0


class ZKSystemError(ResponseError):
    """A system or server-side error (-1)."""

    error_code = -1


class RuntimeInconsistency(ResponseError):
    """In a failed transaction: this operation was not executed (-2)."""

    error_code = -2


class DataInconsistency(ResponseError):
    """The server found its data inconsistent (-3)."""

    error_code = -3


class ConnectionLoss(ResponseError):
    """The connection was lost before the reply; a write may or may not have happened (-4)."""

    error_code = -4


class MarshallingError(ResponseError):
    """The server could not decode the request (-5)."""

    error_code = -5


class Unimplemented(ResponseError):
    """The server does not implement the operation, or the feature is disabled (-6)."""

    error_code = -6


class OperationTimeout(ResponseError):
    """The operation timed out on the server (-7)."""

    error_code = -7


class BadArguments(ResponseError):
    """Invalid arguments (-8)."""

    error_code = -8


class UnknownSession(ResponseError):
    """The session is unknown to the server (-12)."""

    error_code = -12


class NewConfigNoQuorum(ResponseError):
    """A reconfiguration would leave no quorum (-13)."""

    error_code = -13


class ReconfigInProcess(ResponseError):
    """Another reconfiguration is in progress (-14)."""

    error_code = -14


class APIError(ResponseError):
    """Generic API error (-100)."""

    error_code = -100


class NoNode(ResponseError):
    """The node does not exist (-101)."""

    error_code = -101


class NoAuth(ResponseError):
    """The ACL does not allow the operation (-102)."""

    error_code = -102


class BadVersion(ResponseError):
    """The expected version does not match (-103)."""

    error_code = -103


class NoChildrenForEphemerals(ResponseError):
    """Ephemeral nodes may not have children (-108)."""

    error_code = -108


class NodeExists(ResponseError):
    """The node already exists (-110)."""

    error_code = -110


class NotEmpty(ResponseError):
    """The node has children (-111)."""

    error_code = -111


class SessionExpired(ResponseError):
    """The session expired; its ephemeral nodes are gone (-112)."""

    error_code = -112


class InvalidCallback(ResponseError):
    """Invalid callback (-113)."""

    error_code = -113


class InvalidACL(ResponseError):
    """The ACL is invalid (-114)."""

    error_code = -114


class AuthFailed(ResponseError):
    """Authentication failed (-115): the server refused the credentials, or (with a reason
    after the code) this side's SASL exchange could not go on, e.g. without a Kerberos
    ticket."""

    error_code = -115

    def __str__(self) -> str:
        reasons = [a for a in self.args if isinstance(a, str)]
        return f'AuthFailed: {reasons[0]}' if reasons else 'AuthFailed'


class SessionMoved(ResponseError):
    """The session moved to another server (-118)."""

    error_code = -118


class NotReadOnly(ResponseError):
    """A write was sent to a read-only server (-119)."""

    error_code = -119


class EphemeralOnLocalSession(ResponseError):
    """An ephemeral node was requested on a local session (-120)."""

    error_code = -120


class NoWatcher(ResponseError):
    """No such watcher on the server (-121)."""

    error_code = -121


class _KnownUnknown(UnknownError):
    """A code aiozk reports as ``UnknownError``; named here, still an ``UnknownError``."""

    def __init__(self, *args: Any) -> None:
        ResponseError.__init__(self, *args)

    def __str__(self) -> str:
        return self.__class__.__name__


class InvalidState(_KnownUnknown):
    """Invalid client state (-9)."""

    error_code = -9


class SSLConnectionError(_KnownUnknown):
    """An SSL connection error (-15)."""

    error_code = -15


class SessionClosing(_KnownUnknown):
    """The session is closing (-116)."""

    error_code = -116


class NothingToProcess(_KnownUnknown):
    """No server responses to process (-117)."""

    error_code = -117


class RequestTimeout(_KnownUnknown, TimeoutError):
    """The request timed out: on the server (-122) or past the client's ``read_timeout``."""

    error_code = -122


class ReconfigDisabled(_KnownUnknown):
    """Reconfiguration is disabled on the server (-123)."""

    error_code = -123


class SessionClosedRequireSaslAuth(_KnownUnknown):
    """The server requires SASL authentication (-124)."""

    error_code = -124


class QuotaExceeded(_KnownUnknown):
    """A quota was exceeded (-125)."""

    error_code = -125


class Throttled(_KnownUnknown):
    """The server throttled the request; it was not executed (-127)."""

    error_code = -127


# _KnownUnknown registered itself under UnknownError's code; restore aiozk's entry.
response_error_xref[None] = UnknownError
