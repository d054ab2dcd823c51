"""The intent of aiozk's ``test_multi_watcher``: 1,000 data watchers all fire again after
the session was lost. aiozk forces the loss by blocking the event loop, which does not
expire a session here (it keeps pinging from its own threads); this test lets the server
expire it for real: the client is cut off by a proxy until the server has expired the
session (its ephemeral node is gone), every node changes meanwhile, and then the client is
let back in."""

from __future__ import annotations

import asyncio
import uuid
from typing import Dict, List

import pytest

import aiozk
from aiozk import WatchEvent
from aiozk.states import States

from faults import Proxy

WATCHERS = 1000


@pytest.mark.timeout(600)
async def test_a_thousand_data_watchers_fire_again_after_a_real_session_expiry(servers):
    base = f'/multi-watcher-{uuid.uuid4().hex}'
    paths = [f'{base}/n{i}' for i in range(WATCHERS)]
    proxy = Proxy(servers)
    writer = aiozk.ZKClient(servers)
    zk = aiozk.ZKClient(proxy.address, session_timeout=4)
    await writer.start(timeout=30)
    await zk.start(timeout=30)
    try:
        await writer.create(base)
        await asyncio.gather(*(writer.create(p, f'old-{i}') for i, p in enumerate(paths)))
        marker = await zk.create(base + '/marker', ephemeral=True)

        seen: Dict[str, List[object]] = {p: [] for p in paths}
        progress = {'target': 1, 'left': WATCHERS}
        reached = asyncio.Event()

        def callback(path: str):
            def on_data(data: object) -> None:
                seen[path].append(data)
                if len(seen[path]) == progress['target']:
                    progress['left'] -= 1
                    if progress['left'] == 0:
                        reached.set()

            return on_data

        async def all_seen(target: int) -> None:
            await asyncio.wait_for(reached.wait(), 120)
            reached.clear()
            progress['target'], progress['left'] = target + 1, WATCHERS

        watcher = zk.recipes.DataWatcher()
        watcher.set_client(zk)
        for p in paths:
            watcher.add_callback(p, callback(p))
        await all_seen(1)
        assert all(seen[p] == [f'old-{i}'.encode()] for i, p in enumerate(paths))

        old_session = zk.session_id
        new_sessions = []
        zk._c().on_state(lambda s: new_sessions.append(s) if s == 'new_session' else None)
        lost = zk.session.state.wait_for(States.LOST)
        proxy.refuse()
        # The server expires the session once its timeout has passed without a ping: the
        # session's ephemeral node goes.
        gone = writer.wait_for_events([WatchEvent.DELETED], marker)
        if await writer.exists(marker, watch=True):
            await asyncio.wait_for(gone, 60)
        await asyncio.wait_for(lost, 60)
        # Every node changes while the client cannot see it.
        await asyncio.gather(*(writer.set_data(p, f'new-{i}', force=True) for i, p in enumerate(paths)))
        proxy.resume()

        # Each watcher reports the new data once, on the new session.
        await all_seen(2)
        assert zk.session_id != old_session and new_sessions
        assert all(seen[p][1] == f'new-{i}'.encode() for i, p in enumerate(paths))
        assert not await writer.exists(marker)

        # And the watches are set on the new session: one more change each.
        await asyncio.gather(*(writer.set_data(p, f'third-{i}', force=True) for i, p in enumerate(paths)))
        await all_seen(3)
        for i, p in enumerate(paths):
            assert seen[p] == [f'old-{i}'.encode(), f'new-{i}'.encode(), f'third-{i}'.encode()]
        for p in paths:
            for cb in list(watcher.callbacks[p]):
                watcher.remove_callback(p, cb)
    finally:
        proxy.resume()
        await zk.close()
        try:
            await writer.deleteall(base)
        finally:
            await writer.close()
            proxy.close()
