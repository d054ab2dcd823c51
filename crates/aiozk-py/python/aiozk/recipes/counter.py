"""``Counter``: a number stored in a node, changed atomically (compare-and-set)."""

from __future__ import annotations

from typing import Any, Optional, Union

from .. import _aiozk
from .recipe import RustRecipe

Number = Union[int, float]


#: The binary encodings: bytes per value.
_WIDTHS = {'int32': 4, 'int64': 8}


class Counter(RustRecipe):
    """A counter at ``base_path``, of the type of ``default`` (int or float), created with
    ``default`` by ``start()`` when missing. ``value`` is the value last read or written.

    ``encoding`` is how the node holds the value: ``'text'`` (aiozk's and kazoo's decimal
    text, the default), ``'int32'`` (4 big-endian bytes: Curator's ``SharedCount``, kazoo's
    ``Counter(support_curator=True)``) or ``'int64'`` (8 bytes: Curator's
    ``DistributedAtomicLong``); the binary ones hold ints only."""

    def __init__(self, base_path: str, default: Number = 0, encoding: str = 'text') -> None:
        if encoding != 'text' and encoding not in _WIDTHS:
            raise ValueError(f'unknown counter encoding {encoding!r}: expected text, int32 or int64')
        if encoding != 'text' and not isinstance(default, int):
            raise TypeError('a binary counter holds ints')
        super().__init__(base_path)
        self.numeric_type = type(default)
        self._default = default
        self.encoding = encoding

    def _build(self, core: Any) -> Any:
        if self.encoding != 'text':
            return _aiozk.BinaryCounter(core, self.base_path, int(self._default), _WIDTHS[self.encoding])
        return _aiozk.Counter(core, self.base_path, self._default)

    @property
    def value(self) -> Optional[Number]:
        """The value last read or written by this instance (None before ``start()``)."""
        return self._rust.value if self._rust is not None else None

    async def start(self) -> None:
        """Creates the node with the default when missing, else reads it."""
        await self._r().start()

    async def get_value(self) -> Number:
        """Reads the current value."""
        return await self._r().get()

    async def set_value(self, value: Number, force: bool = True) -> None:
        """Sets the value (unconditionally, as aiozk's default ``force=True``)."""
        if self.encoding != 'text':
            await self._r().set_int(int(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            await self._r().set_int(value)
        else:
            await self._r().set(float(value))

    async def incr(self, by: Number = 1) -> Number:
        """Adds ``by`` atomically; returns the new value."""
        return await self._r().incr(int(by) if self.encoding != 'text' else float(by))

    async def decr(self, by: Number = 1) -> Number:
        """Subtracts ``by`` atomically; returns the new value."""
        return await self._r().decr(int(by) if self.encoding != 'text' else float(by))

    def stop(self) -> None:
        """Does nothing (aiozk compatibility)."""
