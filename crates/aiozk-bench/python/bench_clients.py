"""The benchmark workloads for the Python clients: kazoo, aiozk, aiozk on uvloop, and this
workspace's package aiozk-rs (same import name and API as aiozk; on asyncio and on uvloop).

Run by `aiozk-bench run` inside the virtual environments it creates (target/bench-venv for
the PyPI clients, target/bench-venv-rs for aiozk-rs).
Prints the same JSON lines as `aiozk-bench client`: {"mark": "start"} and {"mark": "end"}
around the measured phase, {"mark": "registered"} once the watches are set (the harness then
cuts the connection), and one {"result": {...}} line.
"""

import argparse
import asyncio
import collections
import json
import logging
import sys
import threading
import time

DATA100 = "/bench/data100"
BIG = "/bench/big"
BIG_LEN = 1_000_000
CHILDREN = "/bench/children"
CHILDREN100 = "/bench/children100"
SET = "/bench/set"
CD = "/bench/cd"
WATCH = "/bench/w"

INFLIGHT = {
    "get1": 1,
    "get100": 100,
    "exists100": 100,
    "set100": 100,
    "create_delete100": 100,
    "children10k": 1,
    "get1mb": 1,
    "children100": 100,
    "spread_get1": 1000,
    "spread_get3": 1000,
    "sessions": 16,
    "watches": 100,
    "pwatches": 100,
}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def mark(name):
    emit({"mark": name})


def status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def cpu():
    return time.process_time()


def watch_path(i):
    return f"{WATCH}/{i:08d}"


class Tally:
    def __init__(self):
        self.lat = []
        self.ops = 0
        self.errors = 0
        self.first_error = None

    def ok(self, t0):
        self.ops += 1
        self.lat.append(time.perf_counter() - t0)

    def err(self, e):
        self.errors += 1
        if self.first_error is None:
            self.first_error = repr(e)


def pct(sorted_lat, p):
    if not sorted_lat:
        return 0.0
    return sorted_lat[round((len(sorted_lat) - 1) * p)] * 1e6


def timed_result(args, tally, elapsed, cpu_s):
    lat = sorted(tally.lat)
    return {
        "client": args.client,
        "workload": args.workload,
        "ops": tally.ops,
        "errors": tally.errors,
        "first_error": tally.first_error,
        "elapsed_s": elapsed,
        "cpu_s": cpu_s,
        "p50_us": pct(lat, 0.5),
        "p99_us": pct(lat, 0.99),
        "peak_rss": status_bytes("VmHWM"),
    }


class Counted:
    def __init__(self, args):
        self.f = {"client": args.client, "workload": args.workload, "errors": 0}

    def phase(self, ops, t0, cpu0, rss0):
        self.f["ops"] = ops
        self.f["elapsed_s"] = time.perf_counter() - t0
        self.f["cpu_s"] = cpu() - cpu0
        self.f["rss_per_item"] = (status_bytes("VmRSS") - rss0) / max(ops, 1)

    def finish(self):
        self.f["peak_rss"] = status_bytes("VmHWM")
        return self.f


# ----------------------------------------------------------------------------- kazoo


