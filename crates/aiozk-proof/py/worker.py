"""A proof worker on the Python package: the same command line and the same JSON lines as
the Rust worker (``aiozk-proof worker``), for the register, ids and counter workloads.

Every operation becomes one line ``{"type": "op", "f": ..., "t0": ..., "t1": ..., "r":
"ok"|"fail"|"info"|"hang", ...}`` with times from ``time.monotonic_ns`` (the same clock as
the controller's). The worker stops when stdin closes, at its deadline, or after its
operation budget.
"""

import argparse
import asyncio
import json
import random
import sys
import time

import aiozk
from aiozk import exc

OP_LIMIT = 25.0
KEYS = 2
DEFINITE = {
    'NoNode', 'NodeExists', 'BadVersion', 'NotEmpty', 'BadArguments', 'NoAuth',
    'NoChildrenForEphemerals', 'InvalidPath', 'InvalidArgument', 'TransactionFailed',
}


class Worker:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed ^ (args.id << 32))
        self.ops = 0
        self.stopped = False
        self.zk = None

    def line(self, fields):
        fields['w'] = self.args.id
        sys.stdout.write(json.dumps(fields) + '\n')
        sys.stdout.flush()

    def event(self, name, **fields):
        fields.update(type='ev', ev=name, t=time.monotonic_ns())
        self.line(fields)

    def running(self):
        return (not self.stopped and time.monotonic_ns() < self.args.deadline_ns
                and self.ops < self.args.max_ops)

    def tag(self):
        return f'w{self.args.id}-{self.ops}'

    async def op(self, f, fields, make, ok):
        sid = self.zk.session_id or 0
        t0 = time.monotonic_ns()
        rec = dict(fields)
        result = None
        try:
            result = await asyncio.wait_for(make(), OP_LIMIT)
            rec.update(ok(result))
            rec['r'] = 'ok'
        except asyncio.TimeoutError:
            rec['r'] = 'hang'
        except exc.ZKError as e:
            name = type(e).__name__
            rec['err'] = name
            rec['r'] = 'fail' if name in DEFINITE else 'info'
            result = None
        t1 = time.monotonic_ns()
        self.ops += 1
        rec.update(type='op', f=f, t0=t0, t1=t1, sid=sid, sid1=self.zk.session_id or 0, lz=0)
        self.line(rec)
        return rec['r'], result

    async def pace(self, lo, hi):
        await asyncio.sleep(self.rng.randint(lo, hi) / 1000)

    async def register(self):
        seen = [0] * KEYS
        while self.running():
            k = self.rng.randrange(KEYS)
            path = f'/proof/register/k{k}'
            dice = self.rng.randrange(10)
            if dice < 4:
                r, got = await self.op(
                    'read', {'key': k}, lambda: self.zk.get(path),
                    lambda ds: {'val': (ds[0] or b'').decode(), 'ver': ds[1].version,
                                'mzxid': ds[1].last_modified_zxid})
                if r == 'ok':
                    seen[k] = got[1].version
            else:
                value = self.tag()
                version = seen[k] if dice >= 6 else None
                r, stat = await self.op(
                    'cas' if version is not None else 'write',
                    {'key': k, 'val': value, 'exp': version},
                    lambda: self.zk.set(path, value, -1 if version is None else version),
                    lambda s: {'ver': s.version, 'mzxid': s.last_modified_zxid})
                if r == 'ok':
                    seen[k] = stat.version
            await self.pace(5, 40)

    async def ids(self):
        while self.running():
            tag = self.tag()
            await self.op('create', {'tag': tag},
                          lambda: self.zk.create('/proof/ids/id-', tag, sequential=True),
                          lambda path: {'path': path})
            await self.pace(5, 30)

    async def counter(self):
        c = self.zk.recipes.Counter('/proof/counter', default=0)
        await c.start()
        while self.running():
            if self.rng.randrange(5) == 0:
                await self.op('get', {}, c.get_value, lambda v: {'val': int(v)})
            else:
                await self.op('incr', {}, lambda: c.incr(1), lambda v: {'val': int(v)})
            await self.pace(5, 30)

    async def watch_stdin(self):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read, 1)
        self.stopped = True

    async def main(self):
        asyncio.ensure_future(self.watch_stdin())
        while self.running():
            zk = aiozk.ZKClient(self.args.connect, session_timeout=self.args.session_timeout_ms / 1000)
            try:
                await asyncio.wait_for(zk.start(), 10)
                self.zk = zk
                break
            except Exception as e:  # noqa: BLE001 - any failure to start: try again
                self.event('connect-failed', err=type(e).__name__)
                await asyncio.sleep(0.2)
        if self.zk is None:
            self.event('done', connected=False)
            return
        self.event('connected', sid=self.zk.session_id or 0)
        work = {'register': self.register, 'ids': self.ids, 'counter': self.counter}
        job = work.get(self.args.workload)
        if job is None:
            self.event('done', unsupported=self.args.workload)
        else:
            await job()
        try:
            await asyncio.wait_for(self.zk.close(), 5)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self.event('done', ops=self.ops)


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--id', type=int, required=True)
    p.add_argument('--workload', required=True)
    p.add_argument('--seed', type=int, required=True)
    p.add_argument('--connect', required=True)
    p.add_argument('--session-timeout-ms', type=int, required=True)
    p.add_argument('--deadline-ns', type=int, required=True)
    p.add_argument('--max-ops', type=int, required=True)
    p.add_argument('--mutant')
    args = p.parse_args()
    # The worker's own writes must not be slowed by a blocked pipe: line-buffered JSON.
    asyncio.run(Worker(args).main())
    sys.exit(0)


if __name__ == '__main__':
    main()
