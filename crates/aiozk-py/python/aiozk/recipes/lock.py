"""``Lock``: a fair, exclusive lock (aiozk's layout and API, on the Rust lock).

``await lock.acquire(timeout=None)`` waits for the lock (``exc.TimeoutError`` after
``timeout`` seconds); ``await lock.release()`` releases it. Use it as
``async with lock:``, ``async with lock.acquire(timeout=5):`` or, as aiozk's
documentation shows, ``async with await lock.acquire():``. One ``Lock`` instance is one
contender: acquiring it again before releasing raises ``RuntimeError``.
"""

from __future__ import annotations

from typing import Any, Generator, Iterable, Optional

from .base_lock import BaseLock
from .fence import Fence


class LockHandle:
    """What ``await lock.acquire()`` returns: an async context manager that releases the
    lock on exit."""

    def __init__(self, lock: 'Lock') -> None:
        self.lock = lock

    async def __aenter__(self) -> 'LockHandle':
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.lock.release()

    async def release(self) -> None:
        """Releases the lock."""
        await self.lock.release()

    def fence(self) -> Fence:
        """Writes that succeed only while the lock is held (see ``Lock.fence``)."""
        return self.lock.fence()


class Acquisition:
    """What ``lock.acquire()`` returns: awaitable (giving a ``LockHandle``) and an async
    context manager (acquiring on entry, releasing on exit)."""

    def __init__(self, lock: 'Lock', timeout: Optional[float]) -> None:
        self.lock = lock
        self.timeout = timeout

    def __await__(self) -> Generator[Any, None, LockHandle]:
        return self.lock._acquire(self.timeout).__await__()

    async def __aenter__(self) -> LockHandle:
        return await self.lock._acquire(self.timeout)

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.lock.release()


class Lock(BaseLock):
    """A lock on ``base_path``; ``znode_label`` names our nodes; with ``blocked_by``, only
    earlier nodes with one of those labels block us."""

    def __init__(self, base_path: str, znode_label: str = 'lock', blocked_by: Optional[Iterable[str]] = None) -> None:
        super().__init__(base_path)
        self.znode_label = znode_label
        self.blocked_by = blocked_by
        self.is_locked = False
        self.in_use = False

    async def __aenter__(self) -> None:
        await self._acquire(None)

    async def __aexit__(self, exc_type: Any, exception: Any, tb: Any) -> None:
        await self.release()

    def acquire(self, timeout: Optional[float] = None) -> Acquisition:
        """Acquires the lock; see the module documentation."""
        return Acquisition(self, timeout)

    async def _acquire(self, timeout: Optional[float]) -> LockHandle:
        if self.in_use:
            raise RuntimeError('lock is already in use')
        self.in_use = True
        try:
            await self.wait_in_line(self.znode_label, timeout, self.blocked_by)
        except BaseException:
            self.in_use = False
            raise
        self.is_locked = True
        return LockHandle(self)

    async def release(self) -> None:
        """Releases the lock and waits until its node is deleted (nothing if not held)."""
        try:
            if self.znode_label in self.owned:
                await self.get_out_of_line(self.znode_label)
        finally:
            self.is_locked = False
            self.in_use = False

    def fence(self) -> Fence:
        """Writes (``create``, ``set_data``, ``delete``, ``transaction()``) that succeed
        only while this lock is held at the server; see ``aiozk.recipes.fence``. Raises
        ``RuntimeError`` when the lock was not acquired (or was released)."""
        ownership = self.owned.get(self.znode_label)
        if ownership is None:
            raise RuntimeError('the lock is not held')
        return Fence(self.client, ownership.fence())

    def locked(self) -> bool:
        """True while held (False once lost, see ``lost_reason``)."""
        ownership = self.owned.get(self.znode_label)
        return ownership is not None and ownership.is_held()

    async def wait_lost(self) -> Optional[str]:
        """Waits until the held lock ends; returns why (None when not held)."""
        ownership = self.owned.get(self.znode_label)
        if ownership is None:
            return None
        return await ownership.wait_lost()
