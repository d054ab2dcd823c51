"""Recipes: the forms aiozk documents, loss signals, and the recipes aiozk's suite does not
cover (Lease, Party, Allocator, Semaphore, Queue)."""

from __future__ import annotations

import asyncio
import datetime

import pytest

from aiozk import exc
from aiozk.recipes.allocator import rendezvous


async def test_lock_forms(zk):
    lock = zk.recipes.Lock('/lock')
    async with await lock.acquire():
        assert lock.locked()
    assert not lock.locked()
    async with lock.acquire(timeout=5) as handle:
        assert lock.locked() and handle.lock is lock
    assert not lock.locked()
    async with lock:
        assert lock.locked()
    handle = await lock.acquire()
    await handle.release()
    assert not lock.locked()
    assert await zk.get_children('/lock') == []


async def test_lock_contention_and_timeout(zk):
    first = zk.recipes.Lock('/lock')
    second = zk.recipes.Lock('/lock')
    await first.acquire()
    with pytest.raises(exc.TimeoutError):
        await second.acquire(timeout=0.3)
    waiter = asyncio.ensure_future(second.acquire(timeout=5))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    await first.release()
    await waiter
    assert second.locked()
    await second.release()


async def test_lock_loss_is_signalled(zk, zk2):
    lock = zk.recipes.Lock('/lock')
    await lock.acquire()
    node = lock.owned['lock'].node
    await zk2.delete(zk2.denormalize_path(node))
    assert await asyncio.wait_for(lock.wait_lost(), 5) == 'node_deleted'
    assert not lock.locked()
    assert lock.lost_reason == 'node_deleted'
    await lock.release()


async def test_shared_lock_interop_layout(zk):
    shared = zk.recipes.SharedLock('/rw')
    async with shared.reader_lock:
        (name,) = await zk.get_children('/rw')
        label, guid, seq = name.rsplit('-', 2)
        assert label == 'read' and len(guid) == 32 and len(seq) == 10


async def test_election_loss(zk, zk2):
    election = zk.recipes.LeaderElection('/election')
    await election.volunteer()
    await election.wait_for_leadership(timeout=5)
    assert election.has_leadership and election.is_candidate
    (node,) = await zk.get_children('/election')
    lost = asyncio.ensure_future(election.wait_leadership_lost())
    await asyncio.sleep(0.1)
    await zk2.delete('/election/' + node)
    assert await asyncio.wait_for(lost, 5) == 'node_deleted'
    assert not election.has_leadership
    # A new candidacy after resigning works (aiozk reused a stale future here).
    await election.resign()
    await election.volunteer()
    await election.wait_for_leadership(timeout=5)
    assert election.has_leadership
    await election.resign()


async def test_semaphore(zk):
    sem = zk.recipes.Semaphore('/sem', 2)
    a = await sem.acquire()
    b = await zk.recipes.Semaphore('/sem', 2).acquire(timeout=5)
    with pytest.raises(exc.TimeoutError):
        await zk.recipes.Semaphore('/sem', 2).acquire(timeout=0.3)
    await a.release()
    c = await zk.recipes.Semaphore('/sem', 2).acquire(timeout=5)
    await b.release()
    await c.release()


async def test_lease(zk):
    lease = zk.recipes.Lease('/lease', limit=1)
    assert await lease.obtain(datetime.timedelta(seconds=0.5))
    assert not await zk.recipes.Lease('/lease', limit=1).obtain(datetime.timedelta(seconds=5))
    await asyncio.sleep(1)
    assert lease.lost_reason == 'lease_expired'
    other = zk.recipes.Lease('/lease', limit=1)
    assert await other.obtain(5)
    await other.release()
    assert await zk.get_children('/lease') == []


async def test_party(zk, zk2):
    a = zk.recipes.Party('/party', 'a')
    b = zk2.recipes.Party('/party', 'b')
    await a.join()
    change = asyncio.ensure_future(a.wait_for_change())
    await asyncio.sleep(0.1)
    await b.join()
    assert sorted(await asyncio.wait_for(change, 5)) == ['a', 'b']
    await b.leave()
    deadline = asyncio.get_running_loop().time() + 5
    while a.members != ['a']:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await a.leave()


async def test_counter_float_and_set(zk):
    counter = zk.recipes.Counter('/counter', default=1.5)
    await counter.start()
    assert counter.value == 1.5 and counter.numeric_type is float
    assert await counter.incr(1) == 2.5
    assert await counter.decr(0.5) == 2.0
    await counter.set_value(10.0)
    assert await counter.get_value() == 10.0
    assert await zk.get_data('/counter') == b'10.0'
    ints = zk.recipes.Counter('/ints')
    await ints.start()
    await ints.set_value(7)
    assert await ints.incr() == 8 and isinstance(ints.value, int)