def kazoo_main(args):
    from kazoo.client import KazooClient
    from kazoo.protocol.states import KazooState

    logging.getLogger("kazoo").setLevel(logging.CRITICAL)

    def connect():
        zk = KazooClient(hosts=args.server, timeout=30)
        zk.start(timeout=30)
        return zk

    w = args.workload
    if w == "pwatches":
        return {"client": args.client, "workload": w, "unsupported": "kazoo has no persistent watches"}
    if w == "sessions":
        out = Counted(args)
        rss0 = status_bytes("VmRSS")
        mark("start")
        t0, c0 = time.perf_counter(), cpu()
        clients = []
        for _ in range(args.count):
            zk = connect()
            zk.get(DATA100)
            clients.append(zk)
        out.phase(args.count, t0, c0, rss0)
        mark("end")
        for zk in clients:
            zk.stop()
            zk.close()
        return out.finish()

    zk = connect()
    try:
        if w == "watches":
            return kazoo_watches(args, zk, KazooState)
        n = INFLIGHT[w]
        deadline = time.perf_counter() + args.seconds
        tally = Tally()
        if n == 1:
            path = {"get1": DATA100, "children10k": CHILDREN, "get1mb": BIG}[w]
            op = zk.get_children if w == "children10k" else zk.get
            mark("start")
            t0, c0 = time.perf_counter(), cpu()
            while True:
                s = time.perf_counter()
                if s >= deadline:
                    break
                try:
                    op(path)
                    tally.ok(s)
                except Exception as e:  # noqa: BLE001
                    tally.err(e)
        else:
            # A window of `n` asynchronous requests: wait for the oldest, send the next.
            data = b"\x07" * 100
            seq = [0]

            def start_op():
                if w == "get100":
                    return ("x", None, zk.get_async(DATA100))
                if w == "exists100":
                    return ("x", None, zk.exists_async(DATA100))
                if w == "set100":
                    return ("x", None, zk.set_async(SET, data))
                if w == "children100":
                    return ("x", None, zk.get_children_async(CHILDREN100))
                seq[0] += 1
                p = f"{CD}/{args.tag}-{seq[0]}"
                return ("create", p, zk.create_async(p, b""))

            mark("start")
            t0, c0 = time.perf_counter(), cpu()
            window = collections.deque()
            for _ in range(n):
                window.append((time.perf_counter(),) + start_op())
            while window:
                s, stage, p, r = window.popleft()
                try:
                    r.get()
                    if stage == "create":
                        window.append((s, "delete", p, zk.delete_async(p)))
                        continue
                    tally.ok(s)
                except Exception as e:  # noqa: BLE001
                    tally.err(e)
                if time.perf_counter() < deadline:
                    window.append((time.perf_counter(),) + start_op())
        elapsed, cpu_s = time.perf_counter() - t0, cpu() - c0
        mark("end")
        return timed_result(args, tally, elapsed, cpu_s)
    finally:
        zk.stop()
        zk.close()


def kazoo_watches(args, zk, KazooState):
    out = Counted(args)
    out.f["path_len"] = len(watch_path(0))
    zk.exists("/")

    def on_event(_event):
        pass

    rss0 = status_bytes("VmRSS")
    mark("start")
    t0, c0 = time.perf_counter(), cpu()
    window = collections.deque()
    for i in range(args.count):
        if len(window) >= INFLIGHT["watches"]:
            window.popleft().get()
        window.append(zk.exists_async(watch_path(i), watch=on_event))
    while window:
        window.popleft().get()
    out.phase(args.count, t0, c0, rss0)
    mark("end")

    lost, connected = threading.Event(), threading.Event()
    times = {}

    def listener(state):
        if state == KazooState.SUSPENDED and not lost.is_set():
            times["lost"] = time.perf_counter()
            lost.set()
        elif state == KazooState.CONNECTED and lost.is_set():
            times["connected"] = time.perf_counter()
            connected.set()

    zk.add_listener(listener)
    mark("registered")
    try:
        if not lost.wait(60) or not connected.wait(60):
            raise RuntimeError("no disconnection and reconnection within 60 s")
        zk.exists("/")
        done = time.perf_counter()
        out.f["recover_ms"] = (done - times["lost"]) * 1e3
        out.f["rereg_ms"] = (done - times["connected"]) * 1e3
    except Exception as e:  # noqa: BLE001
        out.f["recover_error"] = repr(e)
    return out.finish()


# ----------------------------------------------------------------------------- aiozk


