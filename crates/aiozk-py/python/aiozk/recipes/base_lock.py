"""``BaseLock``: the machinery of ``Lock`` and ``SharedLock``, on the Rust lock.

A contender owns an ephemeral sequential node ``<base_path>/<label>-<guid>-<sequence>``
(aiozk's layout, so aiozk processes and this package exclude each other) and holds the
lock when no earlier node blocks it. Once held, the lock watches its node: if the
ownership ends without a release (session expired, node deleted, connection down too
long), ``lost_reason`` says why and ``locked()`` turns False. ``fenced_transaction()``
gives writes that take effect only while the lock is held at the server.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Tuple

from .. import _aiozk, exc
from .recipe import RustRecipe

if TYPE_CHECKING:
    from ..transaction import Transaction

log = logging.getLogger(__name__)

_SEQUENTIAL = re.compile(r'.*[0-9]{10}$')


class LockLostError(exc.ZKError):
    """A held lock was lost."""


class BaseLock(RustRecipe):
    """Contends for ownership of ``base_path`` with labelled nodes.

    ``layout`` (``'aiozk'``, ``'curator'`` or ``'kazoo'``) chooses whose node names and
    rules the lock uses, so that it excludes Curator's or kazoo's lock on the same path;
    ``identifier`` is the nodes' data (kazoo's identifier)."""

    layout: str = 'aiozk'
    identifier: Optional[str] = None

    def __init__(self, base_path: str) -> None:
        super().__init__(base_path)
        self.owned: Dict[str, Any] = {}
        self._locks: Dict[Tuple[str, Optional[Tuple[str, ...]]], Any] = {}
        self.monitor_session_task: Optional[asyncio.Task] = None

    def _lock(self, label: str, blocked_by: Optional[Iterable[str]]) -> Any:
        core = self._core()
        key = (label, tuple(blocked_by) if blocked_by is not None else None)
        entry = self._locks.get(key)
        if entry is None or entry[0] is not core:
            # The default label stands for the layout's own lock name (Curator's `lock-`,
            # kazoo's `__lock__`).
            rust_label = None if (label == 'lock' and self.layout != 'aiozk') else label
            data = self.identifier.encode() if self.identifier is not None else None
            entry = (core, _aiozk.Lock(core, self.base_path, rust_label,
                                       list(blocked_by) if blocked_by is not None else None,
                                       layout=self.layout, data=data))
            self._locks[key] = entry
        return entry[1]

    async def wait_in_line(
        self, znode_label: str, timeout: Optional[float] = None, blocked_by: Optional[Iterable[str]] = None
    ) -> Any:
        """Waits until ``znode_label``'s turn comes (at most ``timeout`` seconds:
        ``exc.TimeoutError``, and our node is gone). Returns the ownership."""
        lock = self._lock(znode_label, blocked_by)
        if timeout is not None and timeout <= 0:
            # No time left: as a contender that timed out at once, leave the path behind.
            await self.client.ensure_path(self.base_path)
            raise exc.TimeoutError('lock not acquired within the timeout')
        ownership = await lock.acquire(timeout)
        self.owned[znode_label] = ownership
        self.monitor_session_task = asyncio.create_task(self._monitor(znode_label, ownership))
        return ownership

    async def _monitor(self, label: str, ownership: Any) -> None:
        reason = await ownership.wait_lost()
        if reason != 'released':
            log.warning('lock %s/%s lost: %s', self.base_path, label, reason)

    async def get_out_of_line(self, znode_label: str) -> None:
        """Releases ``znode_label``'s node and waits until it is deleted."""
        ownership = self.owned.pop(znode_label)
        task, self.monitor_session_task = self.monitor_session_task, None
        if task is not None:
            task.cancel()
        await ownership.release()

    async def analyze_siblings(self) -> Tuple[Dict[str, int], List[str]]:
        """``(positions of our nodes by label, contender names sorted by sequence)``."""
        try:
            children = await self.client.get_children(self.base_path)
        except exc.NoNode:
            children = []
        siblings = sorted((c for c in children if _SEQUENTIAL.match(c)), key=lambda s: int(s[-10:]))
        nodes = {o.node.rsplit('/', 1)[-1]: label for label, o in self.owned.items()}
        owned = {nodes[s]: i for i, s in enumerate(siblings) if s in nodes}
        return owned, siblings

    def fenced_transaction(self, znode_label: Optional[str] = None) -> 'Transaction':
        """A transaction whose first operation checks that our lock node (of
        ``znode_label``, by default any held one) exists: add writes and commit it. They
        take effect only while the lock is held at the server, whatever this process
        believes: if it was paused and the lock passed on meanwhile, the commit fails at
        operation 0 (``NoNode``) and nothing is written. Raises ``LockLostError`` when no
        such lock is held now."""
        for label, ownership in self.owned.items():
            if znode_label in (None, label) and ownership.is_held():
                txn = self.client.begin_transaction()
                txn.check_version(self.client.denormalize_path(ownership.node), -1)
                return txn
        raise LockLostError(f'no lock on {self.base_path} is held')

    @property
    def lost_reason(self) -> Optional[str]:
        """Why a held lock ended without a release, or None."""
        for ownership in self.owned.values():
            reason = ownership.lost_reason
            if reason is not None and reason != 'released':
                return reason
        return None