async def test_allocator(zk, zk2):
    a = zk.recipes.Allocator('/alloc', 'a')
    b = zk2.recipes.Allocator('/alloc', 'b', allocator_fn=rendezvous)
    await a.start()
    await a.update(['1', '2', '3', '4'])
    await b.start()
    deadline = asyncio.get_running_loop().time() + 5
    while not (a.full_allocation.keys() == {'a', 'b'} and a.full_set == {'1', '2', '3', '4'}):
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    assert a.allocation | a.full_allocation['b'] == {'1', '2', '3', '4'}
    await a.stop()
    await b.stop()


async def test_allocator_with_a_python_function(zk):
    def everything_to_first(members, items):
        return {members[0]: set(items)}

    a = zk.recipes.Allocator('/alloc2', 'solo', allocator_fn=everything_to_first)
    await a.start()
    await a.add('x')
    deadline = asyncio.get_running_loop().time() + 5
    while a.allocation != {'x'}:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)
    await a.remove('x')
    await a.stop()


async def test_queue(zk):
    queue = zk.recipes.Queue('/queue')
    await queue.put('one')
    await queue.put(b'two')
    item = await queue.take(timeout=5)
    assert item.data == b'one'
    await item.complete()
    item = await queue.try_take()
    assert item.data == b'two'
    await item.release()
    again = await queue.take(timeout=5)
    assert again.data == b'two'
    await again.complete()
    assert await queue.try_take() is None
    assert await queue.size() == 0


async def test_watchers(zk):
    seen_data, seen_children = [], []
    data_watcher = zk.recipes.DataWatcher(wait_for_create=True)
    children_watcher = zk.recipes.ChildrenWatcher()
    data_watcher.add_callback('/watched', seen_data.append)
    await asyncio.sleep(0.2)
    await zk.create('/watched', 'v1')
    children_watcher.add_callback('/watched', seen_children.append)
    await asyncio.sleep(0.2)
    await zk.create('/watched/c')
    await zk.set_data('/watched', 'v2')
    await asyncio.sleep(0.5)
    assert seen_data == [exc.NoNode, b'v1', b'v2']
    assert seen_children == [[], ['c']]
    data_watcher.remove_callback('/watched', seen_data.append)
    children_watcher.remove_callback('/watched', seen_children.append)
    assert not data_watcher.loops and not children_watcher.loops


async def test_watchers_update_the_stat_cache(zk, zk2):
    # As in aiozk, whose watchers read through the client: after a watcher saw another
    # client's change, a delete without force sends the version it saw.
    await zk.create('/sc', b'v1')
    seen = asyncio.Queue()
    data_watcher = zk.recipes.DataWatcher()
    data_watcher.add_callback('/sc', seen.put_nowait)
    assert await asyncio.wait_for(seen.get(), 10) == b'v1'
    await zk2.set_data('/sc', b'v2')
    assert await asyncio.wait_for(seen.get(), 10) == b'v2'
    assert zk.stat_cache['/sc'].version == 1
    data_watcher.remove_callback('/sc', seen.put_nowait)
    await zk.delete('/sc')
    assert not await zk.exists('/sc')


async def test_watchers_and_tree_cache_tell_null_data_from_empty_data(zk):
    seen = []
    data_watcher = zk.recipes.DataWatcher()
    await zk.create('/nw')
    data_watcher.add_callback('/nw', seen.append)
    await asyncio.sleep(0.2)
    await zk.set_data('/nw', b'', force=True)
    await asyncio.sleep(0.2)
    await zk.set_data('/nw', None, force=True)
    await asyncio.sleep(0.3)
    assert seen == [None, b'', None]
    assert await data_watcher.fetch('/nw') is None
    data_watcher.remove_callback('/nw', seen.append)

    await zk.create('/nt')
    await zk.create('/nt/null')
    await zk.create('/nt/empty', b'')
    cache = zk.recipes.TreeCache('/nt')
    await cache.start()
    assert cache.as_dict() == {'null': None, 'empty': b''}
    assert cache.root.value is None and cache.root.empty.value == b''
    await cache.stop()


async def test_tree_cache(zk):
    await zk.create('/tree')
    await zk.create('/tree/a', 'A')
    cache = zk.recipes.TreeCache('/tree')
    await cache.start()
    assert cache.as_dict() == {'a': b'A'}
    await zk.create('/tree/b')
    await zk.create('/tree/b/c', 'C')
    await asyncio.sleep(0.3)
    assert cache.as_dict() == {'a': b'A', 'b': {'c': b'C'}}
    assert cache.root.b.c.value == b'C'
    assert cache.b.c.dot_path.endswith('tree.b.c')
    await cache.stop()


async def test_barriers(zk):
    barrier = zk.recipes.Barrier('/deep/barrier')
    await barrier.create()  # aiozk silently did nothing with missing parents
    assert await zk.exists('/deep/barrier')
    waiter = asyncio.ensure_future(barrier.wait(timeout=5))
    await asyncio.sleep(0.1)
    assert not waiter.done()
    await barrier.lift()
    await waiter
    with pytest.raises(exc.TimeoutError):
        await zk.recipes.DoubleBarrier('/double', 2).enter(timeout=0.3)


def test_unknown_recipe(zk):
    with pytest.raises(AttributeError, match='No such recipe'):
        zk.recipes.Nope  # noqa: B018
