"""aiozk's ``connection`` module. The Rust client owns the connection (framing, pings,
reconnects, TLS); nothing here talks to a server. Kept so that imports keep working."""

from __future__ import annotations

from typing import Any

DEFAULT_READ_TIMEOUT = 3


class Connection:
    """Not available: the Rust client's connection is internal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError('the connection is internal to the Rust client')
