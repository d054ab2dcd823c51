"""Failures a program can trust: replies over the frame limit, bounded calls against a
frozen server, servers that send garbage, and lock checks after the holder was paused."""

from __future__ import annotations

import asyncio

import pytest

import aiozk
from aiozk import exc


async def test_max_frame_reads_replies_over_the_default_limit(zk, servers):
    names = ['a' * 600_000, 'b' * 600_000]
    await zk.create('/big')
    for name in names:
        await zk.create('/big/' + name)
    with pytest.raises(exc.ProtocolError) as failed:
        await zk.get_children('/big')
    message = str(failed.value)
    assert 'max_frame=' in message and 'ClientBuilder' not in message, message
    assert failed.value.limit == 1024 * 1024 - 1 and failed.value.size > 1_200_000
    async with aiozk.ZKClient(servers, chroot=zk.chroot, max_frame=4 << 20) as big:
        assert sorted(await big.get_children('/big')) == names
        await big.deleteall('/big')
