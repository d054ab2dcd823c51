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
        'reader_lock': (Lock, ['base_path', 'read_znode_label', 'read_blocked_by', 'layout']),
        'writer_lock': (Lock, ['base_path', 'write_znode_label', 'write_blocked_by', 'layout']),
    }

    #: The readers' and writers' labels, and what blocks writers, by layout: Curator's
    #: ``InterProcessReadWriteLock``, kazoo's ``ReadLock`` and ``WriteLock``.
    _LABELS: ClassVar[Dict[str, Any]] = {
        'aiozk': ('read', 'write', None),
        'curator': ('__READ__', '__WRIT__', None),
        'kazoo': ('__rlock__', '__lock__', ('__lock__', '__rlock__')),
    }

    def __init__(self, base_path: str, layout: str = 'aiozk') -> None:
        if layout not in self._LABELS:
            raise ValueError(f'unknown layout {layout!r}: expected aiozk, curator or kazoo')
        self.layout = layout
        self.read_znode_label, self.write_znode_label, self.write_blocked_by = self._LABELS[layout]
        self.read_blocked_by = (self.write_znode_label,)
        super().__init__(base_path)
