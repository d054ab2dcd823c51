"""Fixtures of the package's own tests: one real ZooKeeper server for the session.

The server is the project's test kit, ``zk-testkit serve`` with TTL nodes, SASL
DIGEST-MD5 (user ``bob``) and a TLS port: ``ZK_TESTKIT`` names a built ``zk-testkit``,
else it is run with ``cargo run``. It stops when its stdin is closed at the end of the
session.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import uuid
from typing import Any, Dict, Iterator

import pytest

import aiozk

CRATE = pathlib.Path(__file__).resolve().parent.parent


def _test_server(*options: str) -> Iterator[Dict[str, Any]]:
    binary = os.environ.get('ZK_TESTKIT')
    if binary:
        cmd = [binary]
    else:
        cmd = ['cargo', 'run', '--quiet', '--manifest-path', str(CRATE.parent / 'aiozk-testkit' / 'Cargo.toml'),
               '--bin', 'zk-testkit', '--']
    cmd += ['serve', *(options or ('--ttl', '--sasl', 'bob:bobsecret', '--tls'))]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError(f'the test server did not start (exit status {proc.wait()})')
        yield json.loads(line)
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope='session')
def zk_server() -> Iterator[Dict[str, Any]]:
    yield from _test_server()


@pytest.fixture
def private_server() -> Iterator[Dict[str, Any]]:
    """A server of its own for one test (which may freeze it: ``pid`` is the JVM's)."""
    yield from _test_server()


@pytest.fixture
def kerberos_server() -> Iterator[Dict[str, Any]]:
    """A server that requires Kerberos, with a KDC of its own: ``kerberos_servers``,
    ``krb5_conf``, ``keytab`` and ``principal``."""
    yield from _test_server('--kerberos')


@pytest.fixture
def servers(zk_server: Dict[str, Any]) -> str:
    return zk_server['plain']


@pytest.fixture
def path() -> str:
    return f'/{uuid.uuid4().hex}'


@pytest.fixture
async def zk(servers: str) -> Any:
    client = aiozk.ZKClient(servers, chroot=f'/aiozk-py-{uuid.uuid4().hex}', session_timeout=6)
    await client.start(timeout=30)
    yield client
    try:
        await client.deleteall('/')
    except aiozk.exc.NoNode:
        pass
    await client.close()


@pytest.fixture
async def zk2(zk: Any, servers: str) -> Any:
    """A second client with the same chroot as ``zk``."""
    client = aiozk.ZKClient(servers, chroot=zk.chroot, session_timeout=6)
    await client.start(timeout=30)
    yield client
    await client.close()
