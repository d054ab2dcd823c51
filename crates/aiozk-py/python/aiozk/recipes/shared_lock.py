"""``SharedLock``: a read/write lock. ``reader_lock`` is shared by readers (blocked only by
earlier writers); ``writer_lock`` is exclusive. Readers queue behind a waiting writer."""

from __future__ import annotations

from typing import Any, ClassVar, Dict

from .base_lock import BaseLock
from .lock import Lock


class SharedLock(BaseLock):
    """Two ``Lock``s on ``base_path``: ``reader_lock`` (label ``read``) and
    ``writer_lock`` (label ``write``)."""

    sub_recipes: ClassVar[Dict[str, Any]] = {
        'reader_lock': (Lock, ['base_path', 'read_znode_label', 'read_blocked_by']),
        'writer_lock': (Lock, ['base_path', 'write_znode_label']),
    }

    def __init__(self, base_path: str) -> None:
        self.read_znode_label = 'read'
        self.write_znode_label = 'write'
        self.read_blocked_by = ('write',)
        super().__init__(base_path)
