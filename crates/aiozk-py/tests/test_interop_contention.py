"""Mixed contention in Curator's and kazoo's layouts for every contended recipe but Lock
(``test_interop.py`` has Lock's): this package's recipes, the Rust ``zk`` command and the
foreign library's recipes (in a process of their own, the test kit's peer) on one path per
recipe, under random connection cuts of this package's and zk's connections (the foreign
peer connects directly). All recipes of a layout run at once, each on its own path, in one
test: SharedLock, Semaphore, LeaderElection, LeaderSelector (Curator), the counters and
DoubleBarrier rounds. Every holder follows the markers of ``interop.py``; the test asserts 0
overlapping holders, the fencing counter at the number of exclusive holds, 0 leftover
nodes, and at least 1,000 acquisitions per recipe, and prints the counts.

What each recipe's contention means:

* SharedLock: every third acquisition of each contender is a write. No writer overlaps a
  reader or another writer; readers do share (the test asserts that some did).
* Semaphore (2 permits): never more than 2 holders; 2 at once do happen.
* LeaderElection (Curator's LeaderLatch, kazoo's Election) and LeaderSelector (Curator's
  LeaderSelector, in Curator's layout: a lock whose nodes hold the participant id): never
  two leaders; each leadership is one acquisition.
* Counters (Curator's SharedCount and DistributedAtomicLong, kazoo's Counter as text and
  with support_curator): the acquisitions are concurrent increments. Each kind of contender
  adds its own step (the foreign library 1, this package 1,000, zk 1,000,000), so the final
  value tells how many increments of each kind were applied: exactly the foreign ones, and
  for ours at least those that succeeded and at most those plus the ones whose outcome was
  reported unknown (a connection cut while the write was in flight; they are never retried
  blindly). No increment is lost or applied twice.
* DoubleBarrier (5 members a round: 2 of this package, 1 zk, 2 foreign): nobody passes
  ``enter`` before all 5 have arrived, nobody passes ``leave`` before all 5 are leaving;
  each member's round is one acquisition. In kazoo's layout members leave only once all
  have passed ``enter`` (see ``interop.py``: kazoo's protocol cannot tell a member that was
  cut off while the barrier opened that it did).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import subprocess
import tempfile
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Tuple

import pytest

import aiozk
from aiozk import exc
from interop import (FOREIGN, SH_EXCLUSIVE, SH_LEASE, SH_READ, SH_ROUND, CuttingProxy, Peer, built,
                     exclusive_hold, lease_hold, lines, peer_command, read_hold, round_check, round_marker)

#: Acquisitions per contender of the lock-like recipes: two of each kind.
PY_N, ZK_N, FOREIGN_N = 190, 60, 250
#: Increments per contender of a counter (two of this package, one zk, two foreign), and
#: each kind's step.
COUNT_PY, COUNT_ZK, COUNT_FOREIGN = 200, 100, 250
STEP_PY, STEP_ZK = 1_000, 1_000_000
#: Semaphore permits.
PERMITS = 2
#: Double barrier rounds and members per round.
ROUNDS, MEMBERS = 200, 5
#: Attempts that may fail under the cuts (and are tried again), per recipe.
FAILURES_ALLOWED = 250


class Contention:
    """One layout's run: the proxy that cuts our connections, the foreign peer, and the
    clients and zk processes of this package's side."""

    def __init__(self, servers: str, layout: str) -> None:
        self.servers = servers
        self.layout = layout
        self.foreign = FOREIGN[layout]
        self.proxy = CuttingProxy(servers)
        self.through = ''
        self.peer = Peer(peer_command(layout, servers))
        self.zk_binary = built('ZK_CLI', 'aiozk-cli', 'zk')
        self.root = f'/interop-contention-{uuid.uuid4().hex}'
        self.tmp = tempfile.mkdtemp(prefix='aiozk-contention-')
        self.clients: List[Any] = []

    async def start(self) -> None:
        self.through = await self.proxy.start()
        await self.peer.start()

    def place(self, name: str) -> Tuple[str, str]:
        """The path and the marker directory of the recipe ``name``."""
        directory = os.path.join(self.tmp, name)
        os.makedirs(directory)
        return f'{self.root}/{name}', directory

    async def client(self) -> Any:
        """A client of this package through the cutting proxy."""
        client = aiozk.ZKClient(self.through, session_timeout=4)
        await client.start(timeout=30)
        self.clients.append(client)
        return client

    async def zk(self, args: List[str], env: Dict[str, str]) -> Tuple[int, str]:
        """Runs ``zk ARGS`` through the cutting proxy; its status and standard error."""
        full = dict(os.environ, ZK_SERVERS=self.through, **env)
        full.pop('ZK_AUTH', None)
        proc = await asyncio.create_subprocess_exec(
            self.zk_binary, '--session-timeout', '4', *args, env=full, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, err = await proc.communicate()
        assert proc.returncode is not None
        return proc.returncode, err.decode().strip()[:300]

    async def close(self) -> None:
        for client in self.clients:
            try:
                await client.close()
            except exc.ZKError:
                pass
        await self.proxy.close()
        await self.peer.quit()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Tally:
    """What one recipe's run counted."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.failures: List[str] = []
        self.started = time.monotonic()
        self.took = 0.0

    def fail(self, who: str, error: BaseException | str) -> None:
        self.failures.append(f'{who}: {error!r}'[:300])
        assert len(self.failures) <= FAILURES_ALLOWED, \
            f'{self.name}: cuts may fail an attempt now and then, not this often: {self.failures[:10]}'

    def done(self) -> None:
        self.took = time.monotonic() - self.started


def kinds(log: List[str]) -> Dict[str, int]:
    """Acquisitions by contender kind, from the log's first words (``python-read 2`` is
    python's)."""
    out: Dict[str, int] = {}
    for line in log:
        who = line.split()[0].split('-')[0]
        out[who] = out.get(who, 0) + 1
    return out


async def retry_zk(c: Contention, t: Tally, args: List[str], env: Dict[str, str]) -> None:
    """Runs ``zk ARGS`` until it succeeds."""
    while True:
        code, err = await c.zk(args, env)
        if code == 0:
            return
        t.fail(f'zk {args[0]}', f'{code}: {err}')


async def shared_lock(c: Contention) -> Tuple[Tally, str]:
    t = Tally('SharedLock')
    path, d = c.place(t.name)
    os.makedirs(os.path.join(d, 'readers'))
    theirs = [await c.peer.background(f'contend_rw {path} {FOREIGN_N} {d}') for _ in range(2)]

    async def python() -> None:
        client = await c.client()
        lock = client.recipes.SharedLock(path, layout=c.layout)
        done = 0
        while done < PY_N:
            write = done % 3 == 0
            side = lock.writer_lock if write else lock.reader_lock
            try:
                await side.acquire(timeout=30)
            except exc.ZKError as e:
                t.fail('python', e)
                continue
            try:
                # Hold only while it is ours as far as we can tell (a long cut may have
                # ended it meanwhile).
                if side.locked():
                    await (exclusive_hold(d, 'python', writer=True) if write else read_hold(d, 'python'))
                    done += 1
            finally:
                try:
                    await side.release()
                except exc.ZKError as e:
                    t.fail('python release', e)

    async def zk() -> None:
        for i in range(ZK_N):
            write = i % 3 == 0
            await retry_zk(c, t, ['lock', '--write' if write else '--read', '--layout', c.layout, '--wait', '30',
                                  path, '--', 'sh', '-c', SH_EXCLUSIVE if write else SH_READ],
                           {'D': d, 'W': '1' if write else ''})

    await asyncio.gather(python(), python(), zk(), zk())
    answers = await asyncio.gather(*theirs)
    t.done()
    assert answers == [f'contended {FOREIGN_N} 0'] * 2, answers
    log = lines(os.path.join(d, 'log'))
    overlaps = lines(os.path.join(d, 'overlaps'))
    reads = [int(line.split()[1]) for line in log if '-read' in line]
    writes = len(log) - len(reads)
    counter = int(lines(os.path.join(d, 'counter'))[0])
    by = kinds(log)
    shared = sum(1 for k in reads if k > 1)
    summary = (f'{len(log)} acquisitions ({by.get("python", 0)} by the Python package, {by.get("zk", 0)} by zk lock, '
               f'{by.get(c.layout, 0)} by {c.foreign}; {writes} writes, {len(reads)} reads of which {shared} '
               f'shared with another reader, at most {max(reads, default=0)} readers at once), '
               f'{len(overlaps)} overlaps, fencing counter {counter}')
    assert overlaps == [], overlaps[:10]
    assert counter == writes, 'the fencing counter lost an update: two writers at once'
    assert by == {'python': 2 * PY_N, 'zk': 2 * ZK_N, c.layout: 2 * FOREIGN_N}, by
    assert shared > 0, 'no two readers ever held the read lock together'
    return t, summary


async def semaphore(c: Contention) -> Tuple[Tally, str]:
    t = Tally('Semaphore')
    path, d = c.place(t.name)
    os.makedirs(os.path.join(d, 'holders'))
    theirs = [await c.peer.background(f'contend_sem {path} {PERMITS} {FOREIGN_N} {d}') for _ in range(2)]

    async def python() -> None:
        client = await c.client()
        sem = client.recipes.Semaphore(path, PERMITS, layout=c.layout)
        done = 0
        while done < PY_N:
            try:
                permit = await sem.acquire(timeout=30)
            except exc.ZKError as e:
                t.fail('python', e)
                continue
            try:
                if permit.is_held():
                    await lease_hold(d, 'python', PERMITS)
                    done += 1
            finally:
                try:
                    await permit.release()
                except exc.ZKError as e:
                    t.fail('python release', e)

    async def zk() -> None:
        for _ in range(ZK_N):
            await retry_zk(c, t, ['lock', '--permits', str(PERMITS), '--layout', c.layout, '--wait', '30', path,
                                  '--', 'sh', '-c', SH_LEASE], {'D': d, 'P': str(PERMITS)})

    await asyncio.gather(python(), python(), zk(), zk())
    answers = await asyncio.gather(*theirs)
    t.done()
    assert answers == [f'contended {FOREIGN_N} 0'] * 2, answers
    log = lines(os.path.join(d, 'log'))
    overlaps = lines(os.path.join(d, 'overlaps'))
    seen = [int(line.split()[1]) for line in log]
    by = kinds(log)
    full = sum(1 for k in seen if k == PERMITS)
    summary = (f'{len(log)} acquisitions ({by.get("python", 0)} by the Python package, {by.get("zk", 0)} by zk lock '
               f'--permits, {by.get(c.layout, 0)} by {c.foreign}; {full} with both permits taken, at most '
               f'{max(seen, default=0)} holders at once), {len(overlaps)} overlaps')
    assert overlaps == [], overlaps[:10]
    assert max(seen) <= PERMITS
    assert by == {'python': 2 * PY_N, 'zk': 2 * ZK_N, c.layout: 2 * FOREIGN_N}, by
    assert full > 0, 'the permits were never held together'
    return t, summary


async def exclusive(c: Contention, t: Tally, d: str, python: Callable[[], Awaitable[None]], zk_args: List[str],
                    theirs: List['asyncio.Future[str]'], zk_what: str) -> str:
    """Runs two Python contenders and two zk loops (``zk_args`` before ``-- sh -c HOLD``)
    against the foreign ones, and checks the exclusive markers."""

    async def zk() -> None:
        for _ in range(ZK_N):
            await retry_zk(c, t, [*zk_args, '--', 'sh', '-c', SH_EXCLUSIVE], {'D': d, 'W': ''})

    await asyncio.gather(python(), python(), zk(), zk())
    answers = await asyncio.gather(*theirs)
    t.done()
    assert answers == [f'contended {FOREIGN_N} 0'] * 2, answers
    log = lines(os.path.join(d, 'log'))
    overlaps = lines(os.path.join(d, 'overlaps'))
    counter = int(lines(os.path.join(d, 'counter'))[0])
    by = kinds(log)
    handovers = sum(1 for a, b in zip(log, log[1:]) if a != b)
    summary = (f'{len(log)} acquisitions ({by.get("python", 0)} by the Python package, {by.get("zk", 0)} by '
               f'{zk_what}, {by.get(c.layout, 0)} by {c.foreign}), {handovers} handovers between kinds, '
               f'{len(overlaps)} overlaps, fencing counter {counter}')
    assert overlaps == [], overlaps[:10]
    assert counter == len(log), 'the fencing counter lost an update: two leaders at once'
    assert by == {'python': 2 * PY_N, 'zk': 2 * ZK_N, c.layout: 2 * FOREIGN_N}, by
    return summary


async def election(c: Contention) -> Tuple[Tally, str]:
    t = Tally('LeaderElection')
    path, d = c.place(t.name)
    command = 'contend_latch' if c.layout == 'curator' else 'contend_elect'
    theirs = [await c.peer.background(f'{command} {path} {FOREIGN_N} {d}') for _ in range(2)]

    async def python() -> None:
        client = await c.client()
        candidate = client.recipes.LeaderElection(path, layout=c.layout, identifier='aiozk-py')
        done = 0
        while done < PY_N:
            try:
                await candidate.volunteer()
                await candidate.wait_for_leadership(timeout=30)
                if candidate.has_leadership:
                    await exclusive_hold(d, 'python')
                    done += 1
            except exc.ZKError as e:
                t.fail('python', e)
            finally:
                try:
                    await candidate.resign()
                except exc.ZKError as e:
                    t.fail('python resign', e)

    summary = await exclusive(c, t, d, python, ['elect', '--layout', c.layout, path], theirs, 'zk elect')
    return t, summary


async def selector(c: Contention) -> Tuple[Tally, str]:
    t = Tally('LeaderSelector')
    path, d = c.place(t.name)
    theirs = [await c.peer.background(f'contend_select {path} {FOREIGN_N} {d}') for _ in range(2)]

    async def python() -> None:
        client = await c.client()
        done = 0
        led = asyncio.Event()

        async def lead(leadership: Any) -> None:
            nonlocal done
            if leadership.is_held() and done < PY_N:
                await exclusive_hold(d, 'python')
                done += 1
            led.set()

        chooser = client.recipes.LeaderSelector(path, lead, identifier='aiozk-py', auto_requeue=True)
        await chooser.start()
        try:
            while done < PY_N:
                await asyncio.wait_for(led.wait(), 60)
                led.clear()
        finally:
            await chooser.close()

    # What goes wrong in the selector under the cuts is logged.
    failures = Failures(t, 'python')
    logging.getLogger('aiozk.recipes.leader_selector').addHandler(failures)
    try:
        summary = await exclusive(c, t, d, python, ['lock', '--layout', 'curator', '--wait', '30', path], theirs,
                                  'zk lock')
    finally:
        logging.getLogger('aiozk.recipes.leader_selector').removeHandler(failures)
    return t, summary


class Failures(logging.Handler):
    """Counts the warnings of a recipe as failed attempts."""

    def __init__(self, tally: Tally, who: str) -> None:
        super().__init__(logging.WARNING)
        self.tally = tally
        self.who = who

    def emit(self, record: logging.LogRecord) -> None:
        self.tally.failures.append(f'{self.who}: {record.getMessage()}'[:300])


def decode(data: bytes, encoding: str) -> int:
    if encoding == 'text':
        return int(data.decode())
    return int.from_bytes(data, 'big', signed=True)


async def counter(c: Contention, name: str, encoding: str, foreign: str) -> Tuple[Tally, str]:
    t = Tally(name)
    path, _ = c.place(t.name)
    theirs = [await c.peer.background(foreign.format(path=path, n=COUNT_FOREIGN)) for _ in range(2)]
    py_ok = py_unknown = zk_ok = zk_unknown = 0

    async def python() -> None:
        nonlocal py_ok, py_unknown
        client = await c.client()
        count = client.recipes.Counter(path, 0, encoding=encoding)
        done = 0
        while done < COUNT_PY:
            try:
                await count.incr(STEP_PY)
                done += 1
                py_ok += 1
            except exc.ConnectionLoss:
                py_unknown += 1  # the cut came while the write was in flight
            except exc.ZKError as e:
                t.fail('python', e)

    async def zk() -> None:
        nonlocal zk_ok, zk_unknown
        while zk_ok < COUNT_ZK:
            code, err = await c.zk(['counter', '--add', str(STEP_ZK), '--encoding', encoding, path], {})
            if code == 0:
                zk_ok += 1
            elif code == 8 and 'cannot be told' in err:
                zk_unknown += 1
            else:
                t.fail('zk counter', f'{code}: {err}')

    await asyncio.gather(python(), python(), zk())
    answers = await asyncio.gather(*theirs)
    t.done()
    assert all(not a.startswith('error') for a in answers), answers
    admin = aiozk.ZKClient(c.servers, session_timeout=10)
    await admin.start(timeout=30)
    try:
        data, _ = await admin.get(path)
    finally:
        await admin.close()
    value = decode(data, encoding)
    width = {'text': None, 'int32': 4, 'int64': 8}[encoding]
    if width is not None:
        assert len(data) == width, data
    zk_applied, rest = divmod(value, STEP_ZK)
    py_applied, foreign_applied = divmod(rest, STEP_PY)
    total = zk_applied + py_applied + foreign_applied
    summary = (f'{total} increments applied ({py_applied} by the Python package: {py_ok} succeeded, '
               f'{py_unknown} outcome unknown; {zk_applied} by zk counter: {zk_ok} succeeded, {zk_unknown} '
               f'unknown; {foreign_applied} by {c.foreign}), final value {value}')
    assert foreign_applied == 2 * COUNT_FOREIGN, f'{c.foreign} increments lost or doubled: {summary}'
    assert py_ok <= py_applied <= py_ok + py_unknown, f'Python increments lost or doubled: {summary}'
    assert zk_ok <= zk_applied <= zk_ok + zk_unknown, f'zk increments lost or doubled: {summary}'
    assert total >= 1000
    return t, summary


async def double_barrier(c: Contention) -> Tuple[Tally, str]:
    t = Tally('DoubleBarrier')
    base, d = c.place(t.name)
    theirs = [await c.peer.background(f'dbarrier_rounds {base} {MEMBERS} {ROUNDS} {d}') for _ in range(2)]

    async def python() -> None:
        client = await c.client()
        for r in range(ROUNDS):
            here = os.path.join(d, f'r{r}')
            barrier = client.recipes.DoubleBarrier(f'{base}/r{r}', MEMBERS, layout=c.layout, identifier='aiozk-py')
            round_marker(here, 'entering')
            while True:
                try:
                    await barrier.enter(timeout=60)
                    break
                except exc.ZKError as e:
                    t.fail('python enter', e)
            round_check(here, 'entering', MEMBERS, 'python')
            with open(os.path.join(d, 'log'), 'a') as f:
                f.write('python\n')
            round_marker(here, 'passed')
            while c.layout == 'kazoo' and not round_check(here, 'passed', MEMBERS, 'python', quiet=True):
                await asyncio.sleep(0.002)
            round_marker(here, 'leaving')
            while True:
                try:
                    await barrier.leave(timeout=60)
                    break
                except exc.ZKError as e:
                    t.fail('python leave', e)
            round_check(here, 'leaving', MEMBERS, 'python')

    async def zk() -> None:
        for r in range(ROUNDS):
            here = os.path.join(d, f'r{r}')
            round_marker(here, 'entering')
            env = {'D': d, 'R': here, 'N': str(MEMBERS), 'SYNC': '1' if c.layout == 'kazoo' else ''}
            while True:
                code, err = await c.zk(['double-barrier', '--participants', str(MEMBERS), '--layout', c.layout,
                                        '--wait', '60', f'{base}/r{r}', '--', 'sh', '-c', SH_ROUND], env)
                if code == 0:
                    break
                t.fail('zk double-barrier', f'{code}: {err}')
                # Once its command ran, zk was past the barrier: entering again would wait
                # for members that are gone.
                assert not os.path.exists(os.path.join(here, 'leaving.zk')), f'zk failed in round {r}: {err}'
            round_check(here, 'leaving', MEMBERS, 'zk')

    await asyncio.gather(python(), python(), zk())
    answers = await asyncio.gather(*theirs)
    t.done()
    assert answers == [f'rounds {ROUNDS} 0'] * 2, answers
    log = lines(os.path.join(d, 'log'))
    violations = lines(os.path.join(d, 'violations'))
    by = kinds(log)
    summary = (f'{len(log)} member rounds ({ROUNDS} rounds of {MEMBERS}: {by.get("python", 0)} by the Python '
               f'package, {by.get("zk", 0)} by zk double-barrier, {by.get(c.layout, 0)} by {c.foreign}), '
               f'{len(violations)} early passes')
    assert violations == [], violations[:10]
    assert by == {'python': 2 * ROUNDS, 'zk': ROUNDS, c.layout: 2 * ROUNDS}, by
    return t, summary


async def leftovers(c: Contention) -> List[str]:
    """The nodes under the root that should be gone: every ephemeral node, and anything in
    a double barrier round."""
    admin = aiozk.ZKClient(c.servers, session_timeout=10)
    await admin.start(timeout=30)
    try:
        left: List[str] = []

        async def walk(path: str, in_round: bool) -> None:
            try:
                children = await admin.get_children(path)
            except exc.NoNode:
                return
            for child in children:
                full = f'{path}/{child}'
                if in_round:
                    left.append(full)
                    continue
                stat = await admin.stat(full)
                if stat is not None and stat.ephemeral_owner:
                    left.append(full)
                await walk(full, path.endswith('/DoubleBarrier'))

        await walk(c.root, False)
        return left
    finally:
        await admin.close()


async def contend(servers: str, layout: str) -> None:
    c = Contention(servers, layout)
    done = asyncio.Event()
    started = time.monotonic()

    async def cutter() -> None:
        while not done.is_set():
            await asyncio.sleep(random.uniform(0.15, 0.6))
            c.proxy.cut()

    try:
        await c.start()
        cutting = asyncio.create_task(cutter())
        runs: Dict[str, Awaitable[Tuple[Tally, str]]] = {
            'SharedLock': shared_lock(c), 'Semaphore': semaphore(c), 'LeaderElection': election(c),
            'DoubleBarrier': double_barrier(c)}
        if layout == 'curator':
            runs['LeaderSelector'] = selector(c)
            runs['SharedCount'] = counter(c, 'SharedCount', 'int32', 'shared_add {path} {n}')
            runs['DistributedAtomicLong'] = counter(c, 'DistributedAtomicLong', 'int64', 'along_add {path} {n}')
        else:
            runs['Counter'] = counter(c, 'Counter', 'text', 'counter_add {path} {n} 0')
            runs['Counter(support_curator)'] = counter(c, 'Counter(support_curator)', 'int32',
                                                       'counter_add {path} {n} 1')
        tasks = {name: asyncio.ensure_future(run) for name, run in runs.items()}
        _, pending = await asyncio.wait(tasks.values(), timeout=400)
        if pending:
            for task in pending:
                task.cancel()
            stuck = [f'{name} ({len(lines(os.path.join(c.tmp, name, "log")))} logged)'
                     for name, task in tasks.items() if task in pending]
            pytest.fail(f'not done within 400 s: {", ".join(stuck)}')
        done.set()
        await cutting
        # Every node is gone while our sessions (and the peer's) are still alive; a
        # background delete of the peer's may take a moment.
        deadline = time.monotonic() + 15
        while (left := await leftovers(c)) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        print(f'\nmixed contention, {layout} layout ({time.monotonic() - started:.1f} s, {c.proxy.cuts} cuts '
              f'resetting {c.proxy.resets} connections, {len(left)} leftover nodes):')
        for name, task in tasks.items():
            if task.exception() is not None:
                print(f'  {name}: FAILED: {task.exception()!r}'[:600])
            else:
                tally, summary = task.result()
                print(f'  {name}: {summary}; {len(tally.failures)} failed attempts, {tally.took:.1f} s')
        for task in tasks.values():
            if task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        assert left == [], left[:20]
        assert c.proxy.resets >= 20
    finally:
        done.set()
        await c.close()


# About 65 s (kazoo) and 55 s (Curator) on a loaded 2-core machine; the limits leave room
# for a slower one.
@pytest.mark.timeout(600)
async def test_mixed_contention_of_every_recipe_with_kazoo(servers: str) -> None:
    await contend(servers, 'kazoo')


@pytest.mark.timeout(900)  # the first run may fetch Curator with Maven
async def test_mixed_contention_of_every_recipe_with_curator(servers: str) -> None:
    await contend(servers, 'curator')
