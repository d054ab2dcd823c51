"""aiozk's ``connection`` module. The Rust client owns the connection (framing, pings,
reconnects, TLS); ``client.session.conn`` is a view of it, with aiozk's ``close()``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    from .handle import ClientHandle

DEFAULT_READ_TIMEOUT = 3


class Connection:
    """The connection a client is using (``client.session.conn`` while connected).

    It cannot be opened by hand: the Rust client opens its connections itself.
    """

    host: str
    port: int
    closing: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError('the connection is internal to the Rust client')

    @classmethod
    def _view(cls, client: 'ClientHandle', address: str) -> 'Connection':
        conn = object.__new__(cls)
        conn._client = client  # type: ignore[attr-defined]
        conn._address = address  # type: ignore[attr-defined]
        host, _, port = address.rpartition(':')
        conn.host = host.strip('[]')
        conn.port = int(port) if port.isdigit() else 0
        conn.closing = False
        return conn

    @property
    def read_only(self) -> bool:
        """True while connected to a read-only server."""
        core = self._client._core  # type: ignore[attr-defined]
        return core is not None and core.state == 'connected_read_only'

    async def close(self, timeout: Optional[float] = None) -> None:
        """Drops this connection, as a network failure would: calls in flight fail with
        ``ConnectionLoss``, the session goes SUSPENDED and the client reconnects at once
        with the same session, re-registering its watches. Does nothing when the client has
        moved to another connection already. ``timeout`` is accepted for aiozk's signature
        (nothing waits here)."""
        self.closing = True
        core = self._client._core  # type: ignore[attr-defined]
        if core is not None and core.connected_server == self._address:  # type: ignore[attr-defined]
            core.reconnect()

    def __repr__(self) -> str:
        return f'<Connection {self.host}:{self.port}>'
