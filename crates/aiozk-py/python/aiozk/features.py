"""``Features``: what the connected server supports (aiozk's flags)."""

from __future__ import annotations

from typing import Tuple

ALL_FEATURES = {
    'create_with_stat': (3, 5, 0),
    'containers': (3, 5, 1),
    'reconfigure': (3, 5, 0),
}


class Features:
    """Boolean attributes ``create_with_stat``, ``containers`` and ``reconfigure``."""

    def __init__(self, version_info: Tuple[int, int, int]) -> None:
        self.version_info = version_info
        for name, introduced in ALL_FEATURES.items():
            setattr(self, name, tuple(version_info) >= introduced)
