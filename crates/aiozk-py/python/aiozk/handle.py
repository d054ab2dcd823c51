"""``ClientHandle``: what the views of a client (its session, connection and transactions)
use of it, as a typing protocol that ``ZKClient`` satisfies, so that they need not import
the client module (which imports them)."""

from __future__ import annotations

from typing import Optional, Protocol

from . import _aiozk


class ClientHandle(Protocol):
    """The part of ``ZKClient`` its views use."""

    _core: Optional[_aiozk.Client]

    def _c(self) -> _aiozk.Client:
        """The Rust client; raises when the session was never started or is closed."""
        ...

    def normalize_path(self, path: str) -> str:
        """The server path of a client path."""
        ...

    def denormalize_path(self, path: str) -> str:
        """The client path of a server path."""
        ...

    async def _start_session(self, timeout: Optional[float] = None) -> None:
        """Starts the session and waits until it is connected."""
        ...

    async def _close_session(self) -> None:
        """Closes the session."""
        ...
