"""Every public method of ``aiozk::Client`` and ``aiozk::ClientBuilder``, and every public
item of ``aiozk-recipes`` with its methods, has a Python counterpart, or a reason in
``tests/parity.txt`` why it has none.

The Rust side is read from rustdoc's JSON output of the two crates (``AIOZK_RUSTDOC_JSON``
names a directory holding ``aiozk.json`` and ``aiozk_recipes.json``; otherwise the test
runs rustdoc itself), so a new method or recipe fails this test until it is given a
counterpart or a reason.
"""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import re
import subprocess
from typing import Any, Dict, Iterator, List, Optional, Tuple

import aiozk
import aiozk.recipes

CRATE = pathlib.Path(__file__).resolve().parent.parent
ROOT = CRATE.parent.parent
TABLE = CRATE / 'tests' / 'parity.txt'


def rustdoc_json(crate: str) -> Dict[str, Any]:
    """rustdoc's JSON description of ``crate`` (its library target)."""
    given = os.environ.get('AIOZK_RUSTDOC_JSON')
    if given:
        directory = pathlib.Path(given)
    else:
        target = pathlib.Path(os.environ.get('CARGO_TARGET_DIR', ROOT / 'target')) / 'rustdoc-json'
        # The JSON output is an unstable rustdoc option: RUSTC_BOOTSTRAP lets the project's
        # own (stable) toolchain produce it.
        subprocess.run(
            ['cargo', 'rustdoc', '-q', '-p', crate, '--lib', *(['--features', 'gssapi'] if crate == 'aiozk' else []),
             '--target-dir', str(target), '--', '-Zunstable-options', '--output-format', 'json'],
            cwd=ROOT, check=True, env={**os.environ, 'RUSTC_BOOTSTRAP': '1'},
        )  # fmt: skip
        directory = target / 'doc'
    with open(directory / f'{crate.replace("-", "_")}.json') as f:
        return json.load(f)


def public_items(doc: Dict[str, Any]) -> Dict[str, Dict[str, Any]]:
    """The items reachable from the crate root by public paths, by name (re-exports and
    glob re-exports followed)."""
    index = doc['index']
    found: Dict[str, Dict[str, Any]] = {}
    visited = set()

    def walk(module_id: Any) -> None:
        if module_id in visited:
            return
        visited.add(module_id)
        for item_id in index[str(module_id)]['inner']['module']['items']:
            item = index.get(str(item_id))
            if item is None or item['visibility'] != 'public':
                continue
            kind = next(iter(item['inner']))
            if kind == 'module':
                walk(item_id)
            elif kind == 'use':
                use = item['inner']['use']
                target = index.get(str(use['id'])) if use['id'] is not None else None
                if target is None:
                    continue
                if next(iter(target['inner'])) == 'module':
                    walk(use['id'])
                elif not use['is_glob']:
                    found[use['name']] = target
            else:
                found[item['name']] = item
    walk(doc['root'])
    return found


def inherent_methods(doc: Dict[str, Any], item: Dict[str, Any]) -> List[str]:
    """The public functions of ``item``'s inherent impls (no trait impls), in order."""
    index = doc['index']
    kind = next(iter(item['inner']))
    names = []
    for impl_id in item['inner'][kind].get('impls', []):
        impl = index[str(impl_id)]['inner']['impl']
        if impl['trait'] is not None or impl.get('is_synthetic') or impl.get('blanket_impl'):
            continue
        for member_id in impl['items']:
            member = index[str(member_id)]
            if member['visibility'] == 'public' and 'function' in member['inner']:
                names.append(member['name'])
    return names


def rust_surface() -> List[str]:
    """``Client::m``, ``ClientBuilder::m``, and every recipe item ``T`` and ``T::m``."""
    keys = []
    client = rustdoc_json('aiozk')
    items = public_items(client)
    for owner in ('Client', 'ClientBuilder'):
        keys += [f'{owner}::{m}' for m in inherent_methods(client, items[owner])]
    recipes = rustdoc_json('aiozk-recipes')
    for name, item in sorted(public_items(recipes).items()):
        keys.append(name)
        if next(iter(item['inner'])) in ('struct', 'enum'):
            keys += [f'{name}::{m}' for m in inherent_methods(recipes, item)]
    return keys


