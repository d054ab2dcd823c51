"""``LeaderElection``: candidates volunteer; the earliest live candidate leads.

aiozk's layout (``candidate-<guid>-<sequence>`` nodes) and API, on the Rust election:
leadership ends when the leader resigns, its session expires, its connection is down too
long, or its node is deleted; ``has_leadership`` then turns False and
``wait_leadership_lost()`` returns the reason. ``resign()`` then ``volunteer()`` starts a
new candidacy at the back of the line.
"""

from __future__ import annotations

from typing import Any, Optional

from .. import _aiozk
from .fence import Fence
from .recipe import RustRecipe


class LeaderElection(RustRecipe):
    """An election on ``base_path``."""

    def _build(self, core: Any) -> Any:
        return _aiozk.LeaderElection(core, self.base_path)

    async def volunteer(self) -> None:
        """Joins the election (``exc.NodeExists`` when already a candidate)."""
        await self._r().volunteer()

    async def wait_for_leadership(self, timeout: Optional[float] = None) -> None:
        """Waits until this candidate leads (``exc.TimeoutError`` after ``timeout``
        seconds; the candidacy goes on). May be called before ``volunteer()``."""
        await self._r().wait_for_leadership(timeout)

    async def resign(self) -> None:
        """Leaves the election (and gives up leadership)."""
        await self._r().resign()

    @property
    def has_leadership(self) -> bool:
        """True while this candidate leads, as far as this process can tell."""
        return self._rust is not None and self._rust.has_leadership()

    @property
    def is_candidate(self) -> bool:
        """True while this instance has a live candidate node."""
        return self._rust is not None and self._rust.is_candidate()

    def fence(self) -> Fence:
        """Writes that succeed only while this candidate leads (see
        ``aiozk.recipes.fence``); ``RuntimeError`` when it does not lead."""
        leadership = self._rust.leadership() if self._rust is not None else None
        if leadership is None:
            raise RuntimeError('not the leader')
        return Fence(self.client, leadership.fence())

    async def wait_leadership_lost(self) -> Optional[str]:
        """Waits until the current leadership ends; returns why (None if not leading)."""
        leadership = self._rust.leadership() if self._rust is not None else None
        if leadership is None:
            return None
        return await leadership.wait_lost()