async def aiozk_main(args):
    import aiozk
    from aiozk.states import States
    from aiozk.protocol import WatchEvent

    logging.getLogger("aiozk").setLevel(logging.CRITICAL)

    async def connect():
        zk = aiozk.ZKClient(args.server, session_timeout=30)
        await zk.start()
        return zk

    w = args.workload
    persistent = hasattr(aiozk.ZKClient, "add_watch")  # aiozk-rs
    if w == "pwatches" and not persistent:
        return {"client": args.client, "workload": w, "unsupported": "aiozk (Python) has no persistent watches"}
    if w == "sessions":
        out = Counted(args)
        rss0 = status_bytes("VmRSS")
        mark("start")
        t0, c0 = time.perf_counter(), cpu()
        n = INFLIGHT["sessions"]

        async def worker(k):
            mine = []
            for _ in range(k, args.count, n):
                zk = await connect()
                await zk.get_data(DATA100)
                mine.append(zk)
            return mine

        groups = await asyncio.gather(*(worker(k) for k in range(n)))
        out.phase(args.count, t0, c0, rss0)
        mark("end")
        await asyncio.gather(*(zk.close() for g in groups for zk in g))
        return out.finish()

    zk = await connect()
    try:
        if w in ("watches", "pwatches"):
            out = Counted(args)
            out.f["path_len"] = len(watch_path(0))
            await zk.exists("/")
            rss0 = status_bytes("VmRSS")
            mark("start")
            t0, c0 = time.perf_counter(), cpu()
            n = INFLIGHT["watches"]
            waiters = []

            async def reg(k):
                for i in range(k, args.count, n):
                    p = watch_path(i)
                    if w == "pwatches":
                        # aiozk-rs only: the watch is an async iterator of events.
                        waiters.append(await zk.add_watch(p))
                        continue
                    # The user's side of a watch: a future that resolves on creation.
                    waiters.append(zk.wait_for_events([WatchEvent.CREATED], p))
                    await zk.exists(p, watch=True)

            await asyncio.gather(*(reg(k) for k in range(n)))
            out.phase(args.count, t0, c0, rss0)
            mark("end")
            state = zk.session.state
            lost_f = state.wait_for(States.SUSPENDED, States.LOST)
            mark("registered")
            try:
                await asyncio.wait_for(lost_f, 60)
                lost = time.perf_counter()
                await asyncio.wait_for(state.wait_for(States.CONNECTED), 60)
                connected = time.perf_counter()
                await asyncio.wait_for(zk.exists("/"), 60)
                done = time.perf_counter()
                out.f["recover_ms"] = (done - lost) * 1e3
                out.f["rereg_ms"] = (done - connected) * 1e3
            except Exception as e:  # noqa: BLE001
                out.f["recover_error"] = repr(e)
            return out.finish()

        n = INFLIGHT[w]
        deadline = time.perf_counter() + args.seconds
        data = b"\x07" * 100

        async def worker(k):
            tally = Tally()
            i = 0
            while True:
                s = time.perf_counter()
                if s >= deadline:
                    return tally
                try:
                    if w in ("get1", "get100"):
                        await zk.get_data(DATA100)
                    elif w == "exists100":
                        await zk.exists(DATA100)
                    elif w == "set100":
                        await zk.set_data(SET, data, force=True)
                    elif w == "create_delete100":
                        p = f"{CD}/{args.tag}-{k}-{i}"
                        await zk.create(p, b"")
                        await zk.delete(p, force=True)
                    elif w == "children10k":
                        await zk.get_children(CHILDREN)
                    elif w == "children100":
                        await zk.get_children(CHILDREN100)
                    elif w == "get1mb":
                        d = await zk.get_data(BIG)
                        assert len(d) == BIG_LEN
                    tally.ok(s)
                except Exception as e:  # noqa: BLE001
                    tally.err(e)
                i += 1

        stats = getattr(getattr(aiozk, "_aiozk", None), "delivery_stats", None)  # aiozk-rs
        d0 = stats() if stats else None
        mark("start")
        t0, c0 = time.perf_counter(), cpu()
        tallies = await asyncio.gather(*(worker(k) for k in range(n)))
        elapsed, cpu_s = time.perf_counter() - t0, cpu() - c0
        mark("end")
        d1 = stats() if stats else None
        total = Tally()
        for t in tallies:
            total.lat.extend(t.lat)
            total.ops += t.ops
            total.errors += t.errors
            total.first_error = total.first_error or t.first_error
        result = timed_result(args, total, elapsed, cpu_s)
        if d0 and d1 and d1[0] > d0[0]:
            result["results_per_wakeup"] = (d1[1] - d0[1]) / (d1[0] - d0[0])
        return result
    finally:
        try:
            # After a forced reconnect with many watches, aiozk's close can time out; the
            # figures are taken already.
            await asyncio.wait_for(zk.close(), 15)
        except Exception:  # noqa: BLE001
            pass


def unsupported(args):
    """The workloads the Python clients do not run, or None."""
    if args.workload.startswith("spread_"):
        return {"client": args.client, "workload": args.workload, "unsupported": "not run with the Python clients"}
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--client", required=True, choices=["kazoo", "aiozk-py", "aiozk-py-uvloop", "aiozk-rs", "aiozk-rs-uvloop"])
    ap.add_argument("--workload", required=True, choices=sorted(INFLIGHT))
    ap.add_argument("--server", required=True)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--tag", default="x")
    args = ap.parse_args()
    skipped = unsupported(args)
    if skipped:
        result = skipped
    elif args.client == "kazoo":
        result = kazoo_main(args)
    else:
        if args.client.endswith("-uvloop"):
            import uvloop

            result = uvloop.run(aiozk_main(args))
        else:
            result = asyncio.run(aiozk_main(args))
    emit({"result": result})


if __name__ == "__main__":
    main()
