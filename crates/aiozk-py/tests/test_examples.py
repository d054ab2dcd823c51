"""aiozk's two documented examples, verbatim but for the server address."""

from __future__ import annotations

import asyncio
import contextlib
import io
import textwrap

GETTING_STARTED = '''
import aiozk
import asyncio


async def main():
    zk = aiozk.ZKClient('server1:2181,server2:2181,server3:2181')
    await zk.start()
    await zk.ensure_path('/greeting/to')
    await zk.create('/greeting/to/world', 'hello world')
    data = await zk.get_data('/greeting/to/world')
    print(data)
    # b'hello world' is printed
    await zk.delete('/greeting/to/world')
    await zk.close()


asyncio.run(main())
'''

LOCK_RECIPE = '''
import aiozk
import asyncio


async def main():
    zk = aiozk.ZKClient('localhost:2181')
    await zk.start()
    lock = zk.recipes.Lock('/path/to/lock')
    async with await lock.acquire():
        print('do some critical stuff')
    await zk.close()


asyncio.run(main())
'''


def run_example(source: str, servers: str, placeholder: str) -> str:
    code = textwrap.dedent(source).replace(placeholder, servers)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, '<example>', 'exec'), {'__name__': '__main__'})  # noqa: S102
    return out.getvalue()


def test_getting_started(servers):
    out = run_example(GETTING_STARTED, servers, 'server1:2181,server2:2181,server3:2181')
    assert out == "b'hello world'\n"


def test_lock_recipe(servers):
    out = run_example(LOCK_RECIPE, servers, 'localhost:2181')
    assert out == 'do some critical stuff\n'


def test_lock_left_no_node(servers):
    import aiozk

    async def check():
        async with aiozk.ZKClient(servers) as zk:
            assert await zk.get_children('/path/to/lock') == []
            await zk.deleteall('/path')
            await zk.deleteall('/greeting')

    asyncio.run(check())
