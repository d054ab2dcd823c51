"""``Fence``: writes that succeed only while a lock, permit, lease or leadership is held.

Each write is one transaction whose first operation checks that the ownership node still
exists, so ZooKeeper applies it only while this client owns it **at the server**, whatever
the process believes (a process paused past its session timeout included). Once the loss
is known here (``lost_reason`` is set), the writes fail without a round trip. Get one from
``lock.fence()``, ``permit.fence()``, ``lease.fence()`` or ``election.fence()``.

A failed fence check raises ``exc.TransactionFailed`` with ``index`` 0 (``exc.NoNode``:
the node is gone; ``exc.BadVersion``: a ``transaction()`` built after the loss); a failure
of the write itself raises the write's own error (``exc.NodeExists``, ``exc.BadVersion``,
...). A connection loss leaves the outcome unknown: fenced writes are never retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Awaitable, List, Optional

from ..data import encode_data
from ..protocol.acl import to_tuples
from ..protocol.stat import Stat
from ..transaction import Transaction

if TYPE_CHECKING:
    from ..client import ZKClient
    from ..data import AclArg, Data


class Fence:
    """Writes fenced by one ownership node; paths are relative to the client's chroot."""

    def __init__(self, client: 'ZKClient', inner: Any) -> None:
        self.client = client
        self._inner = inner

    @property
    def node(self) -> str:
        """The ownership node the writes are fenced by (chroot-relative)."""
        return self.client.denormalize_path(self._inner.node)

    @property
    def lost_reason(self) -> Optional[str]:
        """Why the ownership ended (``released``, ``session_expired``, ``node_deleted``,
        ``suspended``, ``lease_expired``, ``client_closed``), or None while it lasts."""
        return self._inner.lost_reason

    def create(
        self,
        path: str,
        data: 'Data' = b'',
        acl: 'AclArg' = None,
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        *,
        ttl: Optional[float] = None,
    ) -> Awaitable[str]:
        """Creates a node while the ownership holds (as ``ZKClient.create``, but with
        empty data by default: a fenced create cannot store null data); returns its
        path."""
        fut = self._inner.create(
            self.client.normalize_path(path),
            encode_data(data) or b'',
            to_tuples(acl) if acl else None,
            ephemeral,
            sequential,
            container,
            ttl,
        )

        async def run() -> str:
            return self.client.denormalize_path(await fut)

        return run()

    def set_data(self, path: str, data: 'Data', version: int = -1) -> Awaitable[Stat]:
        """Sets a node's data while the ownership holds (``version`` -1: any); returns
        the new ``Stat``."""
        fut = self._inner.set_data(
            self.client.normalize_path(path), encode_data(data) or b'', None if version == -1 else version
        )

        async def run() -> Stat:
            stat = await fut
            self.client._cache(path, stat)
            return stat

        return run()

    def delete(self, path: str, version: int = -1) -> Awaitable[None]:
        """Deletes a node while the ownership holds (``version`` -1: any)."""
        fut = self._inner.delete(self.client.normalize_path(path), None if version == -1 else version)

        async def run() -> None:
            try:
                await fut
            finally:
                self.client._cache(path, None)

        return run()

    def transaction(self) -> 'FencedTransaction':
        """A ``Transaction`` whose commit first checks the ownership node: its
        ``Result.results`` start with that check (``checked`` holds the node's path)."""
        return FencedTransaction(self)

    def __repr__(self) -> str:
        return f'<Fence {self.node} lost_reason={self.lost_reason!r}>'


class FencedTransaction(Transaction):
    """A transaction committed only while the fence's ownership holds."""

    def __init__(self, fence: Fence) -> None:
        super().__init__(fence.client)
        self.fence = fence

    def _send(self) -> Any:
        normalize = self.client.normalize_path
        ops = [(op[0], normalize(op[1]), *op[2:]) for op in self.operations]
        return self.fence._inner.commit(ops)

    def _sent_operations(self) -> List[tuple]:
        return [('check', self.fence.node, -1)] + self.operations

    def _created_path(self, path: str) -> str:
        return self.client.denormalize_path(path)
