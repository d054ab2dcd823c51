"""Mixed contention in a foreign layout: this package's Lock, the Rust ``zk lock`` and the
foreign library's lock (in a process of its own) on one path, under random connection cuts
of this package's and zk's connections. Once with kazoo 2.11.0's ``Lock`` in kazoo's layout,
once with Curator 5.9.0's ``InterProcessMutex`` in Curator's.

kazoo is installed from PyPI into this venv when missing, and the test kit's
``foreign/kazoo_peer.py`` drives it; Curator runs as ``zk-testkit peer curator`` (fetched
with Maven and compiled on first use). The tests fail, saying why, when that is impossible.
``zk`` is ``ZK_CLI`` and ``zk-testkit`` is ``ZK_TESTKIT``, else both are built with cargo.

Every holder follows the exclusive marker protocol of ``interop.py`` (and of the test kit's
peers): create ``DIR/holder`` exclusively (finding it there is an overlap), add one to
``DIR/counter`` (the shared fencing counter: a lost update would show two holders), append
a line to ``DIR/log``, wait a few milliseconds, delete the marker, release. The other
recipes' mixed contention tests are in ``test_interop_contention.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, List, Tuple

import pytest

import aiozk
from aiozk import exc
from interop import (FOREIGN, PEER, SH_EXCLUSIVE, CuttingProxy, Peer, built, ensure_kazoo, exclusive_hold,
                     peer_command)

#: Acquisitions by each kind of contender.
PY_TASKS, PY_RUNS = 2, 170
ZK_LOOPS, ZK_RUNS = 2, 110
PEER_RUNS = 440


# About 35 s each on a loaded 2-core machine; the limits leave room for a slower one.
@pytest.mark.timeout(300)
async def test_mixed_contention_with_kazoo_under_connection_cuts(servers: str) -> None:
    ensure_kazoo()
    await mixed(servers, 'kazoo', [sys.executable, str(PEER), servers, '10'])


@pytest.mark.timeout(900)  # the first run may fetch Curator with Maven
async def test_mixed_contention_with_curator_under_connection_cuts(servers: str) -> None:
    testkit = built('ZK_TESTKIT', 'aiozk-testkit', 'zk-testkit')
    await mixed(servers, 'curator', [testkit, 'peer', 'curator', servers, '10'])


async def mixed(servers: str, layout: str, peer_command: List[str]) -> None:
    foreign = FOREIGN[layout]
    zk_binary = built('ZK_CLI', 'aiozk-cli', 'zk')
    path = f'/interop-{uuid.uuid4().hex}'
    directory = tempfile.mkdtemp(prefix='aiozk-interop-')
    proxy = CuttingProxy(servers)
    through = await proxy.start()
    done = asyncio.Event()
    failures: List[str] = []

    async def cutter() -> None:
        while not done.is_set():
            await asyncio.sleep(random.uniform(0.15, 0.6))
            proxy.cut()

    async def python_contender(n: int) -> int:
        client = aiozk.ZKClient(through, session_timeout=4)
        await client.start(timeout=30)
        clients.append(client)
        lock = client.recipes.Lock(path, layout=layout, identifier='aiozk-py' if layout == 'kazoo' else None)
        held = 0
        while held < PY_RUNS:
            try:
                await lock.acquire(timeout=30)
            except (exc.TimeoutError, exc.ZKError) as e:
                failures.append(f'python {n}: acquire: {e!r}')
                continue
            try:
                # Hold only while the lock is ours as far as we can tell (it may have been
                # lost to a long cut meanwhile).
                if lock.locked():
                    await exclusive_hold(directory, 'python')
                    held += 1
            finally:
                try:
                    await lock.release()
                except exc.ZKError as e:
                    failures.append(f'python {n}: release: {e!r}')
        return held

    async def zk_contender() -> int:
        held = 0
        env = dict(os.environ, ZK_SERVERS=through, D=directory)
        env.pop('ZK_AUTH', None)
        while held < ZK_RUNS:
            proc = await asyncio.create_subprocess_exec(
                zk_binary, '--session-timeout', '4', 'lock', '--layout', layout, '--wait', '30', path, '--',
                'sh', '-c', SH_EXCLUSIVE, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            _, err = await proc.communicate()
            if proc.returncode == 0:
                held += 1
            else:
                failures.append(f'zk lock: {proc.returncode}: {err.decode().strip()[:200]}')
        return held

    clients: List[Any] = []
    peer = await asyncio.create_subprocess_exec(*peer_command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert peer.stdin is not None and peer.stdout is not None
    started = time.monotonic()
    try:
        # The first Curator run fetches and compiles it.
        ready = (await asyncio.wait_for(peer.stdout.readline(), 600)).decode().strip()
        assert ready == 'ready', f'the {foreign} peer did not start: {ready!r}'
        peer.stdin.write(f'contend {path} {PEER_RUNS} {directory}\n'.encode())
        await peer.stdin.drain()
        cutting = asyncio.create_task(cutter())
        counts = await asyncio.wait_for(asyncio.gather(
            *[python_contender(i) for i in range(PY_TASKS)],
            *[zk_contender() for _ in range(ZK_LOOPS)],
        ), 240)
        answer = (await asyncio.wait_for(peer.stdout.readline(), 240)).decode().strip()
        done.set()
        await cutting
        assert answer == f'contended {PEER_RUNS} 0', answer
        # Every node is gone while our sessions are still alive.
        admin = aiozk.ZKClient(servers, session_timeout=10)
        await admin.start(timeout=30)
        try:
            left = await admin.get_children(path)
        except exc.NoNode:
            left = []  # Curator's layout: the empty container was reaped already
        finally:
            await admin.close()
        with open(os.path.join(directory, 'log')) as f:
            log = f.read().split()
        overlaps = []
        if os.path.exists(os.path.join(directory, 'overlaps')):
            with open(os.path.join(directory, 'overlaps')) as f:
                overlaps = f.read().split()
        with open(os.path.join(directory, 'counter')) as f:
            counter = int(f.read())
        by = {who: log.count(who) for who in ('python', 'zk', layout)}
        handovers = sum(1 for a, b in zip(log, log[1:]) if a != b)
        print(f'mixed contention ({layout} layout): {len(log)} acquisitions ({by["python"]} by the Python '
              f'package, {by["zk"]} by zk lock, {by[layout]} by {foreign}), {handovers} handovers, '
              f'{proxy.cuts} cuts resetting {proxy.resets} connections, {len(overlaps)} overlaps, '
              f'{len(left)} leftover nodes, '
              f'counter {counter}, {len(failures)} failed attempts, {time.monotonic() - started:.1f} s')
        assert overlaps == []
        assert left == []
        assert counter == len(log)
        assert len(log) >= 1000
        assert by['python'] == sum(counts[:PY_TASKS]) and by['zk'] == ZK_LOOPS * ZK_RUNS
        assert by[layout] == PEER_RUNS
        assert proxy.resets >= 20
        # Cuts may fail an attempt now and then, not most of them.
        assert len(failures) < len(log) // 4, failures[:10]
    finally:
        done.set()
        for client in clients:
            await client.close()
        await proxy.close()
        if peer.returncode is None:
            peer.stdin.write(b'quit\n')
            try:
                await asyncio.wait_for(peer.wait(), 10)
            except asyncio.TimeoutError:
                peer.kill()


async def test_layouts_exclude_kazoo_both_ways(servers: str) -> None:
    """This package's Lock, SharedLock, Semaphore and LeaderElection with layout='kazoo'
    and kazoo's recipes (in this process, on their own threads) on the same paths."""
    ensure_kazoo()
    from kazoo.client import KazooClient
    from kazoo.exceptions import LockTimeout

    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    kz = KazooClient(hosts=servers, timeout=10)
    await asyncio.to_thread(kz.start, 30)
    root = f'/interop-{uuid.uuid4().hex}'

    async def kazoo_acquire(recipe: Any, timeout: float) -> bool:
        try:
            return bool(await asyncio.to_thread(recipe.acquire, timeout=timeout))
        except LockTimeout:
            return False

    try:
        # Lock: they wait for us, we wait for them.
        ours = zk.recipes.Lock(root + '/lock', layout='kazoo', identifier='aiozk-py')
        theirs = kz.Lock(root + '/lock', 'kazoo')
        await ours.acquire(timeout=10)
        assert not await kazoo_acquire(theirs, 0.3)
        await ours.release()
        assert await kazoo_acquire(theirs, 10)
        with pytest.raises(exc.TimeoutError):
            await ours.acquire(timeout=0.3)
        await asyncio.to_thread(theirs.release)
        await ours.acquire(timeout=10)
        await ours.release()

        # Semaphore of 1.
        sem = zk.recipes.Semaphore(root + '/sem', 1, layout='kazoo')
        their_sem = kz.Semaphore(root + '/sem', 'kazoo', max_leases=1)
        permit = await sem.acquire(timeout=10)
        assert not await kazoo_acquire(their_sem, 0.3)
        await permit.release()
        assert await kazoo_acquire(their_sem, 10)
        with pytest.raises(exc.TimeoutError):
            await sem.acquire(timeout=0.3)
        await asyncio.to_thread(their_sem.release)

        # SharedLock: their writer blocks our reader; their reader shares with ours.
        shared = zk.recipes.SharedLock(root + '/rw', layout='kazoo')
        writer = kz.WriteLock(root + '/rw', 'kazoo')
        assert await kazoo_acquire(writer, 10)
        with pytest.raises(exc.TimeoutError):
            await shared.reader_lock.acquire(timeout=0.3)
        await asyncio.to_thread(writer.release)
        reader = kz.ReadLock(root + '/rw', 'kazoo')
        assert await kazoo_acquire(reader, 10)
        await shared.reader_lock.acquire(timeout=10)
        with pytest.raises(exc.TimeoutError):
            await shared.writer_lock.acquire(timeout=0.3)
        await shared.reader_lock.release()
        await asyncio.to_thread(reader.release)

        # LeaderElection and kazoo's Election take turns.
        import threading

        def kazoo_leads(path: str) -> Tuple[Any, threading.Event, threading.Event, Any]:
            their_election = kz.Election(path, 'kazoo')
            leading, stop = threading.Event(), threading.Event()

            def lead() -> None:
                leading.set()
                stop.wait()

            return their_election, leading, stop, asyncio.create_task(asyncio.to_thread(their_election.run, lead))

        el = root + '/election'
        their_election, leading, stop, running = kazoo_leads(el)
        assert await asyncio.to_thread(leading.wait, 20)
        election = zk.recipes.LeaderElection(el, layout='kazoo', identifier='aiozk-py')
        await election.volunteer()
        with pytest.raises(exc.TimeoutError):
            await election.wait_for_leadership(timeout=0.4)
        assert sorted(await asyncio.to_thread(their_election.contenders)) == ['aiozk-py', 'kazoo']
        stop.set()
        await asyncio.wait_for(running, 20)
        await election.wait_for_leadership(timeout=20)
        their_election, leading, stop, running = kazoo_leads(el)
        assert not await asyncio.to_thread(leading.wait, 0.4), 'kazoo led while we did'
        await election.resign()
        assert await asyncio.to_thread(leading.wait, 20)
        stop.set()
        await asyncio.wait_for(running, 20)
    finally:
        await asyncio.to_thread(kz.stop)
        await asyncio.to_thread(kz.close)
        await zk.deleteall(root)
        await zk.close()


