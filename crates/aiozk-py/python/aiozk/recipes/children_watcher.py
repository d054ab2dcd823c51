"""``ChildrenWatcher``: calls callbacks with a node's children at start and after every
change."""

from __future__ import annotations

from typing import Any, List

from .. import _aiozk, exc
from ..protocol.watches import WatchEvent
from .base_watcher import BaseWatcher


class ChildrenWatcher(BaseWatcher):
    """Callbacks get the sorted list of child names, or ``exc.NoNode`` when missing."""

    watched_events: List[int] = [WatchEvent.CHILDREN_CHANGED, WatchEvent.DELETED]

    def _waits_for_create(self) -> bool:
        return WatchEvent.CREATED in self.watched_events

    def _stream(self, path: str) -> Any:
        return _aiozk.ChildrenWatcher(self._core(), path, self._waits_for_create())

    def _value(self, item: Any) -> Any:
        children, stat = item
        if stat is None:
            return exc.NoNode
        return children

    async def fetch(self, path: str) -> Any:
        """The children now (``exc.NoNode`` when missing)."""
        try:
            return await self.client.get_children(path)
        except exc.NoNode:
            return exc.NoNode
