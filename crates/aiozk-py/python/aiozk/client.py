"""``ZKClient``: aiozk's client class on the Rust client.

Every method that talks to the server queues its request when it is **called** (not when
the returned awaitable is first awaited), so requests reach the server in call order.
Results, watch callbacks and ``wait_for_events`` futures are resolved on the event loop of
the call. Nothing blocks the event loop: the Rust session runs on its own threads, so it
keeps pinging the server even while the loop is blocked.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple, TypeVar, Union

from . import _aiozk, exc, protocol
from .data import AclArg, Data, encode_data
from .features import Features
from .protocol.acl import ACL, UNRESTRICTED_ACCESS, from_tuples, to_tuples
from .protocol.stat import Stat
from .protocol.watches import WatchEvent
from .recipes.proxy import RecipeProxy
from .retry import RetryPolicy
from .session import Session
from .transaction import Transaction

log = logging.getLogger(__name__)

T = TypeVar('T')
R = TypeVar('R')

def _key(path: str) -> str:
    """A path relative to the chroot, normalized (the stat cache key)."""
    if path[:1] == '/' and path[-1:] != '/' and '//' not in path:
        return path  # already normal: the common case, without building a list
    return '/' + '/'.join(s for s in path.split('/') if s)


async def _then(fut: Awaitable[T], fn: Callable[[T], R]) -> R:
    return fn(await fut)


# The hot read and write paths: one coroutine each, no closure, the cache key computed once.

_DATA, _DATA_STAT, _CHILDREN, _CHILDREN_STAT = range(4)


async def _exists(cache: Dict[str, Stat], key: str, fut: Awaitable[Optional[Stat]], want_stat: bool) -> Any:
    stat = await fut
    if stat is None:
        cache.pop(key, None)
        return None if want_stat else False
    cache[key] = stat
    return stat if want_stat else True


async def _read(cache: Dict[str, Stat], key: str, fut: Awaitable[Tuple[Any, Stat]], shape: int) -> Any:
    try:
        value, stat = await fut
    except exc.NoNode:
        cache.pop(key, None)
        raise
    cache[key] = stat
    if shape == _DATA or shape == _DATA_STAT:
        # Null data reads as None, empty data as b'' (aiozk's behaviour).
        return value if shape == _DATA else (value, stat)
    if shape == _CHILDREN:
        return value
    return value, stat


async def _written(cache: Dict[str, Stat], key: str, fut: Awaitable[Stat]) -> Stat:
    stat = await fut
    cache[key] = stat
    return stat


async def _written_none(cache: Dict[str, Stat], key: str, fut: Awaitable[Stat]) -> None:
    cache[key] = await fut


async def _created(cache: Dict[str, Stat], fut: Awaitable[Tuple[str, Stat]]) -> str:
    created, stat = await fut
    cache[_key(created)] = stat  # under the created name (aiozk: the requested one)
    return created


async def _deleted(cache: Dict[str, Stat], key: str, fut: Awaitable[None]) -> None:
    try:
        await fut
    finally:
        cache.pop(key, None)


class StateChange:
    """A session state change from ``ZKClient.state_changes()``.

    ``state``: the Rust session state (``connecting``, ``connected``,
    ``connected_read_only``, ``disconnected``, ``expired``, ``auth_failed``, ``closed``) or
    ``new_session``; ``cause``: why; ``session_id``: the new session's id for
    ``new_session``.
    """

    __slots__ = ('cause', 'session_id', 'state')

    def __init__(self, state: str, cause: str, session_id: Optional[int]) -> None:
        self.state = state
        self.cause = cause
        self.session_id = session_id

    def __repr__(self) -> str:
        return f'StateChange({self.state!r}, {self.cause!r}, {self.session_id!r})'


class StateChanges:
    """An async iterator of ``StateChange``; ends when the client closes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __aiter__(self) -> 'StateChanges':
        return self

    async def __anext__(self) -> StateChange:
        state, cause, session_id = await self._inner.__anext__()
        return StateChange(state, cause, session_id)