async def wait_change(party: Any) -> None:
    """Waits for the party's next change, at most 0.5 s (a change just before the call is
    seen by the caller's next look)."""
    try:
        await asyncio.wait_for(party.wait_for_change(), 0.5)
    except asyncio.TimeoutError:
        pass


async def party_both_ways(ours: Any, party_class: Any, path: str, their_name: str) -> None:
    """``ours`` (joined as ``aiozk-py``) and a kazoo party of ``party_class`` named
    ``their_name`` see each other join and leave, and nothing is left."""
    theirs = party_class(path, their_name)
    await asyncio.to_thread(theirs.join)
    both = sorted(['aiozk-py', their_name])
    assert sorted(await asyncio.to_thread(lambda: list(party_class(path)))) == both
    deadline = time.monotonic() + 20
    while sorted(ours.members) != both:
        assert time.monotonic() < deadline, ours.members
        await wait_change(ours)
    await asyncio.to_thread(theirs.leave)
    while ours.members != ['aiozk-py']:
        assert time.monotonic() < deadline, ours.members
        await wait_change(ours)
    await ours.leave()
    assert await asyncio.to_thread(lambda: list(party_class(path))) == []


async def test_party_in_kazoo_layout(servers: str) -> None:
    """This package's Party with layout='kazoo' and kazoo's Party see each other."""
    ensure_kazoo()
    from kazoo.client import KazooClient

    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    kz = KazooClient(hosts=servers, timeout=10)
    await asyncio.to_thread(kz.start, 30)
    path = f'/interop-party-{uuid.uuid4().hex}'
    try:
        ours = zk.recipes.Party(path, 'aiozk-py', layout='kazoo')
        await ours.join()
        await party_both_ways(ours, kz.Party, path, 'kazoo')
    finally:
        await asyncio.to_thread(kz.stop)
        await asyncio.to_thread(kz.close)
        await zk.deleteall(path)
        await zk.close()


