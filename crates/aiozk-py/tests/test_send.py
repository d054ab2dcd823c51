"""``ZKClient.send`` over every request record of aiozk 0.32.0's ``aiozk.protocol``.

The set of records is read from aiozk's own sources (the sdist that ``scripts/test.sh``
downloads; ``AIOZK_REFERENCE`` names its ``aiozk`` directory), so a record missing here, or
without a case below, fails the test. Every record can be imported from where aiozk
defines it, and either works with ``send`` or raises ``NotImplementedError`` naming what
to use instead.
"""

from __future__ import annotations

import ast
import importlib
import os
import pathlib
from typing import Dict, List, Set, Tuple

import pytest

import aiozk
from aiozk import ACL, exc, protocol as p
from aiozk.protocol.stat import Stat

CRATE = pathlib.Path(__file__).resolve().parent.parent


def reference() -> pathlib.Path:
    default = CRATE.parent.parent / 'target' / 'aiozk-suite' / 'aiozk-0.32.0' / 'aiozk'
    path = pathlib.Path(os.environ.get('AIOZK_REFERENCE', default))
    if not (path / 'protocol' / '__init__.py').is_file():
        raise AssertionError(f'aiozk 0.32.0 sources not found at {path}: run scripts/test.sh once (it downloads them)')
    return path


# Modules and classes of aiozk's protocol package that are its wire encoding, which the
# Rust client owns: they have no counterpart here.
WIRE_FORMAT = {'primitives'}
WIRE_CLASSES = {
    'MultiHeader': 'the header of each operation inside a multi request (wire framing)',
    'ResponseMeta': "the metaclass that fills aiozk's response_xref (here a plain dict)",
    'StatPersisted': 'the Stat as stored in snapshots; no reply carries it',
}


def aiozk_classes() -> List[Tuple[str, str]]:
    """``(module, class)`` for every class aiozk's protocol modules define."""
    found = []
    for file in sorted((reference() / 'protocol').glob('*.py')):
        module = file.stem
        if module in WIRE_FORMAT or module == '__init__':
            continue
        for node in ast.parse(file.read_text()).body:
            if isinstance(node, ast.ClassDef) and node.name not in WIRE_CLASSES:
                found.append((module, node.name))
    return found


def aiozk_exports() -> Set[str]:
    """The names ``aiozk.protocol`` exports (imported or assigned in its ``__init__``)."""
    tree = ast.parse((reference() / 'protocol' / '__init__.py').read_text())
    names: Set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            names.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_record_can_be_imported_from_where_aiozk_defines_it():
    classes = aiozk_classes()
    assert len(classes) >= 40, classes
    for module, name in classes:
        mod = importlib.import_module(f'aiozk.protocol.{module}')
        assert hasattr(mod, name), f'aiozk.protocol.{module}.{name}'
    for name in aiozk_exports():
        assert hasattr(p, name), f'aiozk.protocol.{name}'
    assert p.response_xref[p.GetDataResponse.opcode] is p.GetDataResponse
    assert p.SPECIAL_XIDS == (p.AUTH_XID, p.PING_XID, p.CLOSE_XID)


# How each request record is sent: the fields, and what must happen. 'works' records are
# checked against the server below; the others must raise NotImplementedError naming the
# alternative (the text to find in the message).
REFUSED: Dict[str, str] = {
    'ConnectRequest': 'ZKClient.start()',
    'SASLRequest': 'ZKClient(sasl=',
    'SetWatchesRequest': 'watch=True',
    'CheckWatchesRequest': "stats()['live_watches']",
    'RemoveWatchesRequest': 'PersistentWatch.remove()',
    'CheckVersionRequest': 'begin_transaction().check_version()',
}
WORKS = {
    'ExistsRequest',
    'GetDataRequest',
    'SetDataRequest',
    'CreateRequest',
    'Create2Request',
    'DeleteRequest',
    'GetChildrenRequest',
    'GetChildren2Request',
    'GetACLRequest',
    'SetACLRequest',
    'SyncRequest',
    'AuthRequest',
    'PingRequest',
    'CloseRequest',
    'ReconfigRequest',
    'TransactionRequest',
}


def test_every_request_record_has_a_case():
    requests = {name for _, name in aiozk_classes() if name.endswith('Request') and name != 'Request'}
    assert requests == WORKS | set(REFUSED), (requests - WORKS - set(REFUSED), (WORKS | set(REFUSED)) - requests)


async def test_refused_records_name_the_alternative(zk):
    for name, alternative in REFUSED.items():
        record = getattr(p, name)()
        with pytest.raises(NotImplementedError) as info:
            await zk.send(record)
        assert name in str(info.value) and alternative in str(info.value), str(info.value)
    with pytest.raises(TypeError):
        await zk.send(object())  # type: ignore[arg-type]


async def test_records_that_work(zk, servers):
    sent: Set[str] = set()

    async def send(record: p.Request) -> p.Response:
        sent.add(type(record).__name__)
        return await zk.send(record)

    created = await send(p.CreateRequest(path='/s', data=b'one', acl=None, flags=0))
    assert isinstance(created, p.CreateResponse) and created.path == '/s'
    req = p.Create2Request(path='/s/e-', data=b'', acl=[ACL.make('world', 'anyone', read=True, write=True, create=True, delete=True, admin=True)])
    req.set_flags(ephemeral=True, sequential=True)
    created2 = await send(req)
    assert isinstance(created2, p.Create2Response) and created2.path.startswith('/s/e-') and isinstance(created2.stat, Stat)
    assert (await zk.stat(created2.path)).ephemeral_owner == zk.session_id

    exists = await send(p.ExistsRequest(path='/s', watch=False))
    assert isinstance(exists, p.ExistsResponse) and exists.stat.num_children == 1
    with pytest.raises(exc.NoNode):
        await send(p.ExistsRequest(path='/missing', watch=False))
    data = await send(p.GetDataRequest(path='/s', watch=False))
    assert isinstance(data, p.GetDataResponse) and data.data == b'one'
    updated = await send(p.SetDataRequest(path='/s', data=b'two', version=0))
    assert isinstance(updated, p.SetDataResponse) and updated.stat.version == 1
    with pytest.raises(exc.BadVersion):
        await send(p.SetDataRequest(path='/s', data=b'x', version=0))
    children = await send(p.GetChildrenRequest(path='/s', watch=False))
    assert isinstance(children, p.GetChildrenResponse) and children.children == [created2.path.rsplit('/', 1)[1]]
    children2 = await send(p.GetChildren2Request(path='/s', watch=False))
    assert isinstance(children2, p.GetChildren2Response) and children2.stat.num_children == 1
    acl = await send(p.GetACLRequest(path='/s'))
    assert isinstance(acl, p.GetACLResponse) and acl.acl == [p.UNRESTRICTED_ACCESS]
    set_acl = await send(p.SetACLRequest(path='/s', acl=[p.UNRESTRICTED_ACCESS], version=0))
    assert isinstance(set_acl, p.SetACLResponse) and set_acl.stat.acl_version == 1
    synced = await send(p.SyncRequest(path='/s'))
    assert isinstance(synced, p.SyncResponse)
    assert isinstance(await send(p.AuthRequest(type=0, scheme='digest', auth='frank:pw')), p.AuthResponse)
    assert ('digest', 'frank') in await zk.whoami()
    assert isinstance(await send(p.PingRequest()), p.PingResponse)
    deleted = await send(p.DeleteRequest(path=created2.path, version=-1))
    assert isinstance(deleted, p.DeleteResponse) and not await zk.exists(created2.path)

    # reconfig reaches the server, which refuses it (reconfigEnabled is off).
    with pytest.raises((exc.ReconfigDisabled, exc.Unimplemented)):
        await send(p.ReconfigRequest(joining_servers='server.9=127.0.0.1:2888:3888;2181', leaving_servers=None, new_members=None, current_config_id=-1))

    txn = p.TransactionRequest()
    txn.add(p.CheckVersionRequest(path='/s', version=1))
    txn.add(p.CreateRequest(path='/s/t', data=b't', acl=None, flags=0))
    txn.add(p.Create2Request(path='/s/u', data=None, acl=None, flags=0))
    txn.add(p.SetDataRequest(path='/s', data=b'three', version=1))
    txn.add(p.DeleteRequest(path='/s/t', version=-1))
    result = await send(txn)
    assert isinstance(result, p.TransactionResponse)
    kinds = [type(r) for r in result.responses]
    assert kinds == [p.CheckVersionResponse, p.CreateResponse, p.Create2Response, p.SetDataResponse, p.DeleteResponse]
    # (a created node's Stat comes with it from ZooKeeper 3.8.2 and 3.9.0 on)
    assert result.responses[1].path == '/s/t' and result.responses[2].path == '/s/u'
    assert await zk.get_data('/s') == b'three' and await zk.get_data('/s/u') is None
    failing = p.TransactionRequest()
    failing.add(p.CreateRequest(path='/s/v', data=b'', acl=None, flags=0))
    failing.add(p.DeleteRequest(path='/missing', version=-1))
    failed = await send(failing)
    assert [type(r) for r in failed.responses] == [exc.RolledBack, exc.NoNode]
    assert not await zk.exists('/s/v')
    assert (await send(p.TransactionRequest())).responses == []

    closing = aiozk.ZKClient(servers)
    await closing.start()
    sent.add('CloseRequest')
    assert isinstance(await closing.send(p.CloseRequest()), p.CloseResponse)
    assert closing.state == 'closed'
    assert sent == WORKS
