"""``Barrier``: waiters pass once the barrier node is gone."""

from __future__ import annotations

from typing import Any, Optional

from .. import _aiozk
from .recipe import RustRecipe


class Barrier(RustRecipe):
    """A barrier at ``path``: ``create()`` raises it, ``lift()`` removes it, ``wait()``
    returns once it is not there (at once if it never was)."""

    def __init__(self, path: str) -> None:
        super().__init__('/')
        self.path = path

    def _build(self, core: Any) -> Any:
        return _aiozk.Barrier(core, self.path)

    async def create(self) -> None:
        """Raises the barrier (creating missing parents)."""
        await self._r().create()

    async def lift(self) -> None:
        """Lifts the barrier: every waiter passes."""
        await self._r().lift()

    async def wait(self, timeout: Optional[float] = None) -> None:
        """Waits until the barrier is lifted (``exc.TimeoutError`` after ``timeout``)."""
        await self._r().wait(timeout)