async def test_shallow_party_in_kazoo_layout(servers: str) -> None:
    """This package's Party with layout='kazoo', shallow=True and kazoo's ShallowParty see
    each other; the names are in the node names."""
    ensure_kazoo()
    from kazoo.client import KazooClient

    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    kz = KazooClient(hosts=servers, timeout=10)
    await asyncio.to_thread(kz.start, 30)
    path = f'/interop-shallow-party-{uuid.uuid4().hex}'
    try:
        with pytest.raises(ValueError):
            zk.recipes.Party(path, 'x', shallow=True)
        ours = zk.recipes.Party(path, 'aiozk-py', layout='kazoo', shallow=True)
        await ours.join()
        node = ours.own_node.rsplit('/', 1)[-1]
        assert len(node) == 32 + len('-aiozk-py') and node.endswith('-aiozk-py'), node
        await party_both_ways(ours, kz.ShallowParty, path, 'kazoo-1')
    finally:
        await asyncio.to_thread(kz.stop)
        await asyncio.to_thread(kz.close)
        await zk.deleteall(path)
        await zk.close()


async def test_double_barrier_in_kazoo_layout(servers: str) -> None:
    """This package's DoubleBarrier with layout='kazoo' and kazoo's enter and leave
    together."""
    ensure_kazoo()
    from kazoo.client import KazooClient

    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    kz = KazooClient(hosts=servers, timeout=10)
    await asyncio.to_thread(kz.start, 30)
    path = f'/interop-dbarrier-{uuid.uuid4().hex}'
    try:
        ours = zk.recipes.DoubleBarrier(path, 2, layout='kazoo', identifier='aiozk-py')
        theirs = kz.DoubleBarrier(path, 2, 'kazoo')
        entering = asyncio.create_task(asyncio.to_thread(theirs.enter))
        await asyncio.sleep(0.3)
        assert not entering.done(), 'kazoo entered alone'
        await ours.enter(timeout=20)
        await asyncio.wait_for(entering, 20)
        assert sorted(await zk.get_children(path))[-1] == 'ready'
        leaving = asyncio.create_task(asyncio.to_thread(theirs.leave))
        await ours.leave(timeout=20)
        await asyncio.wait_for(leaving, 20)
        assert await zk.get_children(path) == []
    finally:
        await asyncio.to_thread(kz.stop)
        await asyncio.to_thread(kz.close)
        await zk.deleteall(path)
        await zk.close()


