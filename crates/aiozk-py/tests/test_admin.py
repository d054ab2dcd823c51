"""The Rust client's calls beyond aiozk's API: multi_read, get_ephemerals,
get_all_children_number, whoami, get_config, reconfig, last_zxid, with_retry, reconnect,
stats and the removal of persistent watches, against a real server."""

from __future__ import annotations

import asyncio
import uuid

import pytest

import aiozk
from aiozk import RetryPolicy, WatchEvent, exc
from aiozk.protocol.stat import Stat

from faults import Proxy

GET_DATA = 4  # the opcodes of getData and multiRead
MULTI_READ = 22


async def test_multi_read_gives_each_read_its_own_result(zk):
    await zk.create('/m', 'top')
    await zk.create('/m/a', b'')
    await zk.create('/m/b', 'bee')
    fut = zk.multi_read([('get_data', '/m'), ('get_children', '/m'), ('get_data', '/missing'), ('get_data', '/m/b')])
    # Queued when called, as every other call: a later write is not seen.
    write = zk.set_data('/m/b', 'later', force=True)
    results = await fut
    await write
    assert len(results) == 4
    data, stat = results[0]
    assert data == b'top' and isinstance(stat, Stat) and stat.num_children == 2
    assert sorted(results[1]) == ['a', 'b']
    assert isinstance(results[2], exc.NoNode)
    assert results[3][0] == b'bee'
    # The stat cache learned the versions read, so a cached write checks them.
    assert zk.stat_cache['/m'].version == 0
    assert await zk.multi_read([]) == []
    with pytest.raises(ValueError):
        zk.multi_read([('exists', '/m')])


async def test_get_ephemerals_lists_this_sessions_nodes_under_the_chroot(zk, zk2):
    await zk.ensure_path('/jobs/x')
    await zk.create('/jobs/lock-', ephemeral=True, sequential=True)
    await zk.create('/jobs/x/e', ephemeral=True)
    await zk.create('/jobs/persistent')
    await zk2.create('/jobs/theirs', ephemeral=True)
    mine = sorted(await zk.get_ephemerals())
    assert len(mine) == 2 and mine[1] == '/jobs/x/e' and mine[0].startswith('/jobs/lock-')
    assert await zk.get_ephemerals('/jobs/lock-') == [mine[0]]
    assert await zk.get_ephemerals('/jobs/x') == ['/jobs/x/e']
    assert await zk.get_ephemerals('/nothing') == []
    assert await zk2.get_ephemerals('/') == ['/jobs/theirs']
    with pytest.raises(ValueError):
        zk.get_ephemerals('jobs')


async def test_get_all_children_number_counts_every_descendant(zk):
    await zk.ensure_path('/tree/a/b/c')
    await zk.ensure_path('/tree/d')
    assert await zk.get_all_children_number('/tree') == 4
    assert await zk.get_all_children_number('/tree/d') == 0
    with pytest.raises(exc.NoNode):
        await zk.get_all_children_number('/missing')


async def test_whoami_names_the_connections_identities(servers):
    async with aiozk.ZKClient(servers) as anon:
        assert ('ip', '127.0.0.1') in await anon.whoami()
    async with aiozk.ZKClient(servers, auth=[('digest', 'dora:pw')]) as dora:
        assert ('digest', 'dora') in await dora.whoami()
        await dora.add_auth('digest', 'eve:pw')
        ids = await dora.whoami()
        assert ('digest', 'dora') in ids and ('digest', 'eve') in ids


async def test_get_config_reads_the_configuration_node_outside_the_chroot(zk, servers):
    data, stat = await zk.get_config()
    assert isinstance(data, bytes) and isinstance(stat, Stat)
    async with aiozk.ZKClient(servers) as raw:
        assert (data, stat) == await raw.get('/zookeeper/config')
    seen = []
    zk.session.add_watch_callback(WatchEvent.DATA_CHANGED, '/zookeeper/config', seen.append)
    before = zk.stats()['live_watches']
    assert (await zk.get_config(watch=True))[1] == stat
    await zk.sync('/')  # the counters include the watch the read set
    assert zk.stats()['live_watches'] == before + 1


async def test_reconfig_on_a_standalone_server_fails_cleanly(zk):
    # reconfigEnabled is off (and a standalone server cannot change its membership).
    with pytest.raises((exc.ReconfigDisabled, exc.Unimplemented)):
        await zk.reconfig(joining=['server.9=127.0.0.1:2888:3888;2181'])
    with pytest.raises((exc.ReconfigDisabled, exc.Unimplemented)):
        await zk.reconfig(new_members='server.1=127.0.0.1:2888:3888;2181', from_config=5)
    assert await zk.exists('/')  # the session is unharmed


async def test_last_zxid_follows_the_replies(zk):
    before = zk.last_zxid
    assert isinstance(before, int) and before > 0
    await zk.create('/z')
    after_create = zk.last_zxid
    assert after_create > before
    assert (await zk.stat('/z')).created_zxid == after_create
    assert aiozk.ZKClient('127.0.0.1:1').last_zxid is None


