"""``ZKClient``: aiozk's client class on the Rust client.

Every method that talks to the server queues its request when it is **called** (not when
the returned awaitable is first awaited), so requests reach the server in call order.
Results, watch callbacks and ``wait_for_events`` futures are resolved on the event loop of
the call. Nothing blocks the event loop: the Rust session runs on its own threads, so it
keeps pinging the server even while the loop is blocked.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import warnings
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Tuple, TypedDict, TypeVar, Union

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


#: The request records that ``ZKClient.send`` refuses, with what to use instead.
_UNSENDABLE = {
    'ConnectRequest': 'the session connects by itself; use ZKClient.start() '
    '(and resume_session=(session_id, password) to take over a session)',
    'SASLRequest': 'the session authenticates at every connect; use ZKClient(sasl=(user, password))',
    'SetWatchesRequest': 'the session re-registers every watch after each reconnect; '
    'set watches with a read (watch=True) or with add_watch()',
    'CheckWatchesRequest': "the client keeps its own watches; see stats()['live_watches'] "
    'and session.watch_callbacks',
    'RemoveWatchesRequest': 'remove a persistent watch with PersistentWatch.remove(); a one-shot '
    'watch ends when it fires (stop listening with session.remove_watch_callback)',
    'CheckVersionRequest': 'a check is a transaction operation: add it to a TransactionRequest, '
    'or use begin_transaction().check_version()',
}


class ClientStats(TypedDict):
    """``ZKClient.stats()``: counters of the client since it started."""

    requests: int
    errors: int
    reconnects: int
    disconnects: int
    sessions: int
    notifications: int
    set_watches_batches: int
    writes: int
    coalesced_reads: int
    multi_read_batches: int
    live_watches: int
    bytes_sent: int
    bytes_received: int


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

    Events carry paths relative to the chroot. The watch lives across reconnects and session
    expiries: changes missed meanwhile come as events with ``catch_up`` set, one per kind
    of change; a recursive watch gets one event with ``resync`` set instead (type ``NONE``:
    changes below its path may have been missed), and after a session expiry an event with
    ``new_session`` set (type ``NONE``) announces that the watch was added again. Iteration
    ends when the client closes (or the session expires without ``reconnect_after_expiry``)
    or after ``close()``, which removes the watch. Also an async context manager that closes
    it on exit.
    """

    def __init__(self, inner: Any, client: 'ZKClient') -> None:
        self._inner = inner
        self._client = client

    def __aiter__(self) -> 'PersistentWatch':
        return self

    async def __anext__(self) -> WatchEvent:
        type_, state, path, zxid, kind = await self._inner.__anext__()
        return WatchEvent(
            type=type_,
            state=state,
            path=self._client.denormalize_path(path),
            zxid=zxid,
            catch_up=kind == 'catch_up',
            resync=kind == 'resync',
            new_session=kind == 'new_session',
        )

    def close(self) -> None:
        """Stops the iteration and removes the watch (the removal is sent at once, without
        waiting for the server)."""
        self._inner.close()

    async def remove(self) -> None:
        """Stops the iteration, removes the watch and waits until the server has dropped
        it: no event of this watch arrives afterwards. Does nothing more when already
        removed. (On servers before 3.9, while a one-shot watch of the same client waits on
        the same path, the server watch goes once that one has fired.)"""
        await self._inner.remove(self._client._c())

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
    ``exc.ProtocolError``, whose ``size`` and ``limit`` say by how much), ``max_write_delay``
    (seconds a request may wait to be written together with others while 32 or more are in
    flight; default 0.001, 0 writes each at once), ``coalesce_reads`` (default True: reads
    that would go out one after the other are sent as one MultiRead on ZooKeeper 3.6+, each
    call keeping its own result), ``fail_eagerly`` (default False: once every server refused
    the connection in two whole rounds, waiting calls and ``start()`` fail with
    ``exc.NoServersError`` naming the last refusal, until a handshake succeeds),
    ``client_config`` (the path of a Java client configuration file, as for
    ``zkCli.sh -client-configuration``:
    ``zookeeper.client.secure``, PEM ``zookeeper.ssl.*`` stores, ``zookeeper.request.timeout``,
    ``jute.maxbuffer``; each key that is not applied gives a ``ClientConfigWarning``; the other
    arguments override the file),
    ``track_ensemble`` (default False: follow the membership that ``/zookeeper/config``
    lists, moving sessions to added servers and off removed ones; see
    ``update_servers``), ``kerberos`` (a ``Kerberos``: SASL GSSAPI at every connect, with a
    keytab login renewed before its ticket expires, or a ticket cache; needs a build with
    the ``gssapi`` feature).
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
        max_write_delay: Optional[float] = None,
        coalesce_reads: bool = True,
        fail_eagerly: bool = False,
        client_config: Union[str, 'os.PathLike[str]', None] = None,
        track_ensemble: bool = False,
        kerberos: Optional['_aiozk.Kerberos'] = None,
    ) -> None:
        self.servers = servers
        self._client_config: Optional[_aiozk.ClientConfig] = None
        if client_config is not None:
            self._client_config = _aiozk.ClientConfig(os.fspath(client_config))
            for warning in self._client_config.warnings:
                warnings.warn(warning, exc.ClientConfigWarning, stacklevel=2)
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
        self._max_write_delay = max_write_delay
        self._coalesce_reads = coalesce_reads
        self._fail_eagerly = fail_eagerly
        self._track_ensemble = track_ensemble
        self._kerberos = kerberos
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
                max_write_delay=self._max_write_delay,
                coalesce_reads=self._coalesce_reads,
                fail_eagerly=self._fail_eagerly,
                client_config=self._client_config,
                track_ensemble=self._track_ensemble,
                kerberos=self._kerberos,
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
        no server is reachable. Does nothing when not started.

        Calls still in flight end with their result (the server answers the requests sent
        before the close first) or with ``exc.ClientClosed`` (``exc.ConnectionLoss`` when
        the connection dropped first); calls made afterwards raise ``exc.ClientClosed``.
        When the server has stopped answering, the close waits until the connection is
        declared dead (two thirds of the session timeout at most)."""
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
        probability that gives every server its share. Returns whether it moved. A move
        waits for the replies to the calls already sent and holds new ones until the new
        connection is up, so it fails no call. Also used by the next ``start()`` after a
        close.
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

    def stats(self) -> ClientStats:
        """Counters of the client since it started: ``requests`` sent, ``errors`` (failed
        requests), ``reconnects`` (to the same session), ``disconnects``, ``sessions``
        established, watch ``notifications`` received, ``set_watches_batches`` (watch
        re-registrations after reconnects), ``writes`` to the connection,
        ``coalesced_reads`` (reads sent inside a MultiRead) and ``multi_read_batches``, and
        ``live_watches`` (watchers currently set), ``bytes_sent`` and ``bytes_received``.
        Raises ``exc.ClientClosed`` before ``start()``."""
        return self._c().stats()  # type: ignore[return-value]

    @property
    def last_zxid(self) -> Optional[int]:
        """The highest zxid seen in a reply: every change up to it is visible to this
        client (None before ``start()``)."""
        return self._core.last_zxid if self._core is not None else None

    def reconnect(self) -> None:
        """Drops the connection and reconnects with the same session, as after a network
        failure: calls in flight fail with ``exc.ConnectionLoss`` (reads are retried by
        the retry policy), watches are re-registered. Does nothing unless connected."""
        self._c().reconnect()

    @property
    def last_heard(self) -> Optional[float]:
        """Seconds since the server last answered something this client sent (None before
        the first answer, or before ``start()``)."""
        return self._core.last_heard if self._core is not None else None

    @property
    def connect_failure(self) -> Optional[BaseException]:
        """Why the latest connection attempt failed, as an exception (None once a
        handshake succeeded, and before ``start()``)."""
        return self._core.connect_failure if self._core is not None else None

    def with_call_timeout(self, timeout: float) -> 'ZKClient':
        """A view of this client (as ``with_retry``) whose calls each end within
        ``timeout`` seconds, retries included (``exc.RequestTimeout``)."""
        view = copy.copy(self)
        view._core = self._c().with_call_timeout(timeout)
        return view

    def with_retry(self, retry_policy: RetryPolicy) -> 'ZKClient':
        """A view of this client whose calls use ``retry_policy``: same session, stat
        cache, watches and recipes. Valid while this session lasts (after ``close()`` and
        ``start()`` take a new view); closing the view closes the session."""
        view = copy.copy(self)
        view.retry_policy = retry_policy
        view._core = self._c().with_retry(retry_policy._spec)
        return view

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

    def multi_read(self, ops: Iterable[Tuple[str, str]]) -> Awaitable[List[Any]]:
        """Several reads in one round trip (ZooKeeper 3.6+; not atomic). ``ops``:
        ``('get_data', path)`` or ``('get_children', path)`` pairs. Returns one entry per
        read, in order: ``(data, stat)``, the list of child names, or the exception of a
        read that failed (returned, not raised: ``exc.NoNode`` for a missing node). Null
        data reads as ``b''`` here. Connection errors are raised."""
        ops = [(kind, path) for kind, path in ops]

        def done(results: List[Any]) -> List[Any]:
            for (kind, path), result in zip(ops, results):
                if kind == 'get_data' and isinstance(result, tuple):
                    self._cache(path, result[1])
            return results

        return _then(self._c().multi_read(ops), done)

    def get_ephemerals(self, prefix: str = '/') -> Awaitable[List[str]]:
        """This session's ephemeral nodes whose paths start with ``prefix`` (a string
        prefix: ``'/jobs/lock-'`` matches ``/jobs/lock-0000000001``), relative to the
        chroot. ZooKeeper 3.6+."""
        return self._c().get_ephemerals(prefix)

    def get_all_children_number(self, path: str) -> Awaitable[int]:
        """The number of all descendants of ``path`` (itself not counted). ZooKeeper 3.6+;
        ``exc.NoNode`` when missing."""
        return self._c().get_all_children_number(path)

    def whoami(self) -> Awaitable[List[Tuple[str, str]]]:
        """The identities the server gives this connection: ``(scheme, id)`` pairs such
        as ``('ip', '127.0.0.1')`` or ``('digest', 'alice')``. ZooKeeper 3.7+."""
        return self._c().whoami()

    def get_config(self, watch: bool = False) -> Awaitable[Tuple[bytes, Stat]]:
        """The ensemble's dynamic configuration, ``(data, stat)`` of
        ``/zookeeper/config`` (never under the chroot). ``watch=True`` sets a data watch
        on it, reported to the callbacks of ``session.add_watch_callback(type,
        '/zookeeper/config', callback)`` (and to ``wait_for_events`` without a chroot)."""
        return self._c().get_config(self._watch_cb(watch))

    def reconfig(
        self,
        joining: Union[str, Iterable[str], None] = None,
        leaving: Union[str, Iterable[str], None] = None,
        new_members: Union[str, Iterable[str], None] = None,
        from_config: int = -1,
    ) -> Awaitable[Tuple[bytes, Stat]]:
        """Changes the ensemble's membership: incrementally (``joining`` server specs such
        as ``'server.4=host:2888:3888;2181'``, ``leaving`` server ids) or as a whole
        (``new_members``); each a string or a list joined with commas. ``from_config``:
        the expected config version (-1: any). Returns the new ``(config, stat)``.
        ``exc.ReconfigDisabled`` unless the servers run with ``reconfigEnabled=true``; a
        standalone server refuses it (``ReconfigDisabled`` or ``Unimplemented``). Never
        retried."""

        def spec(value: Union[str, Iterable[str], None]) -> str:
            if value is None:
                return ''
            return value if isinstance(value, str) else ','.join(value)

        return self._c().reconfig(spec(joining), spec(leaving), spec(new_members), from_config)

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
        protected: bool = False,
    ) -> Awaitable[str]:
        """Creates a node; returns its path (with the sequence number when sequential).

        ``ttl`` (seconds) makes a TTL node (needs ``extendedTypesEnabled`` on the server).
        ``protected`` (for sequential nodes) puts a unique id in the node's name
        (``_c_<id>-<name><sequence>``), so that after a lost reply the client finds the node
        it made instead of failing with ``exc.ConnectionLoss``; the create is then retried.
        """
        acl_tuples = to_tuples(acl) if acl else None

        fut = self._c().create(path, encode_data(data), acl_tuples, ephemeral, sequential, container, ttl, protected)
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
        record: exists, getData, setData, create, create2, delete, getChildren(2), getACL,
        setACL, sync, auth, ping, close, reconfig, and multi (``TransactionRequest`` of
        create, delete, setData and check records; its ``responses`` are the exceptions of
        every operation when it failed, as in aiozk). Updates the stat cache as aiozk
        does. The records that the session sends by itself (connect, SASL, setWatches)
        and checkWatches, removeWatches and a check outside a multi raise
        ``NotImplementedError`` naming what to use instead."""
        core = self._c()
        p = protocol
        unsupported = _UNSENDABLE.get(type(request).__name__)
        if unsupported is not None and isinstance(request, getattr(p, type(request).__name__)):
            raise NotImplementedError(f'{type(request).__name__} cannot be sent with ZKClient.send: {unsupported}')
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
        if isinstance(request, p.ReconfigRequest):
            config_id = req.current_config_id
            data, stat = await core.reconfig(
                req.joining_servers or '',
                req.leaving_servers or '',
                req.new_members or '',
                -1 if config_id is None else config_id,
            )
            return p.ReconfigResponse(stat=stat, data=data)
        if isinstance(request, p.TransactionRequest):
            return await self._send_multi(req.requests)
        raise TypeError(f'{type(request).__name__} is not a request record of aiozk.protocol')

    async def _send_multi(self, requests: List[protocol.Request]) -> protocol.TransactionResponse:
        p = protocol
        ops: List[tuple] = []
        for r in requests:
            rec: Any = r
            version = -1 if getattr(rec, 'version', None) is None else rec.version
            if isinstance(r, p.CreateRequest):
                flags = rec.flags or 0
                acl = to_tuples(rec.acl) if rec.acl else None
                ops.append(('create', rec.path, encode_data(rec.data), acl, bool(flags & 1), bool(flags & 2), bool(flags & 4), None))
            elif isinstance(r, p.DeleteRequest):
                ops.append(('delete', rec.path, version))
            elif isinstance(r, p.SetDataRequest):
                ops.append(('set_data', rec.path, encode_data(rec.data), version))
            elif isinstance(r, p.CheckVersionRequest):
                ops.append(('check', rec.path, version))
            else:
                raise TypeError(f'{type(r).__name__} cannot be part of a transaction (create, create2, delete, setData, check)')
        response = p.TransactionResponse()
        if not ops:
            return response
        try:
            outcomes = await self._c().commit(ops)
        except exc.TransactionFailed as e:
            response.responses = list(e.results or [])
            return response
        for r, outcome in zip(requests, outcomes):
            kind = outcome[0]
            if kind == 'created':
                if isinstance(r, p.Create2Request):
                    response.responses.append(p.Create2Response(path=outcome[1], stat=outcome[2]))
                else:
                    response.responses.append(p.CreateResponse(path=outcome[1]))
            elif kind == 'deleted':
                response.responses.append(p.DeleteResponse())
            elif kind == 'updated':
                response.responses.append(p.SetDataResponse(stat=outcome[1]))
            else:
                response.responses.append(p.CheckVersionResponse())
        return response

    def __repr__(self) -> str:
        return f'<ZKClient {self.servers!r} chroot={self.chroot!r} {self.state}>'
