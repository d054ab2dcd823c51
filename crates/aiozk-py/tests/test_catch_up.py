"""Watches that miss nothing: changes made while the client is cut off come back marked as
catch-up events, a recursive watch gets a resync event, and a TreeCache re-reads only what
changed. The client reaches the server through a small TCP proxy that can hold its bytes
back and cut its connections."""

from __future__ import annotations

import asyncio
import uuid
from typing import List, Optional, Set

import aiozk
from aiozk import WatchEvent


class Proxy:
    """Forwards connections to ``upstream``; ``stall()`` stops forwarding, ``cut()`` closes
    every connection (and forwards again)."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(':')
        self.upstream = (host, int(port))
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.writers: Set[asyncio.StreamWriter] = set()
        self.server: Optional[asyncio.AbstractServer] = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, '127.0.0.1', 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        return f'{host}:{port}'

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers.update((writer, up_writer))

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while True:
                    data = await src.read(65536)
                    if not data:
                        break
                    await self.flowing.wait()
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def stall(self) -> None:
        self.flowing.clear()

    def cut(self) -> None:
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()
        self.flowing.set()

    def close(self) -> None:
        self.cut()
        if self.server is not None:
            self.server.close()


async def events(watch: aiozk.PersistentWatch, n: int) -> List[WatchEvent]:
    return [await asyncio.wait_for(watch.__anext__(), 15) for _ in range(n)]


async def test_changes_missed_during_a_cut_come_back_marked(zk2, servers):
    proxy = Proxy(servers)
    address = await proxy.start()
    chroot = zk2.chroot
    try:
        async with aiozk.ZKClient(address, chroot=chroot, session_timeout=10) as zk:
            await zk2.create('/p', 'a')
            await zk2.create('/r')
            watch = await zk.add_watch('/p')
            recursive = await zk.add_watch('/r', recursive=True)
            await zk.exists('/')  # the read that follows each addWatch is answered
            proxy.stall()
            await zk2.set_data('/p', 'b')
            await zk2.create('/p/kid')
            await zk2.set_data('/p', 'c')
            await zk2.create('/r/deep')
            proxy.cut()
            got = await events(watch, 2)
            assert [(e.type, e.path, e.catch_up, e.resync) for e in got] == [
                (WatchEvent.DATA_CHANGED, '/p', True, False),
                (WatchEvent.CHILDREN_CHANGED, '/p', True, False),
            ]
            assert [e.zxid for e in got] == [None, None]
            resync = (await events(recursive, 1))[0]
            assert (resync.type, resync.path, resync.resync, resync.catch_up) == (WatchEvent.NONE, '/r', True, False)
            assert await zk.get_data('/p') == b'c'
            # Nothing twice; the next change is live.
            await zk2.set_data('/p', 'd')
            live = (await events(watch, 1))[0]
            assert (live.type, live.catch_up, live.resync, live.new_session) == (WatchEvent.DATA_CHANGED, False, False, False)
            watch.close()
            recursive.close()
    finally:
        proxy.close()


async def test_tree_cache_resync_reads_only_what_changed(zk2, servers):
    proxy = Proxy(servers)
    address = await proxy.start()
    base = f'/tc-{uuid.uuid4().hex}'
    try:
        async with aiozk.ZKClient(address, chroot=zk2.chroot, session_timeout=10) as zk:
            await zk2.create(base)
            for i in range(50):
                await zk2.create(f'{base}/n{i}', 'x')
            cache = zk.recipes.TreeCache(base)
            await cache.start()
            assert len(cache.as_dict()) == 50
            proxy.stall()
            for i in range(5):
                await zk2.set_data(f'{base}/n{i}', 'changed')
            proxy.cut()
            for _ in range(300):
                last = cache.stats()['last_resync']
                if last is not None and cache.as_dict()['n4'] == b'changed':
                    break
                await asyncio.sleep(0.05)
            last = cache.stats()['last_resync']
            assert last is not None
            assert (last['known'], last['changed']) == (51, 5), last
            # A data read per changed node and one read of the root: no Stat read per node.
            assert last['data_reads'] + last['children_reads'] + last['stat_reads'] <= 6, last
            assert last['stat_reads'] <= 1, last
            await cache.stop()
    finally:
        proxy.close()
