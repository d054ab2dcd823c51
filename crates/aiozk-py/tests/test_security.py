"""Additions: digest credentials, SASL DIGEST-MD5 and TLS."""

from __future__ import annotations

import uuid

import pytest

import aiozk
from aiozk import ACL, exc


async def test_add_auth_and_digest_acl(servers):
    path = f'/digest-{uuid.uuid4().hex}'
    async with aiozk.ZKClient(servers) as owner, aiozk.ZKClient(servers) as anon:
        await owner.add_auth('digest', 'alice:pw1')
        await owner.create(path, 'secret', acl=[ACL.digest('alice', 'pw1', read=True, write=True, delete=True, admin=True)])
        with pytest.raises(exc.NoAuth):
            await anon.get_data(path)
        assert await owner.get_data(path) == b'secret'
        await owner.delete(path)


async def test_auth_credentials_at_start(servers):
    path = f'/auth-{uuid.uuid4().hex}'
    async with aiozk.ZKClient(servers, auth=[('digest', 'carol:pw')]) as zk:
        await zk.create(path, 'x', acl=[aiozk.protocol.AUTHED_UNRESTRICTED])
        assert await zk.get_data(path) == b'x'
        await zk.delete(path)


async def test_sasl_digest_md5(servers):
    path = f'/sasl-{uuid.uuid4().hex}'
    async with aiozk.ZKClient(servers, sasl=('bob', 'bobsecret')) as zk:
        await zk.create(path, 's', acl=[ACL.make('sasl', 'bob', read=True, write=True, create=True, delete=True, admin=True)])
        async with aiozk.ZKClient(servers) as anon:
            with pytest.raises(exc.NoAuth):
                await anon.get_data(path)
        await zk.delete(path)


async def test_sasl_wrong_password(servers):
    zk = aiozk.ZKClient(servers, sasl=('bob', 'wrong'))
    with pytest.raises(exc.AuthFailed):
        await zk.start(timeout=20)


async def test_tls(zk_server):
    options = aiozk.TlsOptions(ca_pem=zk_server['ca_pem'].encode())
    async with aiozk.ZKClient(zk_server['tls'], tls=options) as zk:
        assert await zk.exists('/')


async def test_mutual_tls_and_tls_scheme(zk_server):
    options = aiozk.TlsOptions(
        ca_pem=zk_server['ca_pem'].encode(),
        cert_pem=zk_server['client_cert_pem'].encode(),
        key_pem=zk_server['client_key_pem'].encode(),
    )
    async with aiozk.ZKClient('tls://' + zk_server['tls'], tls=options) as zk:
        assert await zk.exists('/')


async def test_untrusted_tls_server_is_refused(zk_server):
    zk = aiozk.ZKClient(zk_server['tls'], tls=aiozk.TlsOptions(), session_timeout=4)
    with pytest.raises(exc.NoServersError):
        await zk.start(timeout=3)


def test_tls_options_take_crls_and_reject_bad_ones(tmp_path):
    with pytest.raises(exc.InvalidArgument):
        aiozk.TlsOptions(crl_pem=b'not a revocation list')
    missing = tmp_path / 'missing.crl'
    with pytest.raises(exc.InvalidArgument):
        aiozk.TlsOptions(crl_file=str(missing))
    assert 'reload' in repr(aiozk.TlsOptions(reload_files=False))


async def test_java_client_configuration_file(zk_server, tmp_path):
    (tmp_path / 'ca.pem').write_text(zk_server['ca_pem'])
    (tmp_path / 'client.pem').write_text(zk_server['client_cert_pem'] + zk_server['client_key_pem'])
    config = tmp_path / 'client.properties'
    config.write_text(
        'zookeeper.client.secure=true\n'
        f'zookeeper.ssl.trustStore.location={tmp_path / "ca.pem"}\n'
        f'zookeeper.ssl.keyStore.location={tmp_path / "client.pem"}\n'
        'zookeeper.ssl.keyStore.type=PEM\n'
        'zookeeper.request.timeout=7000\n'
        'zookeeper.sasl.client.username=zookeeper\n'
        'zookeeper.no.such.key=1\n'
    )
    with pytest.warns(exc.ClientConfigWarning) as caught:
        zk = aiozk.ZKClient(zk_server['tls'], client_config=config)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2, messages
    assert messages[0].startswith(f'{config}:6: zookeeper.sasl.client.username: ')
    assert messages[1] == f'{config}:7: zookeeper.no.such.key: unknown key; not applied'
    # The file alone turns TLS on, with its trust store and client certificate.
    await zk.start(timeout=20)
    try:
        assert await zk.exists('/')
    finally:
        await zk.close()
    # The key store is read when the session starts: one without a key is refused.
    (tmp_path / 'client.pem').write_text(zk_server['client_cert_pem'])
    with pytest.warns(exc.ClientConfigWarning):
        zk = aiozk.ZKClient(zk_server['tls'], client_config=config)
    with pytest.raises(exc.InvalidArgument, match='zookeeper.ssl.keyStore.location'):
        await zk.start(timeout=20)
    (tmp_path / 'bad.properties').write_text('zookeeper.client.secure=yes\n')
    with pytest.raises(exc.InvalidArgument, match='bad.properties:1: zookeeper.client.secure'):
        aiozk.ZKClient(zk_server['tls'], client_config=tmp_path / 'bad.properties')
