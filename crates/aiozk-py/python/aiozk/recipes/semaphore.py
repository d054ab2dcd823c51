"""``Semaphore``: at most ``permits`` holders, served in arrival order (an addition to
aiozk's recipes; nodes ``permit-<guid>-<sequence>``)."""

from __future__ import annotations

from typing import Any, Optional

from .. import _aiozk
from .fence import Fence
from .recipe import RustRecipe


class Semaphore(RustRecipe):
    """A semaphore on ``base_path`` with ``permits`` permits (every user of the path must
    use the same number)."""

    def __init__(self, base_path: str, permits: int = 1) -> None:
        super().__init__(base_path)
        self.permits = permits

    def _build(self, core: Any) -> Any:
        return _aiozk.Semaphore(core, self.base_path, self.permits)

    async def acquire(self, timeout: Optional[float] = None) -> 'Permit':
        """Waits for a permit (``exc.TimeoutError`` after ``timeout`` seconds); returns it.
        ``await permit.release()`` gives it back; ``permit.lost_reason`` says if it ended."""
        return Permit(self.client, await self._r().acquire(timeout))


class Permit:
    """A held permit of a ``Semaphore``."""

    def __init__(self, client: Any, inner: Any) -> None:
        self.client = client
        self._inner = inner

    @property
    def node(self) -> str:
        """The server path of the permit's node."""
        return self._inner.node

    @property
    def czxid(self) -> int:
        """The creation zxid of the permit's node."""
        return self._inner.czxid

    @property
    def lost_reason(self) -> Optional[str]:
        """Why the permit ended (``released``, ``session_expired``, ...), or None."""
        return self._inner.lost_reason

    def is_held(self) -> bool:
        """True while held, as far as this process can tell."""
        return self._inner.is_held()

    async def wait_lost(self) -> str:
        """Waits until the permit ends; returns why."""
        return await self._inner.wait_lost()

    async def release(self) -> None:
        """Gives the permit back and waits until its node is deleted."""
        await self._inner.release()

    def fence(self) -> Fence:
        """Writes that succeed only while this permit is held (see
        ``aiozk.recipes.fence``)."""
        return Fence(self.client, self._inner.fence())
