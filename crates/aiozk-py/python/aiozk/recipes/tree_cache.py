"""``TreeCache``: a local copy of a subtree, kept up to date by the Rust tree cache.

``as_dict()`` gives nested dicts (a node with children maps to a dict of its children, a
leaf to its data, None for null data); ``root`` (and attribute access on the cache) gives
``ZNodeCache`` nodes: ``cache.root.node1.subnode1.value``.
"""

from __future__ import annotations

from typing import Any, AsyncIterator, Dict, Optional, Tuple

from .. import _aiozk
from .recipe import Recipe


class ZNodeCache:
    """One cached node: ``path``, ``data`` (= ``value``), ``stat``, ``children`` by name
    (also as attributes)."""

    def __init__(self, path: str, data: Optional[bytes], stat: Any) -> None:
        self.path = path
        self.data = data
        self.stat = stat
        self.children: Dict[str, 'ZNodeCache'] = {}

    @property
    def dot_path(self) -> str:
        """The path with dots instead of slashes."""
        return self.path[1:].replace('/', '.')

    @property
    def value(self) -> Optional[bytes]:
        """The node's data."""
        return self.data

    def __getattr__(self, name: str) -> 'ZNodeCache':
        children = self.__dict__.get('children', {})
        if name not in children:
            raise AttributeError(name)
        return children[name]

    def as_dict(self) -> Any:
        """Children as a dict (recursively), or the data of a leaf."""
        if self.children:
            return {name: child.as_dict() for name, child in self.children.items()}
        return self.data


class TreeCache(Recipe):
    """A cache of the subtree at ``base_path`` (created when missing by ``start()``)."""

    def __init__(self, base_path: str, defaults: Optional[dict] = None, *, force_oneshot_watches: bool = False) -> None:
        super().__init__(base_path)
        self.defaults = defaults or {}
        self.force_oneshot_watches = force_oneshot_watches
        self._cache: Any = None

    async def start(self) -> None:
        """Creates ``base_path`` when missing and loads the subtree: with one persistent
        recursive watch (ZooKeeper 3.6+), or with one-shot watches per node on older
        servers or when ``force_oneshot_watches``."""
        await self.ensure_path()
        self._cache = await _aiozk.TreeCache.start(self._core(), self.base_path, self.force_oneshot_watches)

    @property
    def mode(self) -> Optional[str]:
        """How the cache follows the server: ``persistent_recursive`` or ``oneshot``
        (None before ``start()`` or after ``stop()``)."""
        return self._cache.mode if self._cache is not None else None

    def snapshot(self) -> Dict[str, Tuple[Optional[bytes], Any]]:
        """Every cached node: ``{path: (data, stat)}`` (chroot-relative paths; data None
        for null data)."""
        if self._cache is None:
            return {}
        denormalize = self.client.denormalize_path
        return {denormalize(p): entry for p, entry in self._cache.snapshot().items()}

    def stats(self) -> Optional[Dict[str, Any]]:
        """What following the server cost: ``data_reads``, ``children_reads``,
        ``stat_reads``, ``reads`` (their sum), watch ``events`` and ``resyncs`` (after
        reconnects and new sessions), and ``last_resync`` (``known``, ``stat_reads``,
        ``data_reads``, ``children_reads``, ``changed``, ``took`` in seconds) or None."""
        return self._cache.stats() if self._cache is not None else None

    def events(self) -> AsyncIterator[Tuple[str, Any]]:
        """The changes from now on, as ``(kind, value)``: ``('added' | 'updated' |
        'removed', path)`` (chroot-relative), ``('resynced', report)`` after a reconnect,
        ``('lagged', n)`` when this reader missed ``n`` changes (read the cache again),
        ``('stopped', exception)`` when the cache stopped following the server. Ends when
        the cache is stopped. Subscribed when called."""
        return self._follow(self._cache.events() if self._cache is not None else None)

    async def _follow(self, inner: Any) -> AsyncIterator[Tuple[str, Any]]:
        if inner is None:
            return
        async for kind, value in inner:
            if kind in ('added', 'updated', 'removed'):
                value = self.client.denormalize_path(value)
            yield kind, value

    async def stop(self) -> None:
        """Stops following the server."""
        if self._cache is not None:
            self._cache.stop()

    @property
    def root(self) -> Optional[ZNodeCache]:
        """The cached tree as ``ZNodeCache`` nodes (None before ``start()`` or when the
        root is gone)."""
        if self._cache is None:
            return None
        snapshot = self._cache.snapshot()
        root_path = self._cache.root
        if root_path not in snapshot:
            return None
        nodes = {p: ZNodeCache(self.client.denormalize_path(p), d, s) for p, (d, s) in snapshot.items()}
        for path in sorted(snapshot, key=len):
            if path == root_path:
                continue
            parent, _, name = path.rpartition('/')
            parent = parent or '/'
            if parent in nodes:
                nodes[parent].children[name] = nodes[path]
        return nodes[root_path]

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith('_'):
            raise AttributeError(attribute)
        root = self.root
        if root is None:
            raise AttributeError(attribute)
        return getattr(root, attribute)

    def as_dict(self) -> Any:
        """The cached tree as nested dicts (see the module documentation)."""
        root = self.root
        return root.as_dict() if root is not None else None
