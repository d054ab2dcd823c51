"""``drain``: aiozk's helper that empties a collection while iterating it."""

from __future__ import annotations

from typing import Any, Iterator, MutableSet, Union


def drain(iterable: Union[MutableSet[Any], list, dict]) -> Iterator[Any]:
    """Yields and removes every element (keys for a dict)."""
    if isinstance(iterable, dict):
        while iterable:
            yield iterable.popitem()[0]
    elif isinstance(iterable, list):
        while iterable:
            yield iterable.pop(0)
    else:
        while iterable:
            yield iterable.pop()
