"""``Counter``: a number stored in a node, changed atomically (compare-and-set)."""

from __future__ import annotations

from typing import Any, Optional, Union

from .. import _aiozk
from .recipe import RustRecipe

Number = Union[int, float]


class Counter(RustRecipe):
    """A counter at ``base_path``, of the type of ``default`` (int or float), created with
    ``default`` by ``start()`` when missing. ``value`` is the value last read or written."""

    def __init__(self, base_path: str, default: Number = 0) -> None:
        super().__init__(base_path)
        self.numeric_type = type(default)
        self._default = default

    def _build(self, core: Any) -> Any:
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
        if isinstance(value, int) and not isinstance(value, bool):
            await self._r().set_int(value)
        else:
            await self._r().set(float(value))

    async def incr(self, by: Number = 1) -> Number:
        """Adds ``by`` atomically; returns the new value."""
        return await self._r().incr(float(by))

    async def decr(self, by: Number = 1) -> Number:
        """Subtracts ``by`` atomically; returns the new value."""
        return await self._r().decr(float(by))

    def stop(self) -> None:
        """Does nothing (aiozk compatibility)."""
