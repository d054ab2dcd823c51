"""``LeaderElection``: candidates volunteer; the earliest live candidate leads.

aiozk's layout (``candidate-<guid>-<sequence>`` nodes) and API, on the Rust election:
leadership ends when the leader resigns, its session expires, its connection is down too
long, or its node is deleted; ``has_leadership`` then turns False and
``wait_leadership_lost()`` returns the reason. ``resign()`` then ``volunteer()`` starts a
new candidacy at the back of the line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from .. import _aiozk
from .base_lock import LockLostError
from .fence import Fence
from .recipe import RustRecipe

if TYPE_CHECKING:
    from ..transaction import Transaction


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

    def fenced_transaction(self) -> 'Transaction':
        """A transaction whose first operation checks that our candidate node exists: its
        writes take effect only while this candidate leads at the server (a commit after
        the leadership passed on fails at operation 0). Raises
        ``aiozk.recipes.base_lock.LockLostError`` when not leading now."""
        leadership = self._rust.leadership() if self._rust is not None else None
        if leadership is None or not leadership.is_held():
            raise LockLostError(f'no leadership of {self.base_path}')
        txn = self.client.begin_transaction()
        txn.check_version(self.client.denormalize_path(leadership.node), -1)
        return txn

    async def wait_leadership_lost(self) -> Optional[str]:
        """Waits until the current leadership ends; returns why (None if not leading)."""
        leadership = self._rust.leadership() if self._rust is not None else None
        if leadership is None:
            return None
        return await leadership.wait_lost()
