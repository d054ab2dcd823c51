"""Failures a program can trust: replies over the frame limit, bounded calls against a
frozen server, servers that send garbage, and lock checks after the holder was paused."""

from __future__ import annotations

import asyncio
import os
import signal
import struct
import sys
import time

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


async def freeze(pid: int) -> None:
    """SIGSTOP, then wait until every thread of the process has stopped (the signal takes
    effect thread by thread)."""
    os.kill(pid, signal.SIGSTOP)
    for _ in range(1000):
        states = []
        for task in os.listdir(f'/proc/{pid}/task'):
            try:
                with open(f'/proc/{pid}/task/{task}/stat') as f:
                    states.append(f.read().rsplit(')', 1)[1].split()[0])
            except FileNotFoundError:
                pass
        if all(state in ('T', 't') for state in states):
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f'process {pid} did not stop')


async def test_read_timeout_bounds_a_call_against_a_frozen_server(private_server):
    # The default retry policy, RetryPolicy.forever(): the call must still end.
    async with aiozk.ZKClient(private_server['plain'], read_timeout=2) as zk:
        assert await zk.exists('/') is True
        await freeze(private_server['pid'])
        try:
            start = time.monotonic()
            with pytest.raises(exc.RequestTimeout):
                await asyncio.wait_for(zk.get_data('/'), 60)
            took = time.monotonic() - start
            assert 1.5 < took < 6, took
            # A call made while the server is frozen (and the client reconnecting) too.
            start = time.monotonic()
            with pytest.raises(exc.RequestTimeout):
                await asyncio.wait_for(zk.exists('/'), 60)
            assert time.monotonic() - start < 6
        finally:
            os.kill(private_server['pid'], signal.SIGCONT)


HOLDER = r'''
import asyncio, sys, time
import aiozk

async def main(servers, chroot):
    zk = aiozk.ZKClient(servers, chroot=chroot, session_timeout=4)
    await zk.start(timeout=30)
    lock = zk.recipes.Lock('/lock')
    await lock.acquire()
    print('READY', flush=True)
    while True:
        t = time.time_ns()
        held = lock.locked()
        print('CHECK', t, held, flush=True)
        await asyncio.sleep(0.001)

asyncio.run(main(sys.argv[1], sys.argv[2]))
'''


async def test_a_paused_holders_first_check_after_resuming_is_not_locked(zk, servers):
    """The holder process is paused (SIGSTOP) past its session timeout while another
    process takes the lock; once resumed, its first ``locked()`` must not say True."""
    holder = await asyncio.create_subprocess_exec(
        sys.executable, '-c', HOLDER, servers, zk.chroot, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    try:
        line = await asyncio.wait_for(holder.stdout.readline(), 30)
        while line and not line.startswith(b'READY'):
            line = await asyncio.wait_for(holder.stdout.readline(), 30)
        assert line.startswith(b'READY')
        # Keep the pipe drained while the holder runs, so that it never blocks on it.
        checks: list = []

        async def read() -> None:
            while True:
                line = await holder.stdout.readline()  # type: ignore[union-attr]
                if not line:
                    return
                if line.startswith(b'CHECK'):
                    _, t, held = line.split()
                    checks.append((int(t), held == b'True'))

        reader = asyncio.ensure_future(read())
        await freeze(holder.pid)
        other = zk.recipes.Lock('/lock')
        await other.acquire(timeout=30)
        resumed = time.time_ns()
        holder.send_signal(signal.SIGCONT)
        for _ in range(1000):
            if sum(1 for t, _ in checks if t >= resumed) >= 50:
                break
            await asyncio.sleep(0.01)
        after = [held for t, held in checks if t >= resumed]
        assert after, 'no check after the resume'
        assert not any(after), f'checks after the resume (first first): {after[:50]}'
        await other.release()
        reader.cancel()
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    (length,) = struct.unpack('>i', await reader.readexactly(4))
    return await reader.readexactly(length)


async def test_a_server_that_sends_garbage_is_named():
    """A server whose replies carry unknown xids: with the default retry policy (forever),
    the call still ends, with ``exc.ProtocolError`` naming the cause and the server."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_frame(reader)
            response = struct.pack('>iiqi', 0, 10_000, 0x79, 16) + b'\x07' * 16 + b'\x00'
            writer.write(struct.pack('>i', len(response)) + response)
            while True:
                (xid,) = struct.unpack('>i', (await _read_frame(reader))[:4])
                reply = struct.pack('>iqi', xid + 1000, 1, 0)
                writer.write(struct.pack('>i', len(reply)) + reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(serve, '127.0.0.1', 0)
    address = '%s:%d' % server.sockets[0].getsockname()[:2]
    try:
        start = time.monotonic()
        # Garbage right after every handshake ends the attempts: the start itself may
        # already fail with the cause, or else the call does.
        with pytest.raises(exc.ProtocolError) as failed:
            async with aiozk.ZKClient(address) as zk:
                await asyncio.wait_for(zk.get_data('/'), 30)
        assert time.monotonic() - start < 10
        assert address in str(failed.value) and 'xid' in str(failed.value), str(failed.value)
    finally:
        server.close()


async def test_fenced_transactions_write_only_while_the_lock_is_held(zk, zk2):
    from aiozk.recipes.base_lock import LockLostError

    await zk.create('/state', 'initial')
    lock = zk.recipes.Lock('/fence-lock')
    await lock.acquire()
    txn = lock.fenced_transaction()
    txn.set_data('/state', 'held')
    assert await txn.commit()
    assert await zk.get_data('/state') == b'held'

    # Built while held, committed after the lock node is gone: nothing is written.
    late = lock.fenced_transaction()
    late.set_data('/state', 'too late')
    (node,) = await zk2.get_children('/fence-lock')
    await zk2.delete('/fence-lock/' + node)
    assert await asyncio.wait_for(lock.wait_lost(), 10) == 'node_deleted'
    result = await late.commit()
    assert not result and result.error is not None and result.error.index == 0
    assert await zk.get_data('/state') == b'held'
    with pytest.raises(LockLostError):
        lock.fenced_transaction()
    await lock.release()

    election = zk.recipes.LeaderElection('/fence-election')
    with pytest.raises(LockLostError):
        election.fenced_transaction()
    await election.volunteer()
    await election.wait_for_leadership(10)
    txn = election.fenced_transaction()
    txn.set_data('/state', 'leader')
    assert await txn.commit()
    assert await zk.get_data('/state') == b'leader'
    await election.resign()


async def test_start_reports_servers_that_answer_the_handshake_with_garbage():
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _read_frame(reader)
            writer.write(struct.pack('>i', 3) + b'\x01\x02\x03')
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, '127.0.0.1', 0)
    address = '%s:%d' % server.sockets[0].getsockname()[:2]
    try:
        zk = aiozk.ZKClient(address)
        start = time.monotonic()
        with pytest.raises(exc.ProtocolError) as failed:
            await zk.start(timeout=60)
        assert time.monotonic() - start < 15
        assert address in str(failed.value), str(failed.value)
    finally:
        server.close()