class PersistentWatch:
    """A persistent (or recursive) watch: an async iterator of ``WatchEvent``.

    Events carry paths relative to the chroot. Iteration ends when the watch ends (the
    session expired or the client closed) or after ``close()``, which removes the watch.
    Also an async context manager that closes it on exit.
    """

    def __init__(self, inner: Any, client: 'ZKClient') -> None:
        self._inner = inner
        self._client = client

    def __aiter__(self) -> 'PersistentWatch':
        return self

    async def __anext__(self) -> WatchEvent:
        while True:
            type_, state, path = await self._inner.__anext__()
            if type_ == WatchEvent.NONE:
                raise StopAsyncIteration
            return WatchEvent(type=type_, state=state, path=self._client.denormalize_path(path))

    def close(self) -> None:
        """Stops the iteration and removes the watch."""
        self._inner.close()

    async def __aenter__(self) -> 'PersistentWatch':
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        self.close()


class ZKClient:
    """An asyncio ZooKeeper client with aiozk's API.

    :param str servers: comma-separated ``host:port`` list (``[v6addr]:port`` for IPv6, a
        bare host means port 2181; ``tls://host:port`` for TLS).
    :param str chroot: root of every path of this client; created by ``start()``.
    :param float session_timeout: requested session timeout in seconds.
    :param default_acl: ACL (an ``ACL`` or a list) for nodes created without one
        (default: everything for everyone).
    :param RetryPolicy retry_policy: retries after a lost connection (default
        ``RetryPolicy.forever()``).
    :param bool allow_read_only: accept read-only servers.
    :param float read_timeout: the longest a call may wait for its result, in seconds:
        counted from the call, it covers waiting for a connection, the reply and every
        retry of the retry policy, so a call never outlives it (even under the default
        ``RetryPolicy.forever()``, against a frozen server). Past it the call fails with
        ``exc.RequestTimeout`` (a subclass of ``exc.TimeoutError``); the request may
        still be carried out. Calls made of several requests (``ensure_path``,
        ``deleteall``) and recipes bound each request. Default: no limit.
    :param loop: ignored (aiozk 0.28 compatibility).

    Keyword-only additions: ``auth`` (a list of ``(scheme, credentials)`` sent at every
    connect), ``sasl`` (``(user, password)`` for SASL DIGEST-MD5), ``tls`` (a
    ``TlsOptions``), ``reconnect_after_expiry`` (default True: open a new session after an
    expiry, as aiozk), ``connect_timeout`` (default for ``start()``), ``resume_session``
    (``(session_id, password)`` of a live session to take over, from ``session_id`` and
    ``session.password``), ``max_frame`` (the largest reply accepted and request sent, in
    bytes; default 1 MiB - 1, the server's default ``jute.maxbuffer``: raise it to read a
    node whose data or list of children is bigger; a reply over it fails with
    ``exc.ProtocolError``, whose ``size`` and ``limit`` say by how much),
    ``track_ensemble`` (default False: follow the membership that ``/zookeeper/config``
    lists, moving sessions to added servers and off removed ones; see
    ``update_servers``).
    """

    def __init__(
        self,
        servers: str,
        chroot: Optional[str] = None,
        session_timeout: float = 10,
        default_acl: AclArg = None,
        retry_policy: Optional[RetryPolicy] = None,
        allow_read_only: bool = False,
        read_timeout: Optional[float] = None,
        loop: Any = None,
        *,
        auth: Optional[Iterable[Tuple[str, Union[bytes, str]]]] = None,
        sasl: Optional[Tuple[str, str]] = None,
        tls: Optional['_aiozk.TlsOptions'] = None,
        reconnect_after_expiry: bool = True,
        connect_timeout: Optional[float] = None,
        resume_session: Optional[Tuple[int, bytes]] = None,
        max_frame: Optional[int] = None,
        track_ensemble: bool = False,
    ) -> None:
        self.servers = servers
        self.chroot: Optional[str] = None
        if chroot:
            normalized = _key(chroot)
            self.chroot = None if normalized == '/' else normalized
        self.session = Session(self, session_timeout, allow_read_only)
        if isinstance(default_acl, ACL):
            default_acl = [default_acl]
        self.default_acl: List[ACL] = list(default_acl) if default_acl else [UNRESTRICTED_ACCESS]
        self.retry_policy = retry_policy or RetryPolicy.forever()
        self.allow_read_only = allow_read_only
        self.read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.loop = loop
        self.stat_cache: Dict[str, Stat] = {}
        #: The server version learned by ``server_version()`` (None until then).
        self.version_info: Optional[Tuple[int, int, int]] = None
        self.recipes = RecipeProxy(self)
        self._auth = [(s, encode_data(c) or b'') for s, c in (auth or [])]
        self._sasl = sasl
        self._tls = tls
        self._reconnect_after_expiry = reconnect_after_expiry
        self._resume = resume_session
        self._max_frame = max_frame
        self._track_ensemble = track_ensemble
        self._core: Optional[_aiozk.Client] = None
        self._starting: Optional[asyncio.Lock] = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self, timeout: Optional[float] = None) -> None:
        """Starts the session, waits until connected, then creates the chroot node.

        Waits as long as it takes (as aiozk), unless ``timeout`` (or the client's
        ``connect_timeout``) is given: then it raises ``exc.NoServersError`` when no server
        answered in time, and the client is closed again. Raises ``exc.AuthFailed`` when
        the server rejected the credentials. A second ``start()`` only waits.
        """
        await self._start_session(timeout)
        if self.chroot:
            await self._core.ensure_path('/')  # type: ignore[union-attr]

    async def _start_session(self, timeout: Optional[float] = None) -> None:
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            await self._start_locked(timeout)

    async def _start_locked(self, timeout: Optional[float]) -> None:
        if timeout is None:
            timeout = self.connect_timeout
        if self._core is not None and self._core.state == 'expired' and not self._reconnect_after_expiry:
            # An expired client that does not reconnect by itself: start a new session.
            old, self._core = self._core, None
            await old.close()
        if self._core is None or self._core.state in ('closed', 'auth_failed'):
            self._core = _aiozk.Client(
                self.servers,
                chroot=self.chroot,
                session_timeout=float(self.session.requested_timeout),
                allow_read_only=self.allow_read_only,
                default_acl=to_tuples(self.default_acl),
                retry=self.retry_policy._spec,
                call_timeout=self.read_timeout,
                auth=self._auth,
                sasl=self._sasl,
                tls=self._tls,
                reconnect_after_expiry=self._reconnect_after_expiry,
                resume=self._resume,
                max_frame=self._max_frame,
                track_ensemble=self._track_ensemble,
            )
            self._resume = None
            self.session.state._set('lost')
            self._core.on_state(self.session._on_rust_state)
            self.session.started = True
        core = self._core
        try:
            state = await core.wait_connected(timeout)
        except BaseException:
            if self._core is core:
                self._core = None
                self.session.started = False
            await core.close()
            raise
        self.session._on_rust_state(state)

    async def close(self) -> None:
        """Closes the session (its ephemeral nodes go at once). Returns promptly also when
        no server is reachable. Does nothing when not started."""
        await self._close_session()

    async def _close_session(self) -> None:
        core = self._core
        if core is None or self.session.closing:
            return
        self.session.closing = True
        try:
            await core.close()
        finally:
            self.session.closing = False
            self.session.started = False
            self.session.state._set('lost')

    async def __aenter__(self) -> 'ZKClient':
        await self.start()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    async def update_servers(self, servers: str) -> bool:
        """Replaces the server list (``host:port,...``) while the session lives on.

        The client moves to another server only when that evens out the load across the
        new list (ZOOKEEPER-1355): when its server is gone, or, as the list grows, with the
        probability that gives every server its share. Returns whether it moved; calls in
        flight during a move fail with a connection loss and are retried by the retry
        policy. Also used by the next ``start()`` after a close.
        """
        moved = await self._c().update_servers(servers)
        self.servers = servers
        return bool(moved)

    def _c(self) -> '_aiozk.Client':
        core = self._core
        if core is None:
            raise exc.ClientClosed('the client is not started: call start() first')
        return core

    # ------------------------------------------------------------------ paths

    def normalize_path(self, path: str) -> str:
        """The server path of ``path`` (chroot joined, empty segments dropped)."""
        if self.chroot:
            path = self.chroot + '/' + path
        return _key(path)

    def denormalize_path(self, path: str) -> str:
        """``path`` with the chroot removed."""
        chroot = self.chroot
        if chroot and (path == chroot or path.startswith(chroot + '/')):
            return path[len(chroot):]
        return path

    @property
    def features(self) -> Features:
        """What the server supports (aiozk's flags): all False before connecting; once
        connected, from the version that ``server_version()`` learned, else all True (the
        Rust client needs ZooKeeper 3.5 or later)."""
        if self._core is not None and self._core.state.startswith('connected'):
            return Features(self.version_info or (3, 5, 1))
        return Features((0, 0, 0))

    async def server_version(self) -> Optional[Tuple[int, int, int]]:
        """The connected server's version, ``(major, minor, patch)``, asked with the ``srvr``
        four-letter word over a separate connection (aiozk asks on every connect; this
        client only when called). None when not connected, or when the server does not
        answer ``srvr`` (a TLS-only port, a ``4lw.commands.whitelist`` without it). The
        answer is kept in ``version_info`` and used by ``features``."""
        version = await self._c().server_version()
        if version is not None:
            self.version_info = version
        return version

    @property
    def state(self) -> str:
        """The Rust session state: ``connecting``, ``connected``, ``connected_read_only``,
        ``disconnected``, ``expired``, ``auth_failed`` or ``closed`` (``closed`` before
        ``start()``)."""
        return self._core.state if self._core is not None else 'closed'

    @property
    def session_id(self) -> Optional[int]:
        """The session id (None before connecting)."""
        return self.session.session_id

    def stats(self) -> Dict[str, int]:
        """Counters of the client (requests, errors, reconnects, sessions, ...)."""
        return self._c().stats()

    def state_changes(self) -> StateChanges:
        """An async iterator of every ``StateChange`` from now on; ends when the client
        closes."""
        return StateChanges(self._c().state_changes())

    # ------------------------------------------------------------------ stat cache

    def _cache(self, path: str, stat: Optional[Stat]) -> None:
        if stat is None:
            self.stat_cache.pop(_key(path), None)
        else:
            self.stat_cache[_key(path)] = stat

    def _cached_version(self, path: str, force: bool, acl: bool = False) -> Optional[int]:
        if force:
            return None
        stat = self.stat_cache.get(_key(path))
        if stat is None:
            return None
        return stat.acl_version if acl else stat.version

    # ------------------------------------------------------------------ reads

    def _watch_cb(self, watch: bool) -> Optional[Callable[[int, str], None]]:
        return self.session.event_dispatch if watch else None

    def exists(self, path: str, watch: bool = False) -> Awaitable[bool]:
        """True when the node exists. ``watch=True`` sets a watch (fires on creation,
        change or deletion; see ``wait_for_events``)."""

        return _exists(self.stat_cache, _key(path), self._c().exists(path, self._watch_cb(watch)), False)

    def stat(self, path: str, watch: bool = False) -> Awaitable[Optional[Stat]]:
        """The node's ``Stat``, or None when it does not exist (``exists`` with a stat)."""

        return _exists(self.stat_cache, _key(path), self._c().exists(path, self._watch_cb(watch)), True)

    def get(self, path: str, watch: bool = False) -> Awaitable[Tuple[Optional[bytes], Stat]]:
        """``(data, stat)``; data is None for null data (a node created without data) and
        ``b''`` for empty data."""

        return _read(self.stat_cache, _key(path), self._c().get_data(path, self._watch_cb(watch)), _DATA_STAT)

    def get_data(self, path: str, watch: bool = False) -> Awaitable[Optional[bytes]]:
        """The node's data: None for null data (a node created without data), ``b''`` for
        empty data."""

        return _read(self.stat_cache, _key(path), self._c().get_data(path, self._watch_cb(watch)), _DATA)

    def get_children(self, path: str, watch: bool = False) -> Awaitable[List[str]]:
        """The children's names (unsorted). ``watch=True`` sets a child watch."""

        return _read(self.stat_cache, _key(path), self._c().get_children(path, self._watch_cb(watch)), _CHILDREN)

    def get_children_stat(self, path: str, watch: bool = False) -> Awaitable[Tuple[List[str], Stat]]:
        """``(children, stat)``: the children's names and the node's ``Stat``."""

        return _read(
            self.stat_cache, _key(path), self._c().get_children(path, self._watch_cb(watch)), _CHILDREN_STAT
        )

    def get_acl(self, path: str) -> Awaitable[List[ACL]]:
        """The node's ACL."""

        def done(result: Tuple[list, Stat]) -> List[ACL]:
            acl, stat = result
            self._cache(path, stat)
            return from_tuples(acl)

        return _then(self._c().get_acl(path), done)

    def sync(self, path: str) -> Awaitable[None]:
        """Waits until the server has caught up with the leader for ``path``."""
        return self._c().sync(path)

    # ------------------------------------------------------------------ writes

    def create(
        self,
        path: str,
        data: Data = None,
        acl: AclArg = None,
        ephemeral: bool = False,
        sequential: bool = False,
        container: bool = False,
        *,
        ttl: Optional[float] = None,
    ) -> Awaitable[str]:
        """Creates a node; returns its path (with the sequence number when sequential).

        ``ttl`` (seconds) makes a TTL node (needs ``extendedTypesEnabled`` on the server).
        """
        acl_tuples = to_tuples(acl) if acl else None

        fut = self._c().create(path, encode_data(data), acl_tuples, ephemeral, sequential, container, ttl)
        return _created(self.stat_cache, fut)

    def ensure_path(self, path: str, acl: AclArg = None, *, container: bool = False) -> Awaitable[None]:
        """Creates ``path`` and its missing ancestors (persistent nodes; ``container=True``
        for container nodes)."""
        return self._c().ensure_path(path, to_tuples(acl) if acl else None, container)

    def delete(self, path: str, force: bool = False) -> Awaitable[None]:
        """Deletes a node; unless ``force``, with the version last seen by this client (the
        stat cache), so a concurrent change makes it fail with ``exc.BadVersion``."""
        return _deleted(self.stat_cache, _key(path), self._c().delete(path, self._cached_version(path, force)))

    def deleteall(self, path: str) -> Awaitable[None]:
        """Deletes ``path`` and everything below it; ``exc.NoNode`` if it does not exist."""
        fut = self._c().deleteall(path)
        prefix = _key(path)

        async def run() -> None:
            try:
                await fut
            finally:
                for key in [k for k in self.stat_cache if k == prefix or k.startswith(prefix.rstrip('/') + '/')]:
                    del self.stat_cache[key]

        return run()

    def set(self, path: str, data: Data, version: int) -> Awaitable[Stat]:
        """Sets the data if the node's version is ``version`` (-1: any); returns the new
        ``Stat``."""

        fut = self._c().set_data(path, encode_data(data), None if version == -1 else version)
        return _written(self.stat_cache, _key(path), fut)

    def set_data(self, path: str, data: Data, force: bool = False) -> Awaitable[None]:
        """Sets the data; unless ``force``, with the version last seen (the stat cache)."""

        fut = self._c().set_data(path, encode_data(data), self._cached_version(path, force))
        return _written_none(self.stat_cache, _key(path), fut)

    def set_acl(self, path: str, acl: AclArg, force: bool = False) -> Awaitable[None]:
        """Sets the ACL; unless ``force``, with the ACL version last seen."""

        def done(stat: Stat) -> None:
            self._cache(path, stat)

        return _then(self._c().set_acl(path, to_tuples(acl), self._cached_version(path, force, acl=True)), done)

    def add_auth(self, scheme: str, credentials: Union[bytes, str]) -> Awaitable[None]:
        """Adds credentials to the session (e.g. ``('digest', 'user:password')``); they are
        sent again after every reconnect. ``exc.AuthFailed`` when rejected."""
        return self._c().add_auth(scheme, encode_data(credentials) or b'')

    def begin_transaction(self) -> Transaction:
        """A new ``Transaction`` on this client."""
        return Transaction(self)

    # ------------------------------------------------------------------ watches

    def wait_for_events(self, event_types: Iterable[int], path: str) -> asyncio.Future:
        """A future resolved (with None) by the next event of one of ``event_types`` on
        ``path``. Not a coroutine; it sets no watch: follow it with a read with
        ``watch=True``. Its callbacks are removed when it is resolved or cancelled."""
        full = self.normalize_path(path)
        f = asyncio.get_running_loop().create_future()
        types = list(event_types)

        def set_future(_: str) -> None:
            if not f.done():
                f.set_result(None)

        def cleanup(_: asyncio.Future) -> None:
            for t in types:
                self.session.remove_watch_callback(t, full, set_future)

        for t in types:
            self.session.add_watch_callback(t, full, set_future)
        f.add_done_callback(cleanup)
        return f

    async def add_watch(self, path: str, recursive: bool = False) -> PersistentWatch:
        """A persistent watch on ``path`` (``recursive``: on every descendant too, without
        child events); an async iterator of ``WatchEvent``. Needs ZooKeeper 3.6+."""
        inner = await self._c().add_watch(path, recursive)
        return PersistentWatch(inner, self)

    # ------------------------------------------------------------------ low level

    async def send(self, request: protocol.Request) -> Optional[protocol.Response]:
        """Sends one of the request records of ``aiozk.protocol`` and returns its response
        record (exists, getData, setData, create, create2, delete, getChildren(2), getACL,
        setACL, sync, auth, ping, close). Updates the stat cache as aiozk does."""
        core = self._c()
        p = protocol
        req: Any = request  # the records declare their fields dynamically
        path: str = getattr(req, 'path', None) or '/'
        watch = self._watch_cb(bool(getattr(req, 'watch', False)))
        if isinstance(request, p.ExistsRequest):
            stat = await core.exists(path, watch)
            if stat is None:
                raise exc.NoNode()
            self._cache(path, stat)
            return p.ExistsResponse(stat=stat)
        if isinstance(request, p.GetDataRequest):
            data, stat = await core.get_data(path, watch)
            self._cache(path, stat)
            return p.GetDataResponse(data=data, stat=stat)
        if isinstance(request, p.SetDataRequest):
            version = req.version
            stat = await core.set_data(path, encode_data(req.data), None if version in (None, -1) else version)
            self._cache(path, stat)
            return p.SetDataResponse(stat=stat)
        if isinstance(request, p.CreateRequest):
            flags = req.flags or 0
            created, stat = await core.create(
                path,
                encode_data(req.data),
                to_tuples(req.acl) if req.acl else None,
                bool(flags & 1),
                bool(flags & 2),
                bool(flags & 4),
                None,
            )
            if isinstance(request, p.Create2Request):
                self._cache(path, stat)
                return p.Create2Response(path=created, stat=stat)
            return p.CreateResponse(path=created)
        if isinstance(request, p.DeleteRequest):
            version = req.version
            await core.delete(path, None if version in (None, -1) else version)
            return p.DeleteResponse()
        if isinstance(request, (p.GetChildrenRequest, p.GetChildren2Request)):
            children, stat = await core.get_children(path, watch)
            self._cache(path, stat)
            if isinstance(request, p.GetChildren2Request):
                return p.GetChildren2Response(children=children, stat=stat)
            return p.GetChildrenResponse(children=children)
        if isinstance(request, p.GetACLRequest):
            acl, stat = await core.get_acl(path)
            self._cache(path, stat)
            return p.GetACLResponse(acl=from_tuples(acl), stat=stat)
        if isinstance(request, p.SetACLRequest):
            version = req.version
            stat = await core.set_acl(path, to_tuples(req.acl), None if version in (None, -1) else version)
            self._cache(path, stat)
            return p.SetACLResponse(stat=stat)
        if isinstance(request, p.SyncRequest):
            await core.sync(path)
            return p.SyncResponse(path=path)
        if isinstance(request, p.AuthRequest):
            await core.add_auth(req.scheme, encode_data(req.auth) or b'')
            return p.AuthResponse()
        if isinstance(request, p.PingRequest):
            await core.exists('/', None)
            return p.PingResponse()
        if isinstance(request, p.CloseRequest):
            await self.close()
            return p.CloseResponse()
        raise TypeError(f'{type(request).__name__} cannot be sent on its own')

    def __repr__(self) -> str:
        return f'<ZKClient {self.servers!r} chroot={self.chroot!r} {self.state}>'