async def test_with_retry_is_a_view_of_the_same_session(servers):
    proxy = Proxy(servers)
    try:
        async with aiozk.ZKClient(proxy.address, session_timeout=10) as zk:
            once = zk.with_retry(RetryPolicy.once())
            assert once.session_id == zk.session_id and once.retry_policy is not zk.retry_policy
            path = f'/retry-{uuid.uuid4().hex}'
            await once.create(path, 'v')
            assert await zk.get_data(path) == b'v'
            # One stat cache: a cached write through the view checks the version zk saw.
            zk.stat_cache[path] = Stat(version=7)
            with pytest.raises(exc.BadVersion):
                await once.set_data(path, 'stale')
            # Reads in flight when the connection drops: the view's policy makes one
            # attempt (ConnectionLoss); zk's default policy retries after the reconnect.
            proxy.stall()

            def reads_sent() -> int:
                # Two reads in a row may go out as one MultiRead (read coalescing).
                return proxy.received(GET_DATA) + 2 * proxy.received(MULTI_READ)

            sent = reads_sent()
            failed = once.get_data(path)
            retried = zk.get_data(path)
            # Both reads have left the client (a request still queued when the connection
            # drops is sent on the next one instead of failing).
            for _ in range(400):
                if reads_sent() >= sent + 2:
                    break
                await asyncio.sleep(0.025)
            assert reads_sent() == sent + 2
            proxy.cut()
            proxy.resume()
            with pytest.raises(exc.ConnectionLoss):
                await asyncio.wait_for(failed, 20)
            assert await asyncio.wait_for(retried, 20) == b'v'
            await zk.delete(path)
    finally:
        proxy.close()


async def test_reconnect_keeps_the_session_and_counts_in_stats(zk):
    before = zk.stats()
    session = zk.session_id
    changes = zk.state_changes()
    zk.reconnect()
    seen = []

    async def until_connected_again() -> None:
        async for change in changes:
            seen.append(change.state)
            if change.state == 'connected':
                return

    await asyncio.wait_for(until_connected_again(), 20)
    assert seen[0] in ('disconnected', 'connecting'), seen
    # The counters are published with the state; allow the driver a moment to do so.
    for _ in range(100):
        if zk.stats()['reconnects'] > before['reconnects']:
            break
        await asyncio.sleep(0.05)
    after = zk.stats()
    assert zk.session_id == session
    assert after['reconnects'] == before['reconnects'] + 1
    assert after['disconnects'] == before['disconnects'] + 1
    assert after['sessions'] == before['sessions'] == 1


async def test_stats_count_requests_errors_and_notifications(zk):
    keys = set(aiozk.ClientStats.__annotations__)
    # The counters are published after each reply is handed over: one more round trip
    # makes those of the calls before it current.
    await zk.sync('/')
    s0 = zk.stats()
    assert set(s0) == keys and all(isinstance(v, int) for v in s0.values())
    await zk.create('/s')
    with pytest.raises(exc.NoNode):
        await zk.get('/missing')
    fired = zk.wait_for_events([WatchEvent.DATA_CHANGED], '/s')
    await zk.exists('/s', watch=True)
    await zk.sync('/s')
    s1 = zk.stats()
    assert s1['live_watches'] == s0['live_watches'] + 1
    await zk.set_data('/s', 'x', force=True)
    await asyncio.wait_for(fired, 10)
    await zk.sync('/s')
    s2 = zk.stats()
    assert s2['requests'] >= s0['requests'] + 6
    assert s2['errors'] == s0['errors'] + 1
    assert s2['notifications'] == s0['notifications'] + 1
    assert s2['live_watches'] == s0['live_watches']
    assert s2['writes'] > s0['writes']
    with pytest.raises(exc.ClientClosed):
        aiozk.ZKClient('127.0.0.1:1').stats()


async def test_removing_a_persistent_watch_stops_its_events_at_the_server(zk):
    await zk.create('/p', 'v')
    watch = await zk.add_watch('/p')
    await zk.set_data('/p', 'a', force=True)
    event = await asyncio.wait_for(watch.__anext__(), 10)
    assert (event.type, event.path) == (WatchEvent.DATA_CHANGED, '/p')
    # An iteration in progress ends when the watch is removed.
    pending = asyncio.ensure_future(watch.__anext__())
    await zk.sync('/p')  # the counters include that notification now
    before = zk.stats()['notifications']
    await watch.remove()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(pending, 10)
    # The server no longer has the watch: a change sends this session no notification.
    await zk.set_data('/p', 'b', force=True)
    await zk.sync('/p')
    assert zk.stats()['notifications'] == before
    await watch.remove()  # again: nothing to do
    with pytest.raises(StopAsyncIteration):
        await watch.__anext__()


async def test_last_heard_connect_failure_and_call_timeout_views(zk, servers):
    await zk.exists('/')
    assert 0 <= zk.last_heard < 10
    assert zk.connect_failure is None
    bounded = zk.with_call_timeout(5)
    assert bounded.session_id == zk.session_id
    await bounded.create('/bounded', 'x')
    assert await zk.get_data('/bounded') == b'x'
    # With every server refusing, a call waiting for the first connection fails eagerly
    # (after two rounds of refusals) instead of waiting for start()'s timeout.
    eager = aiozk.ZKClient('127.0.0.1:1', fail_eagerly=True)
    starting = asyncio.ensure_future(eager.start(timeout=60))
    while eager._core is None:
        await asyncio.sleep(0)
    core = eager._core
    try:
        with pytest.raises(exc.NoServersError):
            await asyncio.wait_for(eager.exists('/'), 20)
        assert isinstance(core.connect_failure, exc.ZKError), core.connect_failure
    finally:
        starting.cancel()
        await asyncio.gather(starting, return_exceptions=True)
        await eager.close()
