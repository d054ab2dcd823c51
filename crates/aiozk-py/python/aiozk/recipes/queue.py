"""``Queue``: a distributed FIFO queue (an addition to aiozk's recipes).

``put(data)`` appends; ``take()`` claims the oldest item, which stays in the queue until
``await item.complete()`` (or goes back with ``await item.release()``, or when the taker's
session ends), so an item is never lost with a crashed consumer.
"""

from __future__ import annotations

from typing import Any, Optional, Union

from .. import _aiozk
from .recipe import RustRecipe


class Queue(RustRecipe):
    """A queue at ``base_path``."""

    def _build(self, core: Any) -> Any:
        return _aiozk.Queue(core, self.base_path)

    async def put(self, data: Union[bytes, str]) -> str:
        """Appends an item; returns its node path."""
        return await self._r().put(data.encode() if isinstance(data, str) else bytes(data))

    async def take(self, timeout: Optional[float] = None) -> Any:
        """Claims the oldest item (waits for one; ``exc.TimeoutError`` after ``timeout``).
        The item has ``data``, ``path``, ``complete()`` and ``release()``."""
        return await self._r().take(timeout)

    async def try_take(self) -> Any:
        """Claims the oldest item, or returns None when the queue is empty."""
        return await self._r().try_take()

    async def size(self) -> int:
        """The number of items (claimed ones included)."""
        return await self._r().len()
