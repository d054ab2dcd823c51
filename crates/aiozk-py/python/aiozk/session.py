"""``Session``: aiozk's ``client.session``, a view of the Rust session.

The Rust client owns the connection, pings, reconnects, re-registers watches and opens a
new session after an expiry. This class keeps aiozk's surface: ``state`` (a
``SessionStateMachine`` fed by the Rust state changes), ``start()``/``close()``,
``ensure_safe_state()``, ``timeout``, ``session_id``, and the watch-callback registry used
by ``ZKClient.wait_for_events``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import TYPE_CHECKING, Any, Callable, DefaultDict, Optional, Set, Tuple

from .connection import Connection
from .states import SessionStateMachine, States

if TYPE_CHECKING:
    from .handle import ClientHandle

log = logging.getLogger(__name__)

DEFAULT_ZOOKEEPER_PORT = 2181
HEARTBEAT_FREQUENCY = 3
MAX_FIND_WAIT = 60

_RUST_TO_AIOZK = {
    'connected': States.CONNECTED,
    'connected_read_only': States.READ_ONLY,
    'disconnected': States.SUSPENDED,
    'expired': States.LOST,
    'auth_failed': States.LOST,
    'closed': States.LOST,
}


class Session:
    """The session of a ``ZKClient`` (``client.session``)."""

    def __init__(self, client: 'ClientHandle', timeout: float, allow_read_only: bool) -> None:
        self.client = client
        self.requested_timeout = float(timeout)
        self.allow_read_only = allow_read_only
        self.state = SessionStateMachine(self)
        self.watch_callbacks: DefaultDict[Tuple[int, str], Set[Callable[[str], Any]]] = collections.defaultdict(set)
        self.started = False
        self.closing = False
        #: Kept for aiozk compatibility; the Rust session numbers its requests itself.
        self.xid = 0
        #: Kept for aiozk compatibility; the Rust session tracks the last zxid itself.
        self.last_zxid: Optional[int] = None

    @property
    def conn(self) -> Optional[Connection]:
        """The current connection (a view with aiozk's ``close()``), or None while not
        connected."""
        core = self.client._core
        address = core.connected_server if core is not None else None
        if address is None or core.state not in ('connected', 'connected_read_only'):  # type: ignore[union-attr]
            return None
        return Connection._view(self.client, address)

    @property
    def timeout(self) -> float:
        """The negotiated session timeout in seconds (the requested one before connecting)."""
        core = self.client._core
        if core is not None and core.session_id:
            return core.session_timeout
        return self.requested_timeout

    @property
    def session_id(self) -> Optional[int]:
        """The session id, or None before the first connection."""
        core = self.client._core
        return core.session_id or None if core is not None else None

    @property
    def password(self) -> bytes:
        """The session password (keep it secret)."""
        core = self.client._core
        return core.session_password if core is not None else b'\x00'

    async def start(self) -> None:
        """Starts the session and waits until it is connected (``ZKClient.start`` without
        creating the chroot)."""
        await self.client._start_session()

    async def close(self) -> None:
        """Closes the session; does nothing when it was never started or is closed."""
        await self.client._close_session()

    async def ensure_safe_state(self, writing: bool = False) -> None:
        """Waits until requests can be sent: CONNECTED, or also READ_ONLY when the client
        allows read-only servers and ``writing`` is false."""
        safe = [States.CONNECTED]
        if self.allow_read_only and not writing:
            safe.append(States.READ_ONLY)
        await self.state.wait_for(*safe)

    def add_watch_callback(self, event_type: int, path: str, callback: Callable[[str], Any]) -> None:
        """Calls ``callback(server_path)`` on the next ``event_type`` event of ``path``
        (a server path) seen by this client; a read with ``watch=True`` sets the watch."""
        self.watch_callbacks[(event_type, path)].add(callback)

    def remove_watch_callback(self, event_type: int, path: str, callback: Callable[[str], Any]) -> None:
        """Undoes ``add_watch_callback``."""
        key = (event_type, path)
        callbacks = self.watch_callbacks.get(key)
        if callbacks is not None:
            callbacks.discard(callback)
            if not callbacks:
                del self.watch_callbacks[key]

    def event_dispatch(self, event_type: int, path: str) -> None:
        """Runs the callbacks registered for this event (called by the Rust client on the
        loop of the read that set the watch)."""
        callbacks = self.watch_callbacks.get((event_type, path))
        if not callbacks:
            return
        for callback in list(callbacks):
            try:
                callback(path)
            except Exception:  # a callback's failure must not stop the others
                log.exception('watch callback %r failed', callback)

    def _on_rust_state(self, name: str) -> None:
        if name == 'new_session':
            return
        if name == 'connecting':
            state = States.LOST if self.state.current_state == States.LOST else States.SUSPENDED
        else:
            state = _RUST_TO_AIOZK.get(name, States.LOST)
        self.state._set(state)

    def __repr__(self) -> str:
        return f'<Session {self.state.current_state} id={self.session_id}>'
