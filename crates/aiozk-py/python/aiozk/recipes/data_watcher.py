"""``DataWatcher``: calls callbacks with a node's data at start and after every change."""

from __future__ import annotations

from typing import Any, List

from .. import _aiozk, exc
from ..protocol.watches import WatchEvent
from .base_watcher import BaseWatcher


class DataWatcher(BaseWatcher):
    """Callbacks get the node's data (None for null data, ``b''`` for empty data), or
    ``exc.NoNode`` when missing.

    With ``wait_for_create=True`` (or ``WatchEvent.CREATED`` added to this instance's
    ``watched_events``) a missing node is watched until it is created; otherwise the
    watcher stops after reporting ``NoNode``.
    """

    watched_events: List[int] = [WatchEvent.DATA_CHANGED, WatchEvent.DELETED]

    def __init__(self, *args: Any, wait_for_create: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if wait_for_create:
            self.watched_events.append(WatchEvent.CREATED)

    def _waits_for_create(self) -> bool:
        return WatchEvent.CREATED in self.watched_events

    def _stream(self, path: str) -> Any:
        return _aiozk.DataWatcher(self._core(), path, self._waits_for_create())

    def _value(self, item: Any) -> Any:
        data, stat = item
        if stat is None:
            return exc.NoNode
        return data

    async def fetch(self, path: str) -> Any:
        """The node's data now (``exc.NoNode`` when missing)."""
        try:
            return await self.client.get_data(path)
        except exc.NoNode:
            return exc.NoNode
