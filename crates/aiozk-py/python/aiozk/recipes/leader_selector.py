"""``LeaderSelector``: Apache Curator's ``LeaderSelector``, in Curator's layout.

Leadership is an ``InterProcessMutex`` at ``base_path`` (nodes
``_c_<uuid>-lock-<sequence>``) whose nodes hold the participant's ``identifier`` (Curator's
``setId``; without one, the local address, Curator's default node data), so Curator 5
processes and this one select one leader among them. The leader is whoever holds the lock;
``participants()`` lists them all in line order, the leader first.

Two ways to lead:

* With a callback, as Curator's ``LeaderSelectorListener.takeLeadership``: ``start()``
  queues the selector; once it holds the lock, ``await callback(leadership)`` runs, and
  leadership is relinquished (the lock released) when the callback returns or raises. With
  ``auto_requeue=True`` the selector queues again at once (Curator's ``autoRequeue()``),
  else ``requeue()`` queues it again. If leadership is lost while the callback runs (its
  node deleted, the session expired, or the connection down so long that the server could
  expire it), the callback is cancelled, as Curator's ``LeaderSelectorListenerAdapter``
  interrupts its leader on a suspended or lost connection; ``interrupt_leadership()``
  cancels it too. A callback's exception, or a failure to take the lock, is logged (the
  ``aiozk.recipes.leader_selector`` logger) and ends that turn; with ``auto_requeue`` the
  selector queues again.
* As a context: ``async with selector.leadership(timeout=None) as leadership:`` waits for
  leadership and relinquishes it on exit. The body is not cancelled on a loss: check
  ``leadership.is_held()``, fence writes with ``leadership.fence()``, or await
  ``leadership.wait_lost()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, AsyncIterator, Awaitable, Callable, List, NamedTuple, Optional

from .. import _aiozk, exc
from .fence import Fence
from .recipe import RustRecipe

log = logging.getLogger(__name__)

#: After a failed attempt to take the lock, how long an auto-requeued selector waits before
#: it queues again (so that a lasting error does not spin).
RETRY_PAUSE = 0.1


class Participant(NamedTuple):
    """A participant of a selection (Curator's ``Participant``)."""

    #: Its identifier: the data of its lock node.
    id: str
    #: True for the leader (the first in line).
    is_leader: bool


class Leadership:
    """The leadership a ``LeaderSelector`` holds: what its callback gets."""

    def __init__(self, client: Any, ownership: Any) -> None:
        self.client = client
        self._ownership = ownership

    @property
    def node(self) -> str:
        """The lock node that makes this participant the leader (chroot-relative)."""
        return self.client.denormalize_path(self._ownership.node)

    @property
    def czxid(self) -> int:
        """The lock node's creation zxid: a fencing token that grows with every leader."""
        return self._ownership.czxid

    @property
    def lost_reason(self) -> Optional[str]:
        """Why the leadership ended (``released``, ``session_expired``, ...), or None."""
        return self._ownership.lost_reason

    def is_held(self) -> bool:
        """True while this participant leads, as far as this process can tell."""
        return self._ownership.is_held()

    async def wait_lost(self) -> str:
        """Waits until the leadership ends; returns why."""
        return await self._ownership.wait_lost()

    def fence(self) -> Fence:
        """Writes that succeed only while this leadership lasts at the server (see
        ``aiozk.recipes.fence``)."""
        return Fence(self.client, self._ownership.fence())


LeaderCallback = Callable[[Leadership], Awaitable[Any]]


class LeaderSelector(RustRecipe):
    """A participant of the leader selection at ``base_path``, in Curator's layout (see the
    module documentation). ``callback`` is what ``start()`` runs while leading;
    ``identifier`` the participant id its node holds; ``auto_requeue`` queues again after
    each leadership."""

    def __init__(self, base_path: str, callback: Optional[LeaderCallback] = None, identifier: Optional[str] = None,
                 auto_requeue: bool = False) -> None:
        super().__init__(base_path)
        self.callback = callback
        self.identifier = identifier
        self.auto_requeue = auto_requeue
        self._task: Optional[asyncio.Task] = None
        # Made by start(), inside the event loop.
        self._queued: Optional[asyncio.Event] = None
        self._in_line = False
        self._ownership: Optional[Any] = None
        self._work: Optional[asyncio.Future] = None
        self._closed = False

    def _build(self, core: Any) -> Any:
        data = self.identifier.encode() if self.identifier is not None else None
        return _aiozk.Lock(core, self.base_path, None, None, layout='curator', data=data)

    async def start(self) -> None:
        """Queues the selector for leadership and starts running the callback whenever it
        leads. ``RuntimeError`` without a callback, when started twice, or after
        ``close()``."""
        if self.callback is None:
            raise RuntimeError('no leader callback: give one, or use leadership()')
        if self._task is not None or self._closed:
            raise RuntimeError('a LeaderSelector can be started once')
        self._r()  # a missing client fails here, not in the task
        self._queued = asyncio.Event()
        self._task = asyncio.ensure_future(self._run())
        self.requeue()

    def requeue(self) -> bool:
        """Queues the selector for leadership again (Curator's ``requeue()``): False, and
        nothing happens, when it is in line or leading already."""
        if self._task is None or self._queued is None or self._closed or self._in_line:
            return False
        self._in_line = True
        self._queued.set()
        return True

    @property
    def has_leadership(self) -> bool:
        """True while this participant leads, as far as this process can tell."""
        return self._ownership is not None and self._ownership.is_held()

    def interrupt_leadership(self) -> None:
        """Cancels the running leader callback (Curator's ``interruptLeadership()``); the
        leadership then ends as when the callback returns."""
        if self._work is not None:
            self._work.cancel()

    async def participants(self) -> List[Participant]:
        """Every participant in line, the leader first (Curator's ``getParticipants()``)."""
        try:
            children = await self.client.get_children(self.base_path)
        except exc.NoNode:
            return []
        nodes = sorted((c for c in children if 'lock-' in c and c[-10:].isdigit()), key=lambda c: c[-10:])
        found: List[Participant] = []
        for node in nodes:
            try:
                data, _ = await self.client.get(f'{self.base_path}/{node}')
            except exc.NoNode:
                continue
            found.append(Participant((data or b'').decode('utf-8', 'replace'), not found))
        return found

    async def leader(self) -> Optional[Participant]:
        """The leader, or None when nobody is in line (Curator's ``getLeader()``)."""
        found = await self.participants()
        return found[0] if found else None

    @contextlib.asynccontextmanager
    async def leadership(self, timeout: Optional[float] = None) -> AsyncIterator[Leadership]:
        """Waits until this participant leads (``exc.TimeoutError`` after ``timeout``
        seconds) and relinquishes leadership when the block ends. ``RuntimeError`` while
        ``start()``'s callback runs the selector."""
        if self._task is not None:
            raise RuntimeError('the selector runs its leader callback: use start() or leadership(), not both')
        ownership = await self._r().acquire(timeout)
        self._ownership = ownership
        try:
            yield Leadership(self.client, ownership)
        finally:
            self._ownership = None
            await ownership.release()

    async def close(self) -> None:
        """Leaves the selection: cancels a running leader callback and relinquishes
        leadership (its node is deleted before this returns), or leaves the line (the
        waiting node is deleted in the background at once, as Curator's ``close()`` does)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task})

    async def _run(self) -> None:
        assert self._queued is not None
        while True:
            await self._queued.wait()
            self._queued.clear()
            try:
                ownership = await self._r().acquire(None)
            except exc.ZKError as e:
                log.warning('leader selector %s: leadership not taken: %r', self.base_path, e)
                self._in_line = False
                if self.auto_requeue:
                    await asyncio.sleep(RETRY_PAUSE)
                    self.requeue()
                continue
            await self._lead(ownership)
            if self.auto_requeue:
                self.requeue()

    async def _lead(self, ownership: Any) -> None:
        assert self.callback is not None
        self._ownership = ownership
        work = asyncio.ensure_future(self.callback(Leadership(self.client, ownership)))
        self._work = work
        lost = asyncio.ensure_future(ownership.wait_lost())
        try:
            await asyncio.wait({work, lost}, return_when=asyncio.FIRST_COMPLETED)
            if not work.done():
                # Leadership lost: interrupt the leader, as Curator does.
                log.warning('leader selector %s: leadership lost (%s) while leading', self.base_path,
                            ownership.lost_reason)
                work.cancel()
            await asyncio.wait({work})
            if not work.cancelled() and work.exception() is not None:
                log.warning('leader selector %s: the leader callback failed: %r', self.base_path,
                            work.exception())
        finally:
            # The leadership is over: the selector may be queued again at once (the next
            # turn starts once the release is done).
            self._work = None
            self._ownership = None
            self._in_line = False
            lost.cancel()
            if not work.done():
                work.cancel()
                await asyncio.wait({work})
            try:
                await ownership.release()
            except exc.ZKError as e:
                log.warning('leader selector %s: release: %r', self.base_path, e)
