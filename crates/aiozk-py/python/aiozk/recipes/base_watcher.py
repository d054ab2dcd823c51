"""``BaseWatcher``: per-path callbacks fed by a Rust watcher (``DataWatcher`` and
``ChildrenWatcher``).

The first ``add_callback`` for a path starts a task that follows the path and calls every
callback of the path with the current value at start and after every change: data (None
for null data, ``b''`` for empty data) or a list of child names, or the class
``aiozk.exc.NoNode`` when the node does not exist. Callbacks may be coroutine functions.
The task stops when the last callback is removed, or after reporting ``NoNode`` unless
waiting for creation.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from typing import Any, Callable, DefaultDict, Dict, List, Set

from .. import exc
from .recipe import Recipe

log = logging.getLogger(__name__)


class BaseWatcher(Recipe):
    """Watches paths and calls callbacks with their current value."""

    #: The event types watched; copied per instance from the class's list.
    watched_events: List[int] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.callbacks: DefaultDict[str, Set[Callable[[Any], Any]]] = collections.defaultdict(set)
        self.loops: Dict[str, asyncio.Task] = {}
        # A copy per instance: aiozk's class-level list leaked changes between watchers.
        self.watched_events = list(type(self).watched_events)

    def add_callback(self, path: str, callback: Callable[[Any], Any]) -> None:
        """Calls ``callback`` with the value of ``path`` now and after every change."""
        self.callbacks[path].add(callback)
        if path not in self.loops or self.loops[path].done():
            self.loops[path] = asyncio.create_task(self.watch_loop(path))

    def remove_callback(self, path: str, callback: Callable[[Any], Any]) -> None:
        """Stops calling ``callback``; the last one removed stops following the path."""
        self.callbacks[path].discard(callback)
        if not self.callbacks[path]:
            self.callbacks.pop(path, None)
            task = self.loops.pop(path, None)
            if task is not None:
                task.cancel()

    async def fetch(self, path: str) -> Any:
        """The current value of ``path`` (NoNode when missing), read once."""
        raise NotImplementedError

    def _stream(self, path: str) -> Any:
        raise NotImplementedError

    def _value(self, item: Any) -> Any:
        raise NotImplementedError

    def _waits_for_create(self) -> bool:
        return False

    async def watch_loop(self, path: str) -> None:
        """Follows ``path`` and calls its callbacks (runs as a task)."""
        stream = self._stream(path)
        try:
            async for item in stream:
                # The read behind each item updates the client's stat cache, as aiozk's
                # watchers read through the client (a later delete(path) then sends the
                # version just seen).
                self.client._cache(path, item[1])
                value = self._value(item)
                for callback in list(self.callbacks.get(path, ())):
                    try:
                        result = callback(value)
                        if inspect.isawaitable(result):
                            asyncio.ensure_future(result)
                    except Exception:
                        log.exception('watcher callback %r failed', callback)
                if not self.callbacks.get(path):
                    break
        except exc.ClientClosed:
            log.debug('watching %s stopped: the client closed', path)
        except exc.ZKError as e:
            log.warning('watching %s stopped: %r', path, e)
        finally:
            stream.close()
            if self.loops.get(path) is asyncio.current_task():
                del self.loops[path]