async def test_binary_counter_with_kazoo_support_curator(servers: str) -> None:
    """Counter(encoding='int32') and kazoo's Counter(support_curator=True) count on one node
    at the same time, losing no increment; the node holds 4 big-endian bytes."""
    ensure_kazoo()
    from kazoo.client import KazooClient

    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    kz = KazooClient(hosts=servers, timeout=10)
    await asyncio.to_thread(kz.start, 30)
    path = f'/interop-counter-{uuid.uuid4().hex}'
    try:
        ours = zk.recipes.Counter(path, 0, encoding='int32')
        await ours.start()
        theirs = kz.Counter(path, support_curator=True)

        def kazoo_adds() -> None:
            for _ in range(100):
                theirs.__add__(1)

        adding = asyncio.create_task(asyncio.to_thread(kazoo_adds))
        for _ in range(100):
            await ours.incr(1)
        await asyncio.wait_for(adding, 60)
        assert await ours.get_value() == 200
        data, _ = await zk.get(path)
        assert data == (200).to_bytes(4, 'big')
        with pytest.raises(TypeError):
            zk.recipes.Counter(path, 0.5, encoding='int64')
    finally:
        await asyncio.to_thread(kz.stop)
        await asyncio.to_thread(kz.close)
        await zk.deleteall(path)
        await zk.close()


async def curator_peer(servers: str) -> Peer:
    peer = Peer(peer_command('curator', servers))
    await peer.start()
    return peer


