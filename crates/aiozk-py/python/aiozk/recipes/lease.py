"""``Lease``: at most ``limit`` holders at a time, each for a duration.

aiozk's layout (``lease-<guid>-<sequence>`` with the expiry time as data). Unlike aiozk,
two processes can never both obtain the last slot, and a missing path is created.
"""

from __future__ import annotations

import datetime
from typing import Any, List, Optional, Union

from .. import _aiozk
from .fence import Fence
from .recipe import RustRecipe


class Lease(RustRecipe):
    """A lease on ``base_path`` for at most ``limit`` holders."""

    def __init__(self, base_path: str, limit: int = 1) -> None:
        super().__init__(base_path)
        self.limit = limit
        self.obtained: List[Any] = []

    def _build(self, core: Any) -> Any:
        return _aiozk.Lease(core, self.base_path, self.limit)

    async def obtain(self, duration: Union[datetime.timedelta, float]) -> bool:
        """Tries to obtain the lease for ``duration`` (a ``timedelta`` or seconds); False
        when ``limit`` holders have it. It ends by itself after ``duration``."""
        seconds = duration.total_seconds() if isinstance(duration, datetime.timedelta) else float(duration)
        ownership = await self._r().obtain(seconds)
        if ownership is None:
            return False
        self.obtained = [o for o in self.obtained if o.is_held()] + [ownership]
        return True

    async def release(self) -> None:
        """Gives back every lease obtained through this instance."""
        obtained, self.obtained = self.obtained, []
        for ownership in obtained:
            await ownership.release()

    @property
    def expires_in(self) -> Optional[float]:
        """Seconds until the last lease obtained ends (0 once it has), or None when none
        was obtained or it was released."""
        return self.obtained[-1].expires_in() if self.obtained else None

    def fence(self) -> Fence:
        """Writes that succeed only while the last lease obtained lasts (see
        ``aiozk.recipes.fence``); ``RuntimeError`` when none was obtained."""
        if not self.obtained:
            raise RuntimeError('no lease obtained')
        return Fence(self.client, self.obtained[-1].fence())

    @property
    def lost_reason(self) -> Optional[str]:
        """Why the last lease obtained ended (``lease_expired`` when its time ran out)."""
        return self.obtained[-1].lost_reason if self.obtained else None
