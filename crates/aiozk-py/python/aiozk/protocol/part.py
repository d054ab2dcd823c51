"""``Part``: the base of aiozk's protocol records, here plain attribute holders."""

from __future__ import annotations

from typing import Any, ClassVar, Tuple


class Part:
    """A record with the named fields listed in ``parts`` (``(name, type)`` pairs).

    Fields not given to the constructor are None; an unknown field is a ValueError;
    records compare equal when all fields are equal, as in aiozk.
    """

    parts: ClassVar[Tuple[Tuple[str, Any], ...]] = ()

    def __init__(self, **kwargs: Any) -> None:
        names = {name for name, _ in self.parts}
        for name, value in kwargs.items():
            if name not in names:
                raise ValueError(f"Unknown part name: '{name}'")
            setattr(self, name, value)
        for name in names - kwargs.keys():
            setattr(self, name, None)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n, _ in self.parts)

    def __hash__(self) -> int:
        return hash(tuple(_hashable(getattr(self, n)) for n, _ in self.parts))

    def __repr__(self) -> str:
        fields = ', '.join(f'{n}={getattr(self, n)!r}' for n, _ in self.parts)
        return f'{self.__class__.__name__}({fields})'


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
