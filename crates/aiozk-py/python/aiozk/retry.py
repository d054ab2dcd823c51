"""``RetryPolicy``: how often a call is tried again after a lost connection.

The five constructors of aiozk (``once``, ``n_times``, ``forever``,
``exponential_backoff``, ``until_elapsed``) map onto the Rust client's policies, which
apply them to every call that is safe to repeat (reads, versioned writes, non-sequential
creates); a call whose outcome a lost connection makes unknown (a sequential create, a
transaction) fails with ``exc.ConnectionLoss`` instead of being sent twice.

Differences from aiozk: ``n_times(n)`` makes ``n`` attempts (aiozk: ``max(1, n - 1)``);
``until_elapsed(t)`` retries until ``t`` seconds have passed (aiozk sleeps until the
deadline, then retries once); ``forever``, ``n_times`` and ``until_elapsed`` wait 10 ms
before the first retry, doubling up to 1 s, so a dead connection is not retried in a busy
loop. A policy built with the constructor and a custom ``sleep_func`` keeps its
``try_limit`` in the client; its ``sleep_func`` is used only by ``enforce()``.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, Callable, DefaultDict, Hashable, List, Optional, Tuple

from . import exc

SleepFunc = Callable[[List[float]], Optional[float]]


class RetryPolicy:
    """A retry policy; see the module documentation."""

    def __init__(self, try_limit: Optional[int], sleep_func: SleepFunc) -> None:
        self.try_limit = try_limit
        self.sleep_func = sleep_func
        self.timings: DefaultDict[Any, List[float]] = collections.defaultdict(list)
        if try_limit is None:
            self._spec: Tuple[str, Optional[float], Optional[float]] = ('forever', None, None)
        else:
            self._spec = ('n_times', float(try_limit), None)

    async def enforce(self, request: Optional[Hashable] = None) -> None:
        """Records an attempt for ``request`` and waits as the policy says before it;
        raises ``exc.FailedRetry`` when no further attempt is allowed."""
        key = id(request)
        self.timings[key].append(time.time())
        tries = len(self.timings[key])
        if tries == 1:
            return
        if self.try_limit is not None and tries > self.try_limit:
            self.timings.pop(key, None)
            raise exc.FailedRetry()
        wait = self.sleep_func(self.timings[key])
        if wait is None or wait == 0:
            return
        if wait < 0:
            self.timings.pop(key, None)
            raise exc.FailedRetry()
        await asyncio.sleep(wait)

    def clear(self, request: Optional[Hashable] = None) -> None:
        """Forgets the attempts of ``request``."""
        self.timings.pop(id(request), None)

    @classmethod
    def once(cls) -> 'RetryPolicy':
        """A single attempt, no retry."""
        return cls.n_times(1)

    @classmethod
    def n_times(cls, n: int) -> 'RetryPolicy':
        """``n`` attempts in all, without delay."""
        policy = cls(max(1, int(n)), lambda timings: 0)
        policy._spec = ('n_times', float(max(1, int(n))), None)
        return policy

    @classmethod
    def forever(cls) -> 'RetryPolicy':
        """Unlimited attempts (the default)."""
        policy = cls(None, lambda timings: 0)
        policy._spec = ('forever', None, None)
        return policy

    @classmethod
    def exponential_backoff(cls, base: float = 2, maximum: Optional[float] = None) -> 'RetryPolicy':
        """Unlimited attempts; before attempt k (k >= 2) wait ``base ** k`` seconds, at most
        ``maximum``."""

        def sleep(timings: List[float]) -> float:
            wait = base ** len(timings)
            return min(wait, maximum) if maximum is not None else wait

        policy = cls(None, sleep)
        policy._spec = ('exponential_backoff', float(base), None if maximum is None else float(maximum))
        return policy

    @classmethod
    def until_elapsed(cls, timeout: float) -> 'RetryPolicy':
        """Retries until ``timeout`` seconds have passed since the first attempt."""

        def sleep(timings: List[float]) -> float:
            return 0 if time.time() - timings[0] < timeout else -1

        policy = cls(None, sleep)
        policy._spec = ('until_elapsed', float(timeout), None)
        return policy

    def __repr__(self) -> str:
        kind, arg, maximum = self._spec
        return f'RetryPolicy({kind}, {arg}, {maximum})'