async def still_waiting(peer: Peer, seconds: float = 0.4) -> bool:
    """True when the peer gave no answer within ``seconds``."""
    try:
        line = await asyncio.wait_for(peer.plain.get(), seconds)
    except asyncio.TimeoutError:
        return True
    pytest.fail(f'the peer answered {line!r} while it should wait')


@pytest.mark.timeout(900)  # the first run may fetch Curator with Maven
async def test_recipes_with_curator_both_ways(servers: str) -> None:
    """This package's SharedLock, Semaphore, LeaderElection and DoubleBarrier with
    layout='curator', and Curator's recipes in their own process, on the same paths: they
    wait for us, we wait for them."""
    peer = await curator_peer(servers)
    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    root = f'/interop-curator-{uuid.uuid4().hex}'
    try:
        # SharedLock: their writer blocks our reader and writer; their reader shares with
        # ours; our writer blocks their reader, and their writer waits for it.
        rw = root + '/rw'
        shared = zk.recipes.SharedLock(rw, layout='curator')
        assert await peer.ask(f'write {rw} 5000') == 'acquired'
        with pytest.raises(exc.TimeoutError):
            await shared.reader_lock.acquire(timeout=0.3)
        with pytest.raises(exc.TimeoutError):
            await shared.writer_lock.acquire(timeout=0.3)
        assert await peer.ask(f'unwrite {rw}') == 'released'
        assert await peer.ask(f'read {rw} 5000') == 'acquired'
        await shared.reader_lock.acquire(timeout=10)
        assert await peer.ask(f'write {rw} 300') == 'timeout'
        await shared.reader_lock.release()
        assert await peer.ask(f'unread {rw}') == 'released'
        await shared.writer_lock.acquire(timeout=10)
        names = await zk.get_children(rw)
        assert len(names) == 1 and '__WRIT__' in names[0], names
        assert await peer.ask(f'read {rw} 300') == 'timeout'
        await peer.send(f'write {rw} 30000')
        assert await still_waiting(peer)
        await shared.writer_lock.release()
        assert await asyncio.wait_for(peer.plain.get(), 30) == 'acquired'
        with pytest.raises(exc.TimeoutError):
            await shared.reader_lock.acquire(timeout=0.3)
        assert await peer.ask(f'unwrite {rw}') == 'released'

        # Semaphore of 2: one each; a third waits on either side.
        sem_path = root + '/sem'
        sem = zk.recipes.Semaphore(sem_path, 2, layout='curator')
        ours = await sem.acquire(timeout=10)
        assert await peer.ask(f'sem {sem_path} 2 10000') == 'acquired'
        with pytest.raises(exc.TimeoutError):
            await sem.acquire(timeout=0.3)
        assert await peer.ask(f'sem {sem_path} 2 300') == 'timeout'
        await peer.send(f'sem {sem_path} 2 30000')
        assert await still_waiting(peer)
        await ours.release()
        assert await asyncio.wait_for(peer.plain.get(), 30) == 'acquired'
        waiting = asyncio.create_task(sem.acquire(timeout=30))
        await asyncio.sleep(0.4)
        assert not waiting.done(), 'a third permit was granted'
        assert await peer.ask(f'unsem {sem_path}') == 'released'
        await (await asyncio.wait_for(waiting, 30)).release()
        assert await peer.ask(f'unsem {sem_path}') == 'released'

        # LeaderElection and Curator's LeaderLatch take turns.
        el = root + '/election'
        assert await peer.ask(f'latch {el} java') == 'started'
        assert await peer.ask(f'leader {el} 20000') == 'leader'
        election = zk.recipes.LeaderElection(el, layout='curator', identifier='aiozk-py')
        await election.volunteer()
        with pytest.raises(exc.TimeoutError):
            await election.wait_for_leadership(timeout=0.4)
        names = await zk.get_children(el)
        assert len(names) == 2 and all('-latch-' in n for n in names), names
        assert await peer.ask(f'unlatch {el}') == 'closed'
        await election.wait_for_leadership(timeout=20)
        assert election.has_leadership
        assert await peer.ask(f'latch {el} java') == 'started'
        assert await peer.ask(f'leader {el} 400') == 'timeout'
        await election.resign()
        assert await peer.ask(f'leader {el} 20000') == 'leader'
        assert await peer.ask(f'unlatch {el}') == 'closed'

        # DoubleBarrier: they wait for us to enter, then we wait for them; both leave.
        for first in ('curator', 'python'):
            db = f'{root}/dbarrier-{first}'
            barrier = zk.recipes.DoubleBarrier(db, 2, layout='curator')
            if first == 'curator':
                await peer.send(f'dbarrier_enter {db} 2 30000')
                assert await still_waiting(peer)
                await barrier.enter(timeout=20)
                assert await asyncio.wait_for(peer.plain.get(), 30) == 'entered'
            else:
                entering = asyncio.create_task(barrier.enter(timeout=20))
                await asyncio.sleep(0.4)
                assert not entering.done(), 'we entered alone'
                assert await peer.ask(f'dbarrier_enter {db} 2 30000') == 'entered'
                await asyncio.wait_for(entering, 30)
            names = sorted(await zk.get_children(db))
            assert len(names) == 3 and names[-1] == 'ready' and all(len(n) == 36 for n in names[:2]), names
            await peer.send(f'dbarrier_leave {db} 30000')
            await barrier.leave(timeout=20)
            assert await asyncio.wait_for(peer.plain.get(), 30) == 'left'
            try:
                assert await zk.get_children(db) == []
            except exc.NoNode:
                pass  # the empty container was reaped already
    finally:
        await peer.quit()
        await zk.deleteall(root)
        await zk.close()