def table() -> Dict[str, Tuple[Optional[str], str]]:
    """``tests/parity.txt``: Rust item -> (Python counterpart or None, reason or note)."""
    entries: Dict[str, Tuple[Optional[str], str]] = {}
    for number, line in enumerate(TABLE.read_text().splitlines(), 1):
        if not line.strip() or line.startswith('#'):
            continue
        key, _, rest = line.partition(' ')
        rest = rest.strip()
        assert key not in entries, f'parity.txt:{number}: {key} listed twice'
        if rest.startswith('--'):
            reason = rest[2:].strip()
            assert len(reason) > 20, f'parity.txt:{number}: {key} needs a reason'
            entries[key] = (None, reason)
        else:
            counterpart, _, note = rest.partition('#')
            assert counterpart.strip(), f'parity.txt:{number}: {key} needs a counterpart or "-- reason"'
            entries[key] = (counterpart.strip(), note.strip())
    return entries


def default_counterpart(key: str) -> str:
    owner, _, method = key.partition('::')
    if owner == 'Client':
        return f'zk.{method}'
    if owner == 'ClientBuilder':
        return f'aiozk.ZKClient({method})'
    return f'recipes.{owner}.{method}' if method else f'recipes.{owner}'


def sample_namespace() -> Dict[str, Any]:
    # A client that is never started: its attributes are what the counterparts name.
    return {'zk': aiozk.ZKClient('127.0.0.1:1', chroot='/parity'), 'aiozk': aiozk, 'recipes': aiozk.recipes}


def instance_attributes(cls: type) -> Iterator[str]:
    """Names assigned as ``self.<name>`` in the ``__init__`` of ``cls`` or its bases."""
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None or not inspect.isfunction(init):
            continue
        yield from re.findall(r'self\.(\w+)\s*(?::[^=\n]+)?=', inspect.getsource(init))


def resolve(expression: str, namespace: Dict[str, Any]) -> None:
    """Checks that ``a.b.c(param, ...)`` names an attribute (through classes, modules,
    instances, or attributes set in ``__init__``) whose signature has those parameters."""
    match = re.fullmatch(r'([\w.]+)(?:\(([\w, ]*)\))?', expression)
    assert match, f'bad counterpart {expression!r}'
    path, params = match.group(1).split('.'), match.group(2)
    obj: Any = namespace[path[0]]
    for i, name in enumerate(path[1:], 1):
        if hasattr(obj, name):
            obj = getattr(obj, name)
        elif inspect.isclass(obj) and name in set(instance_attributes(obj)) and i == len(path) - 1:
            obj = None
        else:
            raise AssertionError(f'{".".join(path[:i + 1])} does not exist')
    if params:
        target = obj.__init__ if inspect.isclass(obj) else obj
        signature = inspect.signature(target)
        for param in (p.strip() for p in params.split(',') if p.strip()):
            assert param in signature.parameters, f'{expression}: no parameter {param!r}'


def test_every_rust_item_has_a_python_counterpart_or_a_reason():
    surface = rust_surface()
    # The crates have at least this much: a broken reading must not pass as "nothing to do".
    assert len(surface) > 150 and 'Client::get_data' in surface and 'Lock::acquire' in surface, surface
    entries = table()
    namespace = sample_namespace()
    missing = []
    for key in surface:
        counterpart, _ = entries.get(key, (default_counterpart(key), ''))
        if counterpart is None:
            continue  # a reason is given
        try:
            resolve(counterpart, namespace)
        except AssertionError as e:
            missing.append(f'{key} -> {counterpart}: {e}')
    assert not missing, 'no Python counterpart (add one, or a reason to tests/parity.txt):\n' + '\n'.join(missing)
    stale = sorted(set(entries) - set(surface))
    assert not stale, f'parity.txt lists items the Rust crates no longer have: {stale}'
