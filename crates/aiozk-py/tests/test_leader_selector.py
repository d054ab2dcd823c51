"""LeaderSelector (Curator's LeaderSelector in Curator's layout): one leader at a time,
leadership relinquished when the callback returns, requeueing, participants, interruption
and loss, and the context form. Against Curator itself: ``test_interop.py``."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any, List

import pytest

from aiozk import exc
from aiozk.recipes import Participant

CURATOR_NODE = re.compile(r'_c_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-lock-[0-9]{10}')


async def test_one_leader_at_a_time_and_auto_requeue(zk, zk2):
    leading: List[str] = []
    turns: List[str] = []
    both = asyncio.Event()

    def leader(name: str) -> Any:
        async def lead(leadership: Any) -> None:
            assert leadership.is_held()
            leading.append(name)
            assert len(leading) == 1, f'two leaders: {leading}'
            await asyncio.sleep(0.02)
            turns.append(name)
            leading.remove(name)
            if len(turns) >= 10 and {'a', 'b'} <= set(turns):
                both.set()

        return lead

    a = zk.recipes.LeaderSelector('/sel', leader('a'), identifier='a', auto_requeue=True)
    b = zk2.recipes.LeaderSelector('/sel', leader('b'), identifier='b', auto_requeue=True)
    await a.start()
    await b.start()
    await asyncio.wait_for(both.wait(), 30)
    await a.close()
    await b.close()
    # Leadership passed back and forth: each requeued behind the other.
    assert sum(1 for x, y in zip(turns, turns[1:]) if x != y) >= 5, turns
    await no_nodes_left(zk)


async def children(zk: Any) -> List[str]:
    """The selection's nodes (none once the server reaped the empty container: Curator's
    layout makes the path a container)."""
    try:
        return await zk.get_children('/sel')
    except exc.NoNode:
        return []


async def no_nodes_left(zk: Any) -> None:
    """Waits until the selection's nodes are gone (a closed selector that was waiting in
    line deletes its node in the background)."""
    deadline = asyncio.get_running_loop().time() + 10
    while (left := await children(zk)) != []:
        assert asyncio.get_running_loop().time() < deadline, left
        await asyncio.sleep(0.02)


async def test_callback_return_relinquishes_and_requeue(zk, zk2):
    go = asyncio.Event()
    led = asyncio.Event()

    async def lead(leadership: Any) -> None:
        led.set()
        await go.wait()

    ours = zk.recipes.LeaderSelector('/sel', lead, identifier='ours')
    assert not ours.requeue(), 'requeue before start'
    await ours.start()
    with pytest.raises(RuntimeError):
        await ours.start()
    await asyncio.wait_for(led.wait(), 10)
    assert ours.has_leadership
    assert not ours.requeue(), 'requeue while leading'
    names = await zk.get_children('/sel')
    assert len(names) == 1 and CURATOR_NODE.fullmatch(names[0]), names
    data, _ = await zk.get(f'/sel/{names[0]}')
    assert data == b'ours'
    other = zk2.recipes.LeaderSelector('/sel', identifier='other')
    other_led, other_go = asyncio.Event(), asyncio.Event()

    async def other_leads() -> None:
        async with other.leadership(timeout=30) as theirs:
            assert theirs.is_held()
            other_led.set()
            await other_go.wait()

    waiting = asyncio.create_task(other_leads())
    await asyncio.sleep(0.3)
    assert await ours.participants() == [Participant('ours', True), Participant('other', False)]
    assert await other.leader() == Participant('ours', True)
    assert not other_led.is_set()
    # The callback returns: leadership goes to the other; without auto_requeue ours waits
    # to be queued again.
    led.clear()
    go.set()
    await asyncio.wait_for(other_led.wait(), 10)
    assert other.has_leadership and not ours.has_leadership
    go.clear()
    assert ours.requeue()
    assert not ours.requeue(), 'queued twice'
    await asyncio.sleep(0.3)
    assert not led.is_set(), 'led while the other did'
    assert [p.id for p in await ours.participants()] == ['other', 'ours']
    # The context form relinquishes on exit.
    other_go.set()
    await asyncio.wait_for(waiting, 10)
    await asyncio.wait_for(led.wait(), 10)
    go.set()
    await ours.close()
    assert await children(zk) == []


async def test_context_form(zk, zk2):
    ours = zk.recipes.LeaderSelector('/sel', identifier='ours')
    async with ours.leadership(timeout=10) as leadership:
        assert ours.has_leadership and leadership.is_held()
        other = zk2.recipes.LeaderSelector('/sel', identifier='other')
        with pytest.raises(exc.TimeoutError):
            async with other.leadership(timeout=0.3):
                pytest.fail('two leaders')
        node = leadership.node
        assert node.startswith('/sel/_c_')
        assert leadership.czxid > 0
    assert not ours.has_leadership
    async with other.leadership(timeout=10) as theirs:
        assert theirs.czxid > leadership.czxid
    with pytest.raises(RuntimeError):
        await zk.recipes.LeaderSelector('/sel2').start()  # no callback
    assert await children(zk) == []


async def test_interrupt_and_loss_cancel_the_callback(zk, zk2, caplog):
    cancelled: List[str] = []
    started = asyncio.Event()

    async def lead(leadership: Any) -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.append(leadership.lost_reason or 'interrupted')
            raise

    ours = zk.recipes.LeaderSelector('/sel', lead, identifier='ours', auto_requeue=True)
    await ours.start()
    await asyncio.wait_for(started.wait(), 10)
    started.clear()
    ours.interrupt_leadership()
    # Interrupted, the leadership ends; auto_requeue leads again.
    await asyncio.wait_for(started.wait(), 10)
    assert cancelled == ['interrupted']
    started.clear()
    # Someone deletes the lock node: the leadership is lost, the callback cancelled.
    with caplog.at_level(logging.WARNING, logger='aiozk.recipes.leader_selector'):
        names = await zk2.get_children('/sel')
        await zk2.delete(f'/sel/{names[0]}')
        await asyncio.wait_for(started.wait(), 10)
    assert cancelled[1] == 'node_deleted', cancelled
    assert any('lost' in r.getMessage() for r in caplog.records)
    await ours.close()
    assert len(cancelled) == 3  # close() cancelled the third
    assert await children(zk) == []


async def test_a_failing_callback_is_logged_and_requeued(zk, caplog):
    calls = 0
    twice = asyncio.Event()

    async def lead(leadership: Any) -> None:
        nonlocal calls
        calls += 1
        if calls >= 2:
            twice.set()
        raise ValueError('boom')

    with caplog.at_level(logging.WARNING, logger='aiozk.recipes.leader_selector'):
        ours = zk.recipes.LeaderSelector('/sel', lead, auto_requeue=True)
        await ours.start()
        await asyncio.wait_for(twice.wait(), 10)
        await ours.close()
    assert any('boom' in r.getMessage() for r in caplog.records)
    await no_nodes_left(zk)
