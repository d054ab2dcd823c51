"""What the interoperability tests share: kazoo from PyPI, the built binaries, a proxy that
cuts connections, the foreign peers and the marker protocols that every holder follows.

The markers (the same in the test kit's peers, ``foreign/CuratorPeer.java`` and
``foreign/kazoo_peer.py``, and in the shell scripts ``zk`` runs):

* An exclusive holder (a lock, a writer, a leader) creates ``DIR/holder`` exclusively
  (finding it there is an overlap), adds one to ``DIR/counter`` (the shared fencing counter:
  a lost update would show two holders), appends its name to ``DIR/log``, waits a few
  milliseconds and deletes the marker. A writer also finds ``DIR/readers`` empty, before
  and after its wait.
* A reader creates ``DIR/readers/<id>``, finds no ``DIR/holder`` (before and after its
  wait), appends ``NAME-read K`` to ``DIR/log`` (K: the readers it saw, itself included)
  and deletes its file.
* A lease holder creates ``DIR/holders/<id>``, counts the files there (more than the
  permits is an overlap), appends ``NAME K`` to ``DIR/log`` and deletes its file.
* A member of a double barrier round ``DIR/rR`` creates ``DIR/rR/entering.<id>`` before
  entering and ``DIR/rR/leaving.<id>`` before leaving; after entering it must find every
  member's entering file, after leaving every member's leaving file; else it appends a line
  to ``DIR/violations``. In between it creates ``DIR/rR/passed.<id>``; in kazoo's layout
  it leaves only once every member has passed (kazoo deletes ``ready`` as soon as the
  first member leaves, so a member cut off from the server when the barrier opened would
  never see it open).

Overlaps are appended to ``DIR/overlaps``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
import pathlib
import socket
import struct
import subprocess
import sys
import time
import uuid
from typing import Dict, List, Optional, Set, Tuple

import pytest

KAZOO = '2.11.0'
CURATOR = '5.9.0'
ROOT = pathlib.Path(__file__).resolve().parent.parent.parent.parent
PEER = ROOT / 'crates' / 'aiozk-testkit' / 'foreign' / 'kazoo_peer.py'
FOREIGN = {'kazoo': f'kazoo {KAZOO}', 'curator': f'Curator {CURATOR}'}

#: How long a holder keeps its marker, in seconds.
HOLD = 0.003


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


def peer_command(layout: str, servers: str) -> List[str]:
    """The command of the foreign peer of ``layout`` (10 s sessions)."""
    if layout == 'kazoo':
        ensure_kazoo()
        return [sys.executable, str(PEER), servers, '10']
    return [built('ZK_TESTKIT', 'aiozk-testkit', 'zk-testkit'), 'peer', 'curator', servers, '10']


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


class Peer:
    """A foreign peer process: plain commands answered in order, and ``bg`` commands whose
    answers (``NAME ANSWER``) are handed to whoever waits for ``NAME``."""

    def __init__(self, command: List[str]) -> None:
        self.command = command
        self.proc: Optional[asyncio.subprocess.Process] = None
        self.plain: 'asyncio.Queue[str]' = asyncio.Queue()
        self.named: Dict[str, 'asyncio.Future[str]'] = {}
        self.reader: Optional[asyncio.Task] = None

    async def start(self, timeout: float = 600) -> None:
        """Starts the process (the first Curator run fetches and compiles it)."""
        self.proc = await asyncio.create_subprocess_exec(*self.command, stdin=subprocess.PIPE,
                                                         stdout=subprocess.PIPE)
        assert self.proc.stdout is not None
        ready = (await asyncio.wait_for(self.proc.stdout.readline(), timeout)).decode().strip()
        assert ready == 'ready', f'the peer {self.command[:3]} did not start: {ready!r}'
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := (await self.proc.stdout.readline()).decode():
            name, _, rest = line.strip().partition(' ')
            future = self.named.pop(name, None)
            if future is not None:
                future.set_result(rest)
            else:
                await self.plain.put(line.strip())
        for future in self.named.values():
            future.set_exception(RuntimeError(f'the peer ended ({self.proc.returncode})'))

    async def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b'\n')
        await self.proc.stdin.drain()

    async def ask(self, line: str, timeout: float = 60) -> str:
        await self.send(line)
        return await asyncio.wait_for(self.plain.get(), timeout)

    async def background(self, command: str) -> 'asyncio.Future[str]':
        """Runs ``command`` on a thread of the peer; the future gets its answer."""
        name = f'bg{uuid.uuid4().hex[:8]}'
        future: 'asyncio.Future[str]' = asyncio.get_running_loop().create_future()
        self.named[name] = future
        await self.send(f'bg {name} {command}')
        return future

    async def quit(self) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            await self.send('quit')
            await asyncio.wait_for(self.proc.wait(), 10)
        except (asyncio.TimeoutError, OSError):
            self.proc.kill()
            await self.proc.wait()
        if self.reader is not None:
            self.reader.cancel()


def note(path: str, line: str) -> None:
    with open(path, 'a') as f:
        f.write(line + '\n')


async def exclusive_hold(directory: str, who: str, writer: bool = False) -> bool:
    """The exclusive holder's marker; False on an overlap."""
    marker = os.path.join(directory, 'holder')
    readers = os.path.join(directory, 'readers')
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        note(os.path.join(directory, 'overlaps'), who)
        return False
    os.close(fd)
    clean = not (writer and os.listdir(readers))
    counter = os.path.join(directory, 'counter')
    try:
        with open(counter) as f:
            value = int(f.read().strip() or 0)
    except FileNotFoundError:
        value = 0
    with open(counter, 'w') as f:
        f.write(str(value + 1))
    note(os.path.join(directory, 'log'), who)
    await asyncio.sleep(HOLD)
    clean = clean and not (writer and os.listdir(readers))
    os.unlink(marker)
    if not clean:
        note(os.path.join(directory, 'overlaps'), who + '-write')
    return clean


