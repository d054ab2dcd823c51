"""``Allocator``: spreads a shared set of items over the members of a party.

Layout: ``<base_path>`` holds the item set as a JSON list; members form a ``Party`` at
``<base_path>/members``. Every member computes the allocation with ``allocator_fn``
(``round_robin`` by default, ``rendezvous`` for minimal movement, or a function
``(members, items) -> {member: items}``). aiozk's own ``Allocator`` does not work; this one
follows its intended API.
"""

from __future__ import annotations

import collections
import itertools
from typing import Any, Callable, Dict, Iterable, List, Optional, Set

from .. import _aiozk
from .recipe import RustRecipe


def round_robin(members: List[str], items: Iterable[str]) -> Dict[str, Set[str]]:
    """Deals the items to the members in turn."""
    allocation: Dict[str, Set[str]] = collections.defaultdict(set)
    for member, item in zip(itertools.cycle(members), items):
        allocation[member].add(item)
    return allocation


def rendezvous(members: List[str], items: Iterable[str]) -> Dict[str, Set[str]]:
    """Rendezvous hashing (computed by the Rust recipe; this function is a marker)."""
    raise NotImplementedError('computed by the Rust recipe')


class Allocator(RustRecipe):
    """Member ``name`` of the allocation at ``base_path``."""

    def __init__(self, base_path: str, name: str, allocator_fn: Optional[Callable[..., Any]] = None) -> None:
        super().__init__(base_path)
        self.name = name
        self.allocator_fn = allocator_fn or round_robin
        self.active = False

    def _build(self, core: Any) -> Any:
        if self.allocator_fn is round_robin:
            strategy: Any = 'round_robin'
        elif self.allocator_fn is rendezvous:
            strategy = 'rendezvous'
        else:
            fn = self.allocator_fn

            def strategy(members: List[str], items: List[str]) -> Dict[str, List[str]]:
                return {m: sorted(s) for m, s in fn(members, items).items()}

        return _aiozk.Allocator(core, self.base_path, self.name, strategy)

    async def start(self) -> None:
        """Joins the members and starts following the set and the membership."""
        await self._r().start()
        self.active = True

    async def stop(self) -> None:
        """Leaves the members."""
        self.active = False
        await self._r().stop()

    async def add(self, new_item: str) -> None:
        """Adds an item to the shared set."""
        await self._r().add(new_item)

    async def remove(self, item: str) -> None:
        """Removes an item from the shared set."""
        await self._r().remove(item)

    async def update(self, new_items: Iterable[str]) -> None:
        """Replaces the shared set."""
        await self._r().update(list(new_items))

    @property
    def allocation(self) -> Set[str]:
        """The items allocated to this member."""
        return self._rust.allocation() if self._rust is not None else set()

    @property
    def full_allocation(self) -> Dict[str, Set[str]]:
        """Every member's items."""
        return self._rust.full_allocation() if self._rust is not None else {}

    @property
    def full_set(self) -> Set[str]:
        """The shared item set."""
        return self._rust.items() if self._rust is not None else set()

    @property
    def members(self) -> List[str]:
        """The members' names, as last seen."""
        return self._rust.members() if self._rust is not None else []

    async def wait_for_change(self) -> Set[str]:
        """Waits until this member's allocation changes; returns it."""
        return await self._r().wait_for_change()
