"""A line-oriented driver around kazoo's recipes, for interoperability tests.

Usage: python kazoo_peer.py CONNECT SESSION_SECONDS

One command per line on standard input, one answer per line on standard output (PATH is a
recipe path, SECONDS a timeout):
  lock PATH SECONDS | unlock PATH      Lock: "acquired"/"timeout", "released"
  read PATH SECONDS | unread PATH      ReadLock
  write PATH SECONDS | unwrite PATH    WriteLock
  elect PATH ID | leader PATH SECONDS | unelect PATH
                                       Election: "started", "leader"/"timeout", "stopped"
  contend PATH N DIR                   N acquisitions of the Lock at PATH, each holding the
                                       marker DIR/holder: "contended N OVERLAPS"
  counter_add PATH N CURATOR           N increments of the Counter at PATH (with
                                       support_curator when CURATOR is 1): "counter VALUE"
  barrier_set PATH | barrier_remove PATH | barrier_wait PATH SECONDS
                                       Barrier: "set", "removed", "passed"/"blocked"
  sem PATH MAX SECONDS | unsem PATH    Semaphore of MAX leases: "acquired"/"timeout",
                                       "released" (the oldest lease taken here)
  party_join PATH NAME | party_members PATH | party_leave PATH
                                       Party: "joined", the members' names sorted and
                                       joined by commas, "left"
  dbarrier_enter PATH N | dbarrier_leave PATH
                                       DoubleBarrier of N members: "entered", "left"
  quit

The marker: a holder creates DIR/holder exclusively, adds one to the number in DIR/counter
(the shared fencing counter: a lost update shows two holders), appends a line to DIR/log,
waits a few milliseconds and deletes the marker. Finding the marker already there means another holder
holds the lock at the same time: an overlap (counted, and the marker left alone).
"""
import os
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import LockTimeout


def main():
    zk = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[2]))
    zk.start(timeout=30)
    locks, elections, leases, parties, dbarriers = {}, {}, {}, {}, {}

    def lock(kind, path):
        key = (kind, path)
        if key not in locks:
            make = {"lock": zk.Lock, "read": zk.ReadLock, "write": zk.WriteLock}[kind]
            locks[key] = make(path, "kazoo-peer")
        return locks[key]

    def acquire(kind, path, seconds):
        try:
            ok = lock(kind, path).acquire(timeout=float(seconds))
        except LockTimeout:
            ok = False
        return "acquired" if ok else "timeout"

    def elect(path, ident):
        election = zk.Election(path, ident)
        won, stop = threading.Event(), threading.Event()

        def lead():
            won.set()
            stop.wait()

        thread = threading.Thread(target=election.run, args=(lead,), daemon=True)
        elections[path] = (election, won, stop, thread)
        thread.start()
        return "started"

    def unelect(path):
        election, _won, stop, thread = elections.pop(path)
        stop.set()
        election.cancel()
        thread.join(30)
        return "stopped"

    def contend(path, n, directory):
        marker = os.path.join(directory, "holder")
        log = os.path.join(directory, "log")
        the_lock = lock("lock", path)
        done = overlaps = 0
        while done < n:
            try:
                if not the_lock.acquire(timeout=60):
                    continue
            except LockTimeout:
                continue
            try:
                try:
                    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    overlaps += 1
                    continue
                os.close(fd)
                counter = os.path.join(directory, "counter")
                try:
                    with open(counter) as f:
                        value = int(f.read().strip() or 0)
                except FileNotFoundError:
                    value = 0
                with open(counter, "w") as f:
                    f.write(str(value + 1))
                with open(log, "a") as f:
                    f.write("kazoo\n")
                time.sleep(0.003)
                os.unlink(marker)
            finally:
                done += 1
                the_lock.release()
        return "contended %d %d" % (done, overlaps)

    print("ready", flush=True)
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "quit":
            break
        try:
            cmd = w[0]
            if cmd in ("lock", "read", "write"):
                out = acquire(cmd, w[1], w[2])
            elif cmd in ("unlock", "unread", "unwrite"):
                lock(cmd[2:], w[1]).release()
                out = "released"
            elif cmd == "elect":
                out = elect(w[1], w[2] if len(w) > 2 else "")
            elif cmd == "leader":
                won = elections[w[1]][1].wait(float(w[2]))
                out = "leader" if won else "timeout"
            elif cmd == "unelect":
                out = unelect(w[1])
            elif cmd == "counter_add":
                counter = zk.Counter(w[1], support_curator=w[3] == "1")
                for _ in range(int(w[2])):
                    counter += 1
                out = "counter %d" % counter.post_value
            elif cmd == "barrier_set":
                zk.Barrier(w[1]).create()
                out = "set"
            elif cmd == "barrier_remove":
                zk.Barrier(w[1]).remove()
                out = "removed"
            elif cmd == "barrier_wait":
                out = "passed" if zk.Barrier(w[1]).wait(float(w[2])) else "blocked"
            elif cmd == "sem":
                sem = zk.Semaphore(w[1], "kazoo-peer", max_leases=int(w[2]))
                try:
                    got = sem.acquire(timeout=float(w[3]))
                except LockTimeout:
                    got = False
                if got:
                    leases.setdefault(w[1], []).append(sem)
                    out = "acquired"
                else:
                    out = "timeout"
            elif cmd == "unsem":
                leases[w[1]].pop(0).release()
                out = "released"
            elif cmd == "party_join":
                parties[w[1]] = zk.Party(w[1], w[2])
                parties[w[1]].join()
                out = "joined"
            elif cmd == "party_members":
                out = ",".join(sorted(zk.Party(w[1])))
            elif cmd == "party_leave":
                parties.pop(w[1]).leave()
                out = "left"
            elif cmd == "dbarrier_enter":
                dbarriers[w[1]] = zk.DoubleBarrier(w[1], int(w[2]), "kazoo-peer")
                dbarriers[w[1]].enter()
                out = "entered"
            elif cmd == "dbarrier_leave":
                dbarriers.pop(w[1]).leave()
                out = "left"
            elif cmd == "contend":
                out = contend(w[1], int(w[2]), w[3])
            else:
                out = "error unknown command " + cmd
        except Exception as e:  # reported to the test, which fails on it
            out = "error " + repr(e).replace("\n", " ")
        print(out, flush=True)
    for path in list(elections):
        unelect(path)
    zk.stop()
    zk.close()


main()
