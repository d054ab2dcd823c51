"""``DoubleBarrier``: ``enter()`` waits for ``min_participants``; ``leave()`` waits until
all have left (aiozk's layout: ``worker-<guid>-<sequence>`` nodes and a ``sentinel``)."""

from __future__ import annotations

from typing import Any, Optional

from .. import _aiozk
from .recipe import RustRecipe


class DoubleBarrier(RustRecipe):
    """A double barrier on ``base_path``. ``layout='curator'`` is Curator's
    ``DistributedDoubleBarrier``, ``layout='kazoo'`` kazoo's ``DoubleBarrier`` (whose
    ``identifier`` is the member node's data). In kazoo's layout, as in kazoo, the first
    member to leave deletes ``ready``: a member whose connection was down while the barrier
    opened may then never see it open, and waits in ``enter`` until its timeout (see the
    Rust ``DoubleBarrier``)."""

    def __init__(self, base_path: str, min_participants: int, layout: str = 'aiozk',
                 identifier: Optional[str] = None) -> None:
        if layout not in ('aiozk', 'curator', 'kazoo'):
            raise ValueError(f'unknown layout {layout!r}: expected aiozk, curator or kazoo')
        super().__init__(base_path)
        self.min_participants = min_participants
        self.layout = layout
        self.identifier = identifier

    @property
    def sentinel_path(self) -> str:
        """The sentinel node's path (``ready`` in Curator's and kazoo's layout)."""
        return f'{self.base_path}/{"sentinel" if self.layout == "aiozk" else "ready"}'

    def _build(self, core: Any) -> Any:
        data = self.identifier.encode() if self.identifier is not None else None
        return _aiozk.DoubleBarrier(core, self.base_path, self.min_participants, layout=self.layout, data=data)

    @property
    def own_node(self) -> Optional[str]:
        """This participant's node (chroot-relative) while entered, else None."""
        node = self._rust.own_node() if self._rust is not None else None
        return self.client.denormalize_path(node) if node is not None else None

    async def enter(self, timeout: Optional[float] = None) -> None:
        """Waits until ``min_participants`` have entered (``exc.TimeoutError`` after
        ``timeout``; our node is then removed)."""
        await self._r().enter(timeout)

    async def leave(self, timeout: Optional[float] = None) -> None:
        """Leaves and waits until every participant has left (``exc.TimeoutError``)."""
        await self._r().leave(timeout)
