"""Kerberos (SASL GSSAPI) from Python: ``ZKClient(kerberos=aiozk.Kerberos(...))`` against a
server that requires it (``zk-testkit serve --kerberos``, with a KDC of its own), with a
keytab login and with a ticket cache that ``kinit`` filled; a client without a ticket is
refused with ``exc.AuthFailed`` saying why. The package must be built with the ``gssapi``
feature (scripts/test.sh does).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from typing import Any, Dict

import pytest

import aiozk
from aiozk import exc


@pytest.fixture
def realm(kerberos_server: Dict[str, Any]) -> Dict[str, Any]:
    # Read by the Kerberos library whenever it starts a context.
    os.environ['KRB5_CONFIG'] = kerberos_server['krb5_conf']
    return kerberos_server


@pytest.mark.asyncio
async def test_keytab_login(realm: Dict[str, Any]) -> None:
    kerberos = aiozk.Kerberos(keytab=realm['keytab'], principal=realm['principal'])
    zk = aiozk.ZKClient(realm['kerberos_servers'], kerberos=kerberos)
    await zk.start(timeout=30)
    try:
        assert ('sasl', 'client') in await zk.whoami()
        await zk.create('/kerberos-py', b'x', acl=[aiozk.ACL.make(scheme='sasl', id='client',
                                                               read=True, write=True,
                                                               create=True, delete=True,
                                                               admin=True)])
        assert await zk.get_data('/kerberos-py') == b'x'
        await zk.delete('/kerberos-py')
    finally:
        await zk.close()
    stats = kerberos.stats()
    assert stats['principal'] == realm['principal']
    assert stats['authentications'] == 1 and stats['failures'] == 0
    assert stats['ticket_valid_for'] and stats['ticket_valid_for'] > 0


@pytest.mark.asyncio
async def test_ticket_cache_and_no_ticket(realm: Dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cache = f'FILE:{tmp}/cc'
        subprocess.run(['kinit', '-k', '-t', realm['keytab'], '-c', cache, realm['principal']],
                       check=True, capture_output=True)
        zk = aiozk.ZKClient(realm['kerberos_servers'], kerberos=aiozk.Kerberos(ccache=cache))
        await zk.start(timeout=30)
        try:
            assert ('sasl', 'client') in await zk.whoami()
        finally:
            await zk.close()

        empty = aiozk.ZKClient(realm['kerberos_servers'],
                               kerberos=aiozk.Kerberos(ccache=f'FILE:{tmp}/empty'))
        with pytest.raises(exc.AuthFailed) as failed:
            await empty.start(timeout=30)
        assert 'Kerberos credentials' in str(failed.value)
        await empty.close()


def test_keytab_needs_a_principal() -> None:
    with pytest.raises(ValueError):
        aiozk.Kerberos(keytab='/nonexistent.keytab')
