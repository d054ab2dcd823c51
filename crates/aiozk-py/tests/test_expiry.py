"""Session expiry, forced by closing the session from a second client that resumed it."""

from __future__ import annotations

import asyncio
import uuid

import aiozk
from aiozk import WatchEvent
from aiozk.states import States


async def expire(client: aiozk.ZKClient, servers: str) -> None:
    thief = aiozk.ZKClient(servers, resume_session=(client.session_id, client.session.password))
    await thief.start(timeout=10)
    await thief.close()


async def test_expiry_states_watches_and_locks(servers):
    name = f'/expiry-{uuid.uuid4().hex}'
    async with aiozk.ZKClient(servers, session_timeout=4) as zk, aiozk.ZKClient(servers) as other:
        await other.create(name)
        node = await zk.create(name + '/eph', ephemeral=True)
        gone = zk.wait_for_events([WatchEvent.DELETED], node)
        assert await zk.exists(node, watch=True)
        lock = zk.recipes.Lock(name + '/lock')
        await lock.acquire()
        lost = zk.session.state.wait_for(States.LOST)
        old_session = zk.session_id
        await expire(zk, servers)
        await asyncio.wait_for(lost, 20)
        await asyncio.wait_for(zk.session.state.wait_for(States.CONNECTED), 20)
        assert zk.session_id != old_session
        # The ephemeral node went with the old session; the waiter is told.
        await asyncio.wait_for(gone, 10)
        # Whichever the recipe learns first: the expiry, the connection loss before it, or
        # the deletion of its node (the server may report that on the old connection while
        # it closes the session).
        reason = await asyncio.wait_for(lock.wait_lost(), 10)
        assert reason in ('session_expired', 'suspended', 'node_deleted'), reason
        assert not lock.locked()
        await lock.release()
        await zk.create(name + '/again')  # the new session works
        await other.deleteall(name)


async def test_no_reconnect_after_expiry(servers):
    async with aiozk.ZKClient(servers, session_timeout=4, reconnect_after_expiry=False) as zk:
        await expire(zk, servers)
        for _ in range(100):
            if zk.state == 'expired':
                break
            await asyncio.sleep(0.1)
        assert zk.state == 'expired'
        try:
            await zk.exists('/')
        except aiozk.exc.SessionExpired:
            pass
        else:
            raise AssertionError('a call on an expired session succeeded')


async def test_start_again_after_expiry_without_reconnect(servers):
    zk = aiozk.ZKClient(servers, session_timeout=4, reconnect_after_expiry=False)
    await zk.start()
    old = zk.session_id
    await expire(zk, servers)
    for _ in range(100):
        if zk.state == 'expired':
            break
        await asyncio.sleep(0.1)
    await zk.start(timeout=10)
    assert zk.session_id != old and await zk.exists('/')
    await zk.close()


async def test_concurrent_starts_share_one_session(servers):
    zk = aiozk.ZKClient(servers)
    await asyncio.gather(zk.start(), zk.start(), zk.start())
    assert zk.stats()['sessions'] == 1
    await zk.close()