@pytest.mark.timeout(900)
@pytest.mark.parametrize('encoding,command', [('int32', 'shared_add'), ('int64', 'along_add')])
async def test_counters_with_curator(servers: str, encoding: str, command: str) -> None:
    """Counter(encoding='int32') with Curator's SharedCount, 'int64' with its
    DistributedAtomicLong: both count on one node at the same time, losing no increment."""
    peer = await curator_peer(servers)
    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    path = f'/interop-curator-counter-{uuid.uuid4().hex}'
    try:
        ours = zk.recipes.Counter(path, 0, encoding=encoding)
        await ours.start()
        theirs = await peer.background(f'{command} {path} 150')
        for _ in range(150):
            await ours.incr(1)
        answer = await asyncio.wait_for(theirs, 60)
        assert not answer.startswith('error'), answer
        assert 0 < int(answer.split()[-1]) <= 300
        assert await ours.get_value() == 300
        data, _ = await zk.get(path)
        assert data == (300).to_bytes(4 if encoding == 'int32' else 8, 'big')
    finally:
        await peer.quit()
        await zk.deleteall(path)
        await zk.close()


@pytest.mark.timeout(900)
async def test_leader_selector_with_curator_both_ways(servers: str) -> None:
    """This package's LeaderSelector and Curator's in its own process on one path: Curator
    leads and we wait, then we lead and Curator waits; the nodes are alike and hold the
    participants' ids, which both sides list."""
    peer = await curator_peer(servers)
    zk = aiozk.ZKClient(servers, session_timeout=10)
    await zk.start(timeout=30)
    path = f'/interop-selector-{uuid.uuid4().hex}'
    led, go = asyncio.Event(), asyncio.Event()

    async def lead(leadership: Any) -> None:
        led.set()
        await go.wait()

    ours = zk.recipes.LeaderSelector(path, lead, identifier='aiozk-py')
    try:
        assert await peer.ask(f'select {path} java') == 'started'
        assert await peer.ask(f'selected {path} 20000') == 'leader'
        await ours.start()
        await asyncio.sleep(0.4)
        assert not led.is_set(), 'we led while Curator did'
        assert await ours.participants() == [('java', True), ('aiozk-py', False)]
        names = await zk.get_children(path)
        assert len(names) == 2 and all(n.startswith('_c_') and '-lock-' in n for n in names), names
        assert await peer.ask(f'unselect {path}') == 'closed'
        await asyncio.wait_for(led.wait(), 20)
        assert ours.has_leadership
        # Now Curator waits for us, and leads once our callback returns.
        assert await peer.ask(f'select {path} java') == 'started'
        assert await peer.ask(f'selected {path} 400') == 'timeout'
        assert await ours.leader() == ('aiozk-py', True)
        go.set()
        assert await peer.ask(f'selected {path} 20000') == 'leader'
        assert not ours.has_leadership
        assert await peer.ask(f'unselect {path}') == 'closed'
    finally:
        await ours.close()
        await peer.quit()
        try:
            await zk.deleteall(path)
        except exc.NoNode:
            pass
        await zk.close()
