"""Resource hygiene under stress: cancelled requests, close() with requests in flight, and
hundreds of clients opened and closed in one process leave no task, no file descriptor, no
client object and no memory behind, and raise nothing but the documented exceptions.

"Back to the starting level" for memory: the process's RSS at the end is within
``RSS_SLACK`` of the level measured after a warm-up, and repeating a phase's work adds less
than ``RSS_REPEAT`` (the second half of each phase against its first). The allocators keep
freed memory for reuse (glibc keeps an arena per tokio worker thread, Python keeps its
object pools), so the first bursts raise RSS by a megabyte or two that later bursts reuse
(measured here: +1.5 to +3 MiB, then flat over 30 bursts, with a megabyte or two of
noise, more after the rest of the suite ran in the same process); a leak grows with the
work instead: the 20,000 calls of the second half of the bursts, keeping 320 bytes each,
would exceed ``RSS_REPEAT``. A leaked client is too small to see in RSS; it is caught exactly: file
descriptors must return to their count, and every closed client object must be garbage.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import time
import uuid
import weakref
from typing import Any, Dict, List

import pytest

import aiozk
from aiozk import _aiozk, exc

from faults import Proxy

MIB = 1 << 20
RSS_SLACK = 12 * MIB
RSS_REPEAT = 6 * MIB

#: What a call in flight may end with when its client is closed (ZKClient.close's docs).
CLOSE_OUTCOMES = (exc.ClientClosed, exc.ConnectionLoss)


def rss() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def fds() -> int:
    return len(os.listdir('/proc/self/fd'))


def kinds(results: List[Any]) -> Dict[str, int]:
    out: Dict[str, int] = {}
    for r in results:
        out[type(r).__name__] = out.get(type(r).__name__, 0) + 1
    return out


async def burst(zk: aiozk.ZKClient, proxy: Proxy, path: str, n: int = 2000) -> None:
    """``n`` concurrent calls (reads and writes), every other one cancelled while in flight
    (``zk`` connects through ``proxy``, which holds the replies back meanwhile); the others
    must succeed."""
    proxy.stall()
    calls = []
    for i in range(n):
        if i % 4 == 0:
            calls.append(zk.set_data(path, b'v', force=True))
        elif i % 4 == 1:
            calls.append(zk.exists(path))
        else:
            calls.append(zk.get_data(path))
    tasks = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0)
    cancelled = {i for i in range(0, n, 2) if tasks[i].cancel()}
    proxy.resume()
    assert len(cancelled) == n // 2
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
    for i, r in enumerate(results):
        if i in cancelled:
            assert isinstance(r, asyncio.CancelledError), (i, r)
        else:
            assert not isinstance(r, BaseException), (i, r)
    assert _aiozk.waiting_requests() == 0


async def close_in_flight(zk: aiozk.ZKClient, path: str, n: int = 500) -> Dict[str, int]:
    calls = [zk.get_data(path) if i % 2 else zk.create(f'{path}/c-', sequential=True) for i in range(n)]
    tasks = [asyncio.ensure_future(c) for c in calls]
    await asyncio.sleep(0)
    await asyncio.wait_for(zk.close(), 30)
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 30)
    for r in results:
        assert not isinstance(r, BaseException) or isinstance(r, CLOSE_OUTCOMES), repr(r)
    try:
        await zk.get_data(path)
    except exc.ClientClosed:
        pass
    else:
        raise AssertionError('a call after close() succeeded')
    return kinds(results)


async def cycle(servers: str, base: str, refs: List[Any]) -> None:
    async with aiozk.ZKClient(servers, session_timeout=6) as zk:
        refs.append(weakref.ref(zk))
        await zk.exists(base, watch=True)
        await zk.add_watch(base)  # left open: it ends with the client
        watcher = zk.recipes.DataWatcher()
        seen = asyncio.get_running_loop().create_future()
        watcher.add_callback(base, lambda d: seen.done() or seen.set_result(d))
        await asyncio.wait_for(seen, 10)


@pytest.mark.timeout(600)
async def test_stress_leaves_nothing_behind(servers):
    loop = asyncio.get_running_loop()
    problems: List[Any] = []
    loop.set_exception_handler(lambda _, context: problems.append(context))
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: problems.append(u)
    proxy = Proxy(servers)
    base = f'/hygiene-{uuid.uuid4().hex}'
    figures: Dict[str, Any] = {}
    try:
        # Warm-up: the shared runtime's threads, the loop's result queue, the allocators.
        async with aiozk.ZKClient(proxy.address) as zk:
            await zk.create(base, b'v')
            await burst(zk, proxy, base)
        await cycle(servers, base, [])
        gc.collect()
        fd0, rss0 = fds(), rss()

        # 2,000 concurrent requests, half of them cancelled, twenty times.
        async with aiozk.ZKClient(proxy.address) as zk:
            for round_ in range(20):
                await burst(zk, proxy, base)
                if round_ == 9:
                    gc.collect()
                    rss_half = rss()
            assert await zk.get_data(base) == b'v'  # the client is still sound
        gc.collect()
        figures['bursts'] = (rss_half - rss0, rss() - rss_half)
        assert rss() - rss_half < RSS_REPEAT, figures

        # close() with 500 requests in flight: to a server that answers, and to one that
        # has stopped answering (close then waits until the connection is declared dead).
        zk = aiozk.ZKClient(servers)
        await zk.start(timeout=30)
        figures['close'] = await close_in_flight(zk, base)
        zk = aiozk.ZKClient(proxy.address, session_timeout=6)
        await zk.start(timeout=30)
        proxy.stall()
        started = time.monotonic()
        figures['close_stalled'] = await close_in_flight(zk, base)
        figures['close_stalled_s'] = round(time.monotonic() - started, 1)
        proxy.resume()
        assert figures['close_stalled'] == {'ClientClosed': 500}, figures

        # 300 clients opened and closed, each with watches and a recipe.
        refs: List[Any] = []
        for i in range(300):
            await cycle(servers, base, refs)
            if i == 149:
                gc.collect()
                rss_150 = rss()
        # Nothing left running (a recipe's task ends just after its client closed), no
        # client object left, no descriptor left open, memory back.
        assert _aiozk.waiting_requests() == 0
        for _ in range(200):
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            if not others:
                break
            await asyncio.sleep(0.05)
        assert others == [], others
        # A Rust task that ends without the GIL hands its references to Python objects (a
        # watch callback, bound to the client's session) back at the next call into the
        # extension; a leaked reference would never be given back.
        for _ in range(200):
            _aiozk.delivery_stats()
            gc.collect()
            if all(r() is None for r in refs):
                break
            await asyncio.sleep(0.05)
        assert [r for r in refs if r() is not None] == [], 'closed clients are still referenced'
        figures['cycles'] = (rss_150 - rss0, rss() - rss_150)
        assert rss() - rss_150 < RSS_REPEAT, figures
        for _ in range(200):
            if fds() <= fd0:
                break
            await asyncio.sleep(0.05)
        figures['fds'] = (fd0, fds())
        figures['rss_mib'] = (round(rss0 / MIB, 1), round(rss() / MIB, 1))
        print('hygiene:', figures)
        assert fds() == fd0, figures
        assert rss() - rss0 < RSS_SLACK, figures
        assert problems == [], problems
    finally:
        sys.unraisablehook = old_hook
        loop.set_exception_handler(None)
        proxy.close()
        async with aiozk.ZKClient(servers) as zk:
            await zk.deleteall(base)
