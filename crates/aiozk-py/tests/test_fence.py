"""Fenced writes of the ownership recipes: applied only while the lock, permit, lease or
leadership is held at the server."""

from __future__ import annotations

import asyncio

import pytest

from aiozk import exc
from aiozk.protocol.stat import Stat
from aiozk.recipes import Fence


async def test_lock_fence_writes_while_held(zk):
    await zk.create('/data', 'v0')
    lock = zk.recipes.Lock('/locks/a')
    handle = await lock.acquire(timeout=10)
    fence = handle.fence()
    assert isinstance(fence, Fence) and fence.lost_reason is None
    # Paths are chroot-relative both ways.
    assert fence.node.startswith('/locks/a/lock-')
    assert await zk.exists(fence.node)
    assert await fence.create('/data/child', 'c') == '/data/child'
    seq = await fence.create('/data/s-', sequential=True, ephemeral=True)
    assert seq.startswith('/data/s-') and len(seq) == len('/data/s-') + 10
    stat = await fence.set_data('/data', 'v1')
    assert isinstance(stat, Stat) and stat.version == 1
    assert zk.stat_cache['/data'].version == 1
    await fence.set_data('/data', 'v2', version=1)
    # The write's own failure is reported as itself, not as a failed fence.
    with pytest.raises(exc.BadVersion):
        await fence.set_data('/data', 'v3', version=0)
    with pytest.raises(exc.NodeExists):
        await fence.create('/data/child')
    await fence.delete('/data/child')
    assert not await zk.exists('/data/child')

    t = fence.transaction()
    t.create('/data/t1', 'x')
    t.set_data('/data', 'v4')
    result = await t.commit()
    assert result and result.created == {'/data/t1'} and result.updated == {'/data'}
    assert result.checked == {fence.node}
    assert [r[0] for r in result.results] == ['checked', 'created', 'updated']
    assert result.created_paths == ['/data/t1']
    assert await zk.get_data('/data') == b'v4'
    await lock.release()


async def test_a_fenced_write_fails_once_the_ownership_node_is_gone(zk, zk2):
    await zk.create('/data', 'v0')
    lock = zk.recipes.Lock('/locks/b')
    await lock.acquire(timeout=10)
    fence = lock.fence()
    # Another client deletes the lock node: the holder no longer owns anything at the
    # server, whatever it believes; the fenced write must not be applied.
    await zk2.delete(fence.node)
    with pytest.raises(exc.TransactionFailed) as info:
        await fence.set_data('/data', 'late')
    assert info.value.index == 0 and isinstance(info.value.error, exc.NoNode)
    assert await zk.get_data('/data') == b'v0'
    t = fence.transaction()
    t.create('/data/never')
    result = await t.commit()
    assert not result and result.error is not None and result.error.index == 0
    assert not await zk.exists('/data/never')
    assert await asyncio.wait_for(lock.wait_lost(), 10) == 'node_deleted'
    assert fence.lost_reason == 'node_deleted'
    await lock.release()
    with pytest.raises(RuntimeError):
        lock.fence()


async def test_a_fence_taken_before_a_release_fails_after_it(zk):
    await zk.create('/data', 'v0')
    lock = zk.recipes.Lock('/locks/c')
    await lock.acquire(timeout=10)
    fence = lock.fence()
    await lock.release()
    assert fence.lost_reason == 'released'
    with pytest.raises(exc.TransactionFailed) as info:
        await fence.delete('/data')
    assert info.value.index == 0
    assert await zk.exists('/data')


async def test_permit_lease_and_leadership_fences(zk):
    await zk.create('/data', '0')
    sem = zk.recipes.Semaphore('/sem', 2)
    permit = await sem.acquire(timeout=10)
    assert permit.is_held() and permit.lost_reason is None
    assert (await permit.fence().set_data('/data', '1')).version == 1
    await permit.release()
    assert permit.lost_reason == 'released' and not permit.is_held()

    lease = zk.recipes.Lease('/lease', limit=1)
    with pytest.raises(RuntimeError):
        lease.fence()
    assert lease.expires_in is None
    assert await lease.obtain(30)
    assert 20 < lease.expires_in <= 30
    assert (await lease.fence().set_data('/data', '2')).version == 2
    await lease.release()
    assert lease.expires_in is None

    election = zk.recipes.LeaderElection('/election')
    with pytest.raises(RuntimeError):
        election.fence()
    await election.volunteer()
    await election.wait_for_leadership(timeout=10)
    fence = election.fence()
    assert fence.node.startswith('/election/candidate-')
    assert (await fence.set_data('/data', '3')).version == 3
    await election.resign()
    with pytest.raises(exc.TransactionFailed):
        await fence.set_data('/data', '4')
    assert await zk.get_data('/data') == b'3'


async def test_ownership_nodes_name_their_czxid(zk):
    sem = zk.recipes.Semaphore('/czxid-sem', 1)
    permit = await sem.acquire(timeout=10)
    assert permit.czxid == (await zk.stat(zk.denormalize_path(permit.node))).created_zxid
    await permit.release()
