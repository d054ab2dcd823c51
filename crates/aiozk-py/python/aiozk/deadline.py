"""``Deadline``: a point in time computed from a timeout."""

from __future__ import annotations

import time
from typing import Optional


class Deadline:
    """A deadline ``timeout`` seconds from now (None: never)."""

    def __init__(self, timeout: Optional[float]) -> None:
        self.deadline: Optional[float] = None if timeout is None else timeout + time.time()

    @property
    def timeout(self) -> Optional[float]:
        """Seconds left (negative once passed), or None for no deadline."""
        if self.deadline is None:
            return None
        return self.deadline - time.time()

    @property
    def has_passed(self) -> bool:
        """True once the deadline is reached."""
        if self.deadline is None:
            return False
        return self.deadline - time.time() <= 0

    @property
    def is_indefinite(self) -> bool:
        """True when there is no deadline."""
        return self.deadline is None
