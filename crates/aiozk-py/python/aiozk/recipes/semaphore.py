"""``Semaphore``: at most ``permits`` holders, served in arrival order (an addition to
aiozk's recipes; nodes ``permit-<guid>-<sequence>``)."""

from __future__ import annotations

from typing import Any, Optional

from .. import _aiozk
from .recipe import RustRecipe


class Semaphore(RustRecipe):
    """A semaphore on ``base_path`` with ``permits`` permits (every user of the path must
    use the same number)."""

    def __init__(self, base_path: str, permits: int = 1) -> None:
        super().__init__(base_path)
        self.permits = permits

    def _build(self, core: Any) -> Any:
        return _aiozk.Semaphore(core, self.base_path, self.permits)

    async def acquire(self, timeout: Optional[float] = None) -> Any:
        """Waits for a permit (``exc.TimeoutError`` after ``timeout`` seconds); returns it.
        ``await permit.release()`` gives it back; ``permit.lost_reason`` says if it ended."""
        return await self._r().acquire(timeout)
