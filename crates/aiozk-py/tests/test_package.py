"""The package itself: public names have docstrings, type information ships."""

from __future__ import annotations

import importlib
import inspect
import pathlib
import pkgutil

import aiozk

MODULES = [
    'aiozk', 'aiozk.client', 'aiozk.exc', 'aiozk.session', 'aiozk.states', 'aiozk.retry', 'aiozk.deadline',
    'aiozk.features', 'aiozk.transaction', 'aiozk.protocol', 'aiozk.protocol.acl', 'aiozk.protocol.stat',
    'aiozk.protocol.watches', 'aiozk.protocol.part', 'aiozk.connection', 'aiozk.iterables',
] + [f'aiozk.recipes.{m.name}' for m in pkgutil.iter_modules(aiozk.recipes.__path__)] + ['aiozk.recipes']


def public(obj):
    return [(n, getattr(obj, n)) for n in dir(obj) if not n.startswith('_')]


def test_every_public_name_has_a_docstring():
    missing = []
    for name in MODULES:
        module = importlib.import_module(name)
        assert module.__doc__, name
        for attr, value in public(module):
            if inspect.isclass(value) or inspect.isfunction(value):
                if getattr(value, '__module__', '').startswith('aiozk') and not inspect.getdoc(value):
                    missing.append(f'{name}.{attr}')
                if inspect.isclass(value) and value.__module__.startswith('aiozk'):
                    for meth, member in public(value):
                        if callable(member) or isinstance(member, property):
                            if not inspect.getdoc(member) and not isinstance(member, (int, str)):
                                missing.append(f'{name}.{attr}.{meth}')
    assert sorted(set(missing)) == []


def test_type_information_ships():
    package = pathlib.Path(aiozk.__file__).parent
    assert (package / 'py.typed').exists()
    assert (package / '_aiozk.pyi').exists()


def test_aiozk_import_surface():
    from aiozk import ACL, Deadline, RetryPolicy, WatchEvent, ZKClient  # noqa: F401
    from aiozk.protocol.stat import Stat  # noqa: F401
    from aiozk.recipes.base_lock import BaseLock, LockLostError  # noqa: F401
    from aiozk.recipes.sequential import SequentialRecipe  # noqa: F401
    from aiozk.states import SessionStateMachine, States  # noqa: F401
    from aiozk.transaction import Result, Transaction, TransactionFailed  # noqa: F401

    assert aiozk.__version__ == '0.32.0' and aiozk.version_info == ['0', '32', '0']
    assert ZKClient.__init__.__code__.co_varnames[1:9] == (
        'servers', 'chroot', 'session_timeout', 'default_acl', 'retry_policy', 'allow_read_only', 'read_timeout', 'loop',
    )