async def read_hold(directory: str, who: str) -> bool:
    """The reader's marker; False on an overlap with a writer."""
    mine = os.path.join(directory, 'readers', uuid.uuid4().hex)
    open(mine, 'w').close()
    marker = os.path.join(directory, 'holder')
    clean = not os.path.exists(marker)
    seen = len(os.listdir(os.path.join(directory, 'readers')))
    note(os.path.join(directory, 'log'), f'{who}-read {seen}')
    await asyncio.sleep(HOLD)
    clean = clean and not os.path.exists(marker)
    os.unlink(mine)
    if not clean:
        note(os.path.join(directory, 'overlaps'), who + '-read')
    return clean


async def lease_hold(directory: str, who: str, permits: int) -> bool:
    """The lease holder's marker; False when more than ``permits`` hold at once."""
    holders = os.path.join(directory, 'holders')
    mine = os.path.join(holders, uuid.uuid4().hex)
    open(mine, 'w').close()
    seen = len(os.listdir(holders))
    note(os.path.join(directory, 'log'), f'{who} {seen}')
    await asyncio.sleep(HOLD)
    os.unlink(mine)
    if seen > permits:
        note(os.path.join(directory, 'overlaps'), who)
        return False
    return True


def round_marker(directory: str, kind: str) -> None:
    """This member's ``kind`` file (``entering`` or ``leaving``) in the round ``directory``."""
    os.makedirs(directory, exist_ok=True)
    open(os.path.join(directory, f'{kind}.{uuid.uuid4().hex}'), 'w').close()


def round_check(directory: str, kind: str, members: int, who: str, quiet: bool = False) -> bool:
    """False (and, unless ``quiet``, a line in the violations) when fewer than ``members``
    ``kind`` files are in the round ``directory``."""
    seen = sum(1 for f in os.listdir(directory) if f.startswith(kind + '.'))
    if seen < members and not quiet:
        note(os.path.join(os.path.dirname(directory), 'violations'), f'{who} {kind} {seen} of {members}')
    return seen >= members


# The shell side of the markers, for `zk lock`, `zk elect` and `zk double-barrier`.
# Environment: D (the directory), W (non-empty for a writer), P (permits), R (the round's
# directory), N (members) and SYNC (non-empty: leave once every member has passed).
SH_EXCLUSIVE = '''if ( set -C; : > "$D/holder" ) 2>/dev/null; then
  clean=1; [ -z "$W" ] || [ -z "$(ls -A "$D/readers")" ] || clean=0
  n=$(cat "$D/counter" 2>/dev/null || echo 0); echo $((n + 1)) > "$D/counter"
  echo zk >> "$D/log"; sleep 0.003
  [ -z "$W" ] || [ -z "$(ls -A "$D/readers")" ] || clean=0
  rm -f "$D/holder"; [ $clean = 1 ] || echo zk-write >> "$D/overlaps"
else
  echo zk >> "$D/overlaps"
fi'''
SH_READ = '''mine="$D/readers/zk.$$"; : > "$mine"; clean=1; [ -e "$D/holder" ] && clean=0
echo "zk-read $(ls "$D/readers" | wc -l)" >> "$D/log"; sleep 0.003
[ -e "$D/holder" ] && clean=0; rm -f "$mine"; [ $clean = 1 ] || echo zk-read >> "$D/overlaps"
true'''
SH_LEASE = '''mine="$D/holders/zk.$$"; : > "$mine"; k=$(ls "$D/holders" | wc -l)
echo "zk $k" >> "$D/log"; sleep 0.003; rm -f "$mine"
[ "$k" -le "$P" ] || echo zk >> "$D/overlaps"'''
SH_ROUND = '''n=$(ls "$R" | grep -c '^entering\\.')
[ "$n" -ge "$N" ] || echo "zk entering $n of $N" >> "$D/violations"
echo zk >> "$D/log"; : > "$R/passed.zk"
if [ -n "$SYNC" ]; then
  while [ "$(ls "$R" | grep -c '^passed\\.')" -lt "$N" ]; do sleep 0.005; done
fi
: > "$R/leaving.zk"'''


def lines(path: str) -> List[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []
