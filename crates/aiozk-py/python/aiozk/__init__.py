"""aiozk: an asyncio ZooKeeper client with the API of the Python library aiozk, on a Rust core.

Installed from the distribution ``aiozk-rs``; it provides the import name ``aiozk``, so it
must not be installed together with the pure-Python ``aiozk``. ``__version__`` is the
aiozk API version this package implements.

Quick start::

    import asyncio
    import aiozk

    async def main():
        async with aiozk.ZKClient('127.0.0.1:2181') as zk:
            await zk.ensure_path('/greeting/to')
            await zk.create('/greeting/to/world', 'hello world')
            print(await zk.get_data('/greeting/to/world'))
            await zk.delete('/greeting/to/world')

    asyncio.run(main())
"""

from . import exc, metrics, protocol, recipes, states
from ._aiozk import Kerberos, TlsOptions
from .client import ClientStats, PersistentWatch, StateChange, StateChanges, ZKClient
from .deadline import Deadline
from .protocol import ACL, WatchEvent
from .protocol.stat import Stat
from .retry import RetryPolicy
from .states import States
from .transaction import Result, Transaction

__version__ = '0.32.0'
version_info = __version__.split('.')

__all__ = [
    'ACL',
    'ClientStats',
    'Deadline',
    'Kerberos',
    'PersistentWatch',
    'Result',
    'RetryPolicy',
    'Stat',
    'StateChange',
    'StateChanges',
    'States',
    'TlsOptions',
    'Transaction',
    'WatchEvent',
    'ZKClient',
    'exc',
    'metrics',
    'protocol',
    'recipes',
    'states',
    'version_info',
]
