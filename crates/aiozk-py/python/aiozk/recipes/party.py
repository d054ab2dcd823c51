"""``Party``: a group membership (``<name>-<guid>-<sequence>`` nodes under ``base_path``)."""

from __future__ import annotations

from typing import Any, List, Optional

from .. import _aiozk
from .recipe import RustRecipe


class Party(RustRecipe):
    """Membership of ``name`` in the party at ``base_path``; ``members`` lists the names
    of all members (sorted by arrival). ``layout='kazoo'`` is kazoo's ``Party``
    (``<uuid hex>__party__`` nodes holding the name); with ``shallow=True`` too, kazoo's
    ``ShallowParty`` (``<uuid hex>-<name>`` nodes: every child of the path is a member)."""

    def __init__(self, base_path: str, name: str, layout: str = 'aiozk', shallow: bool = False) -> None:
        if layout not in ('aiozk', 'kazoo'):
            raise ValueError(f'unknown party layout {layout!r}: expected aiozk or kazoo')
        if shallow and layout != 'kazoo':
            raise ValueError("shallow=True is kazoo's ShallowParty: give layout='kazoo'")
        super().__init__(base_path)
        self.name = name
        self.layout = layout
        self.shallow = shallow

    def _build(self, core: Any) -> Any:
        return _aiozk.Party(core, self.base_path, self.name, layout=self.layout, shallow=self.shallow)

    @property
    def members(self) -> List[str]:
        """The members' names as last seen."""
        return self._rust.members() if self._rust is not None else []

    @property
    def own_node(self) -> Optional[str]:
        """This member's node (chroot-relative) while joined, else None."""
        node = self._rust.own_node() if self._rust is not None else None
        return self.client.denormalize_path(node) if node is not None else None

    async def join(self) -> None:
        """Joins the party (again in a new session after an expiry)."""
        await self._r().join()

    async def wait_for_change(self) -> List[str]:
        """Waits until the membership changes; returns the new members."""
        return await self._r().wait_for_change()

    async def leave(self) -> None:
        """Leaves the party."""
        await self._r().leave()
