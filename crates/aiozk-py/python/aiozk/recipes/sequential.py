"""``SequentialRecipe``: aiozk's base for recipes made of ephemeral sequential nodes named
``<label>-<guid>-<sequence>``, kept for user recipes that subclass it. The recipes of this
package use the Rust implementations instead (same node layout)."""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any, Dict, List, Optional, Tuple

from .. import exc
from ..protocol.watches import WatchEvent
from .recipe import Recipe

sequential_re = re.compile(r'.*[0-9]{10}$')


class SequentialRecipe(Recipe):
    """Creates, lists and waits on ``<label>-<guid>-<sequence>`` nodes under ``base_path``."""

    def __init__(self, base_path: str) -> None:
        super().__init__(base_path)
        self.guid = uuid.uuid4().hex
        self.owned_paths: Dict[str, str] = {}

    def sequence_number(self, sibling: str) -> int:
        """The 10-digit sequence number at the end of ``sibling``."""
        return int(sibling[-10:])

    def determine_znode_label(self, sibling: str) -> str:
        """The label of ``sibling``."""
        return sibling.rsplit('-', 2)[0]

    async def get_siblings(self) -> List[str]:
        """Names of the children of ``base_path`` that end in ten digits."""
        children = await self.client.get_children(self.base_path)
        return [c for c in children if sequential_re.match(c)]

    async def create_unique_znode(self, znode_label: str, data: Any = None) -> None:
        """Creates this instance's node for ``znode_label`` (``NodeExists`` when it already
        has one)."""
        if '/' in znode_label:
            raise ValueError('slash in label')
        path = self.owned_paths.get(znode_label)
        if path is not None and await self.client.exists(path):
            raise exc.NodeExists()
        prefix = f'{self.base_path}/{znode_label}-{self.guid}-'
        try:
            created = await self.client.create(prefix, data=data, ephemeral=True, sequential=True)
        except exc.NoNode:
            await self.ensure_path()
            created = await self.client.create(prefix, data=data, ephemeral=True, sequential=True)
        self.owned_paths[znode_label] = created

    async def delete_unique_znode(self, znode_label: str) -> None:
        """Deletes this instance's node for ``znode_label`` (KeyError when it has none)."""
        try:
            await self.client.delete(self.owned_paths[znode_label])
        except exc.NoNode:
            pass
        del self.owned_paths[znode_label]

    async def analyze_siblings(self) -> Tuple[Dict[str, int], List[str]]:
        """``(owned positions by label, siblings sorted by sequence)``."""
        siblings = sorted(await self.get_siblings(), key=self.sequence_number)
        owned = {}
        for index, sibling in enumerate(siblings):
            if self.guid in sibling:
                owned[self.determine_znode_label(sibling)] = index
        return owned, siblings

    async def wait_on_sibling(self, sibling: str, timeout: Optional[float] = None) -> None:
        """Waits until ``sibling`` is deleted (at once if missing); ``exc.TimeoutError``."""
        path = f'{self.base_path}/{sibling}'
        unblocked = self.client.wait_for_events([WatchEvent.DELETED], path)
        exists = await self.client.exists(path=path, watch=True)
        if not exists:
            unblocked.cancel()
            return
        try:
            await asyncio.wait_for(asyncio.shield(unblocked), timeout)
        except asyncio.TimeoutError:
            unblocked.cancel()
            raise exc.TimeoutError() from None
