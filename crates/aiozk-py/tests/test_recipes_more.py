"""What the Rust recipes and builder offer beyond aiozk's API: TreeCache's change stream,
counters and watch modes, members' own nodes, protected creates, max_write_delay."""

from __future__ import annotations

import asyncio
import re

import pytest

import aiozk


async def wait_change(events, kind, path=None):
    """The value of the next change of ``kind`` (on ``path``), skipping others (a parent's
    Stat changes with its children)."""
    while True:
        k, value = await asyncio.wait_for(events.__anext__(), 10)
        if k == kind and (path is None or value == path):
            return value


@pytest.mark.parametrize('oneshot', [False, True])
async def test_tree_cache_events_stats_and_mode(zk, oneshot):
    await zk.ensure_path('/tree/a')
    await zk.set_data('/tree/a', 'one', force=True)
    tree = zk.recipes.TreeCache('/tree', force_oneshot_watches=oneshot)
    assert tree.mode is None and tree.snapshot() == {} and tree.stats() is None
    await tree.start()
    assert tree.mode == ('oneshot' if oneshot else 'persistent_recursive')
    snap = tree.snapshot()
    assert set(snap) == {'/tree', '/tree/a'} and snap['/tree/a'][0] == b'one'
    stats = tree.stats()
    assert stats['data_reads'] >= 2 and stats['reads'] == stats['data_reads'] + stats['children_reads'] + stats['stat_reads']
    events = tree.events()
    await zk.create('/tree/b', 'two')
    await wait_change(events, 'added', '/tree/b')
    await zk.set_data('/tree/a', 'three', force=True)
    await wait_change(events, 'updated', '/tree/a')
    await zk.delete('/tree/b')
    await wait_change(events, 'removed', '/tree/b')
    assert tree.snapshot()['/tree/a'][0] == b'three' and '/tree/b' not in tree.snapshot()
    assert tree.stats()['events'] >= (0 if oneshot else 3)
    # After a reconnect the cache compares itself with the server and says what it cost.
    if not oneshot:
        zk.reconnect()
        report = await wait_change(events, 'resynced')
        assert report['known'] == 2 and report['changed'] == 0 and report['took'] >= 0
        assert tree.stats()['resyncs'] >= 1 and tree.stats()['last_resync']['known'] == 2
    await tree.stop()
    assert tree.mode is None
    # The stream ends once the cache is gone.
    with pytest.raises(StopAsyncIteration):
        while True:
            await asyncio.wait_for(events.__anext__(), 10)


async def test_own_nodes_of_party_and_double_barrier(zk):
    party = zk.recipes.Party('/party', 'me')
    assert party.own_node is None
    await party.join()
    assert party.own_node.startswith('/party/me-') and await zk.exists(party.own_node)
    await party.leave()
    assert party.own_node is None

    barrier = zk.recipes.DoubleBarrier('/db', 1)
    assert barrier.own_node is None
    await barrier.enter(timeout=10)
    node = barrier.own_node
    assert node is not None and node.startswith('/db/') and await zk.exists(node)
    await barrier.leave(timeout=10)
    assert barrier.own_node is None


async def test_allocator_members(zk):
    a = zk.recipes.Allocator('/alloc', 'a')
    assert a.members == []
    await a.start()
    await a.update(['x', 'y'])
    for _ in range(100):
        if a.members == ['a'] and a.allocation == {'x', 'y'}:
            break
        await asyncio.sleep(0.05)
    assert a.members == ['a'] and a.allocation == {'x', 'y'}
    await a.stop()


async def test_protected_sequential_create(zk):
    await zk.create('/prot')
    path = await zk.create('/prot/job-', 'x', sequential=True, protected=True)
    assert re.fullmatch(r'/prot/_c_[0-9a-f]{32}-job-[0-9]{10}', path), path
    assert await zk.get_data(path) == b'x'


async def test_max_write_delay_reaches_the_builder(servers):
    with pytest.raises(ValueError, match='max_write_delay'):
        await aiozk.ZKClient(servers, max_write_delay=-1).start(timeout=10)
    async with aiozk.ZKClient(servers, max_write_delay=0) as zk:
        results = await asyncio.gather(*(zk.exists('/') for _ in range(100)))
        assert results == [True] * 100


async def test_coalesce_reads_can_be_turned_off(servers):
    for coalesce in (False, True):
        async with aiozk.ZKClient(servers, coalesce_reads=coalesce) as zk:
            before = zk.stats()
            results = await asyncio.gather(*(zk.get_data('/') for _ in range(300)))
            assert len(set(results)) == 1  # the root's data, 300 times
            await zk.sync('/')
            after = zk.stats()
            coalesced = after['coalesced_reads'] - before['coalesced_reads']
            assert (coalesced > 0) == coalesce, (coalesce, coalesced)
