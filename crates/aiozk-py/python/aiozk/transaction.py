"""Transactions (ZooKeeper's multi): ``Transaction`` and its ``Result``.

As in aiozk, ``commit()`` does not raise when an operation fails: it returns an empty,
falsy ``Result``; ``async with Transaction(client) as t:`` commits on a clean exit and
raises ``TransactionFailed`` when the commit failed. In addition, ``Result.results`` holds
every operation's outcome and ``Result.error`` the ``TransactionFailed`` of a failed
commit (with the failed operation's ``index`` and ``error``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, List, Optional, Set

from . import exc
from .data import AclArg, Data, encode_data
from .exc import TransactionFailed
from .protocol.acl import to_tuples

if TYPE_CHECKING:
    from .handle import ClientHandle

__all__ = ['Result', 'Transaction', 'TransactionFailed']


class Result:
    """The outcome of a committed transaction.

    ``checked``, ``created``, ``updated``, ``deleted``: sets of the (chroot-relative)
    request paths of the operations that succeeded, as aiozk; ``created_paths``: the paths
    actually created (with sequence numbers); ``results``: one entry per operation, in
    order; ``error``: the ``TransactionFailed`` of a failed commit. True when any operation
    succeeded.
    """

    def __init__(self) -> None:
        self.checked: Set[str] = set()
        self.created: Set[str] = set()
        self.updated: Set[str] = set()
        self.deleted: Set[str] = set()
        self.created_paths: List[str] = []
        self.results: List[Any] = []
        self.error: Optional[TransactionFailed] = None

    def __bool__(self) -> bool:
        return any([self.checked, self.created, self.updated, self.deleted])

    def __repr__(self) -> str:
        return (
            f'Result(checked={self.checked}, created={self.created}, updated={self.updated}, '
            f'deleted={self.deleted})'
        )


class Transaction:
    """Collects operations and commits them atomically: all take effect or none."""

    def __init__(self, client: 'ClientHandle') -> None:
        self.client = client
        self.operations: List[tuple] = []

    def check_version(self, path: str, version: int) -> None:
        """Checks that the node's version is ``version``."""
        self.operations.append(('check', path, version))

    def create(
        self,
        path: str,
        data: Data = None,
        acl: AclArg = None,
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        *,
        ttl: Optional[float] = None,
    ) -> None:
        """Creates a node (as ``ZKClient.create``)."""
        self.operations.append(
            ('create', path, encode_data(data), to_tuples(acl) if acl else None, ephemeral, sequential, container, ttl)
        )

    def set_data(self, path: str, data: Data, version: int = -1) -> None:
        """Sets a node's data (``version`` -1: any)."""
        self.operations.append(('set_data', path, encode_data(data), version))

    def delete(self, path: str, version: int = -1) -> None:
        """Deletes a node (``version`` -1: any)."""
        self.operations.append(('delete', path, version))

    async def commit(self) -> Result:
        """Sends the operations; returns a ``Result`` (falsy when the transaction failed).

        Raises ``ValueError`` when there is nothing to commit; connection errors are raised
        (a transaction is never retried: its outcome after a lost connection is unknown).
        """
        if not self.operations:
            raise ValueError('No operations to commit.')
        result = Result()
        try:
            outcomes = await self._send()
        except TransactionFailed as e:
            result.error = e
            result.results = list(e.results or [])
            return result
        for op, outcome in zip(self._sent_operations(), outcomes):
            path = self.client.denormalize_path(self.client.normalize_path(op[1]))
            kind = outcome[0]
            if kind == 'created':
                outcome = (kind, self._created_path(outcome[1]), *outcome[2:])
                result.created.add(path)
                result.created_paths.append(outcome[1])
            elif kind == 'deleted':
                result.deleted.add(path)
            elif kind == 'updated':
                result.updated.add(path)
            elif kind == 'checked':
                result.checked.add(path)
            result.results.append(outcome)
        return result

    def _send(self) -> Any:
        """Queues the commit; resolves to one outcome tuple per sent operation."""
        return self.client._c().commit(self.operations)

    def _sent_operations(self) -> List[tuple]:
        """The operations as sent, in order (one per outcome)."""
        return self.operations

    def _created_path(self, path: str) -> str:
        """A created path from an outcome, as the caller sees it."""
        return path

    async def __aenter__(self) -> 'Transaction':
        return self

    async def __aexit__(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        if exc_type is not None:
            return
        result = await self.commit()
        if not result:
            raise exc.TransactionFailed
