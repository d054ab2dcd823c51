"""Mixed contention in a foreign layout: this package's Lock, the Rust ``zk lock`` and the
foreign library's lock (in a process of its own) on one path, under random connection cuts
of this package's and zk's connections. Once with kazoo 2.11.0's ``Lock`` in kazoo's layout,
once with Curator 5.9.0's ``InterProcessMutex`` in Curator's.

kazoo is installed from PyPI into this venv when missing, and the test kit's
``foreign/kazoo_peer.py`` drives it; Curator runs as ``zk-testkit peer curator`` (fetched
with Maven and compiled on first use). The tests fail, saying why, when that is impossible.
``zk`` is ``ZK_CLI`` and ``zk-testkit`` is ``ZK_TESTKIT``, else both are built with cargo.

Every holder follows the marker protocol of the test kit's peers: create ``DIR/holder``
exclusively (finding it there is an overlap), add one to ``DIR/counter`` (the shared
fencing counter: a lost update would show two holders), append a line to ``DIR/log``,
wait a few milliseconds, delete the marker, release.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import pathlib
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from typing import Any, List, Optional, Set, Tuple

import pytest

import aiozk
from aiozk import exc

KAZOO = '2.11.0'
CURATOR = '5.9.0'
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent.parent
PEER = ROOT / 'crates' / 'aiozk-testkit' / 'foreign' / 'kazoo_peer.py'

#: Acquisitions by each kind of contender.
PY_TASKS, PY_RUNS = 2, 170
ZK_LOOPS, ZK_RUNS = 2, 110
PEER_RUNS = 440


def ensure_kazoo() -> None:
    try:
        if importlib.metadata.version('kazoo') == KAZOO:
            return
    except importlib.metadata.PackageNotFoundError:
        pass
    out = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', f'kazoo=={KAZOO}'],
                         capture_output=True, text=True)
    if out.returncode != 0:
        pytest.fail(f'pip could not install kazoo {KAZOO} from PyPI:\n{out.stdout}{out.stderr}')


def built(env: str, package: str, name: str) -> str:
    """The binary ``name`` of ``package``: ``$env``, else built with cargo."""
    binary = os.environ.get(env)
    if binary:
        return binary
    subprocess.run(['cargo', 'build', '-q', '-p', package, '--bin', name], cwd=ROOT, check=True)
    target = os.environ.get('CARGO_TARGET_DIR', str(ROOT / 'target'))
    return os.path.join(target, 'debug', name)


class CuttingProxy:
    """Forwards TCP connections to ``target``; ``cut()`` resets every open one."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(':', 1)
        self.target = (host, int(port))
        self.conns: Set[Tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self.cuts = 0
        #: Connections reset by cuts.
        self.resets = 0
        self.server: Optional[asyncio.AbstractServer] = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, '127.0.0.1', 0)
        port = self.server.sockets[0].getsockname()[1]
        return f'127.0.0.1:{port}'

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        pair = (writer, up_writer)
        self.conns.add(pair)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.CancelledError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.conns.discard(pair)

    def cut(self) -> None:
        for pair in list(self.conns):
            for w in pair:
                sock = w.get_extra_info('socket')
                try:
                    if sock is not None:
                        # SO_LINGER 0: closing sends a reset.
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
                except OSError:
                    pass  # closed meanwhile
                w.transport.abort()
            self.conns.discard(pair)
            self.resets += 1
        self.cuts += 1

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for pair in list(self.conns):
            for w in pair:
                w.transport.abort()


def hold(directory: str, who: str) -> bool:
    """The marker protocol; False on an overlap."""
    marker = os.path.join(directory, 'holder')
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        with open(os.path.join(directory, 'overlaps'), 'a') as f:
            f.write(who + '\n')
        return False
    os.close(fd)
    counter = os.path.join(directory, 'counter')
    try:
        with open(counter) as f:
            value = int(f.read().strip() or 0)
    except FileNotFoundError:
        value = 0
    with open(counter, 'w') as f:
        f.write(str(value + 1))
    with open(os.path.join(directory, 'log'), 'a') as f:
        f.write(who + '\n')
    time.sleep(0.003)
    os.unlink(marker)
    return True


ZK_HOLD = '''if ( set -C; : > "$D/holder" ) 2>/dev/null; then
  n=$(cat "$D/counter" 2>/dev/null || echo 0); echo $((n + 1)) > "$D/counter"
  echo zk >> "$D/log"; sleep 0.003; rm -f "$D/holder"
else
  echo zk >> "$D/overlaps"
fi'''


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
    foreign = {'kazoo': f'kazoo {KAZOO}', 'curator': f'Curator {CURATOR}'}[layout]
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
                    hold(directory, 'python')
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
                'sh', '-c', ZK_HOLD, env=env, stdin=subprocess.DEVNULL,
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
        theirs = kz.Party(path, 'kazoo')
        await asyncio.to_thread(theirs.join)
        assert sorted(await asyncio.to_thread(lambda: list(kz.Party(path)))) == ['aiozk-py', 'kazoo']
        deadline = time.monotonic() + 20
        while sorted(ours.members) != ['aiozk-py', 'kazoo']:
            assert time.monotonic() < deadline, ours.members
            await wait_change(ours)
        await asyncio.to_thread(theirs.leave)
        while ours.members != ['aiozk-py']:
            assert time.monotonic() < deadline, ours.members
            await wait_change(ours)
        await ours.leave()
        assert await asyncio.to_thread(lambda: list(kz.Party(path))) == []
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
