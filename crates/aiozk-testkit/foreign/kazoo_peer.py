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
  shallow_join PATH NAME | shallow_members PATH | shallow_leave PATH
                                       ShallowParty, the same answers
  dbarrier_enter PATH N | dbarrier_leave PATH
                                       DoubleBarrier of N members: "entered", "left"
  bg NAME COMMAND...                   runs COMMAND on a thread of its own; its answer comes
                                       later as "NAME ANSWER" (the next command is read at once)
  contend_rw PATH N DIR                N acquisitions of the ReadLock/WriteLock pair at PATH
                                       (every third a write): "contended N OVERLAPS"
  contend_sem PATH MAX N DIR           N acquisitions of a Semaphore of MAX leases at PATH, each
                                       holding DIR/holders/<id>: "contended N OVERLAPS"
  contend_elect PATH N DIR             N leaderships of an Election at PATH, each holding the
                                       marker: "contended N OVERLAPS"
  dbarrier_rounds BASE N ROUNDS DIR    ROUNDS DoubleBarriers of N members, BASE/r0, BASE/r1...,
                                       each entered and left with the round markers (below):
                                       "rounds ROUNDS VIOLATIONS". Each member leaves only
                                       once all N have passed enter (DIR/rR/passed.<id>):
                                       kazoo deletes "ready" when the first member leaves, so
                                       a member cut off from the server when the barrier
                                       opened would miss the opening
  quit

The markers. An exclusive holder (a lock, a writer, a leader) creates DIR/holder
exclusively, adds one to the number in DIR/counter (the shared fencing counter: a lost update
shows two holders), appends its name to DIR/log, waits a few milliseconds and deletes the
marker. Finding the marker already there means another holder holds the lock at the same
time: an overlap (counted, appended to DIR/overlaps, and the marker left alone). A writer
also finds DIR/readers empty, before and after its wait. A reader creates DIR/readers/<id>,
finds no DIR/holder (before and after its wait), appends "NAME-read K" to DIR/log (K: the
readers it saw, itself included) and deletes its file. A lease holder creates
DIR/holders/<id>, counts the files there (more than MAX is an overlap), appends "NAME K" to
DIR/log and deletes its file. A member of a double barrier round DIR/rR creates
DIR/rR/entering.<id> before entering and DIR/rR/leaving.<id> before leaving; after entering
it finds N entering files, after leaving N leaving files, else it appends a line to
DIR/violations; in between it creates DIR/rR/passed.<id>.
"""
import os
import sys
import threading
import time
import uuid

from kazoo.client import KazooClient
from kazoo.exceptions import LockTimeout
from kazoo.retry import KazooRetry

#: How long a holder keeps its marker, in seconds.
HOLD = 0.003


def note(path, line):
    with open(path, "a") as f:
        f.write(line + "\n")


def exclusive_hold(directory, who, writer=False):
    """The exclusive holder's marker; False on an overlap."""
    marker = os.path.join(directory, "holder")
    readers = os.path.join(directory, "readers")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        note(os.path.join(directory, "overlaps"), who)
        return False
    os.close(fd)
    clean = not (writer and os.listdir(readers))
    counter = os.path.join(directory, "counter")
    try:
        with open(counter) as f:
            value = int(f.read().strip() or 0)
    except FileNotFoundError:
        value = 0
    with open(counter, "w") as f:
        f.write(str(value + 1))
    note(os.path.join(directory, "log"), who)
    time.sleep(HOLD)
    clean = clean and not (writer and os.listdir(readers))
    os.unlink(marker)
    if not clean:
        note(os.path.join(directory, "overlaps"), who + "-write")
    return clean


def read_hold(directory, who):
    """The reader's marker; False on an overlap with a writer."""
    mine = os.path.join(directory, "readers", uuid.uuid4().hex)
    open(mine, "w").close()
    marker = os.path.join(directory, "holder")
    clean = not os.path.exists(marker)
    seen = len(os.listdir(os.path.join(directory, "readers")))
    note(os.path.join(directory, "log"), "%s-read %d" % (who, seen))
    time.sleep(HOLD)
    clean = clean and not os.path.exists(marker)
    os.unlink(mine)
    if not clean:
        note(os.path.join(directory, "overlaps"), who + "-read")
    return clean


def lease_hold(directory, who, permits):
    """The lease holder's marker; False when more than ``permits`` hold at once."""
    holders = os.path.join(directory, "holders")
    mine = os.path.join(holders, uuid.uuid4().hex)
    open(mine, "w").close()
    seen = len(os.listdir(holders))
    note(os.path.join(directory, "log"), "%s %d" % (who, seen))
    time.sleep(HOLD)
    os.unlink(mine)
    if seen > permits:
        note(os.path.join(directory, "overlaps"), who)
        return False
    return True


def round_marker(directory, kind, n):
    """Creates this member's ``kind`` file; returns a check that N are there."""
    os.makedirs(directory, exist_ok=True)
    open(os.path.join(directory, "%s.%s" % (kind, uuid.uuid4().hex)), "w").close()

    def check(quiet=False):
        seen = sum(1 for f in os.listdir(directory) if f.startswith(kind + "."))
        if seen < n and not quiet:
            note(os.path.join(os.path.dirname(directory), "violations"),
                 "kazoo %s %d of %d" % (kind, seen, n))
        return seen >= n

    return check


def main():
    # Conflicting counter updates are tried again soon (kazoo's default waits 0.1 s, then
    # twice as long each time).
    retry = KazooRetry(max_tries=-1, delay=0.002, backoff=1.5, max_delay=0.05, sleep_func=time.sleep)
    zk = KazooClient(hosts=sys.argv[1], timeout=float(sys.argv[2]), command_retry=retry)
    zk.start(timeout=30)
    printing = threading.Lock()

    def say(line):
        with printing:
            print(line, flush=True)
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

    def contend_rw(path, n, directory):
        os.makedirs(os.path.join(directory, "readers"), exist_ok=True)
        reader, writer = zk.ReadLock(path, "kazoo-peer"), zk.WriteLock(path, "kazoo-peer")
        overlaps = 0
        for i in range(n):
            lock = writer if i % 3 == 0 else reader
            while True:
                try:
                    if lock.acquire(timeout=60):
                        break
                except LockTimeout:
                    pass
            try:
                ok = exclusive_hold(directory, "kazoo", writer=True) if lock is writer \
                    else read_hold(directory, "kazoo")
                overlaps += not ok
            finally:
                lock.release()
        return "contended %d %d" % (n, overlaps)

    def contend_sem(path, permits, n, directory):
        os.makedirs(os.path.join(directory, "holders"), exist_ok=True)
        overlaps = 0
        for _ in range(n):
            sem = zk.Semaphore(path, "kazoo-peer", max_leases=permits)
            while True:
                try:
                    if sem.acquire(timeout=60):
                        break
                except LockTimeout:
                    pass
            try:
                overlaps += not lease_hold(directory, "kazoo", permits)
            finally:
                sem.release()
        return "contended %d %d" % (n, overlaps)

    def contend_elect(path, n, directory):
        overlaps = []
        election = zk.Election(path, "kazoo-peer")
        for _ in range(n):
            election.run(lambda: overlaps.append(not exclusive_hold(directory, "kazoo")))
        return "contended %d %d" % (len(overlaps), sum(overlaps))

    def dbarrier_rounds(base, n, rounds, directory):
        violations = 0
        for r in range(rounds):
            here = os.path.join(directory, "r%d" % r)
            barrier = zk.DoubleBarrier("%s/r%d" % (base, r), n, "kazoo-peer")
            entered = round_marker(here, "entering", n)
            barrier.enter()
            violations += not entered()
            note(os.path.join(directory, "log"), "kazoo")
            all_passed = round_marker(here, "passed", n)
            while not all_passed(quiet=True):
                time.sleep(0.002)
            left = round_marker(here, "leaving", n)
            barrier.leave()
            violations += not left()
        return "rounds %d %d" % (rounds, violations)

    def run(w):
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
        elif cmd == "shallow_join":
            parties[w[1]] = zk.ShallowParty(w[1], w[2])
            parties[w[1]].join()
            out = "joined"
        elif cmd == "shallow_members":
            out = ",".join(sorted(zk.ShallowParty(w[1])))
        elif cmd == "shallow_leave":
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
        elif cmd == "contend_rw":
            out = contend_rw(w[1], int(w[2]), w[3])
        elif cmd == "contend_sem":
            out = contend_sem(w[1], int(w[2]), int(w[3]), w[4])
        elif cmd == "contend_elect":
            out = contend_elect(w[1], int(w[2]), w[3])
        elif cmd == "dbarrier_rounds":
            out = dbarrier_rounds(w[1], int(w[2]), int(w[3]), w[4])
        else:
            out = "error unknown command " + cmd
        return out

    def answer(w, prefix=""):
        try:
            out = run(w)
        except Exception as e:  # reported to the test, which fails on it
            out = "error " + repr(e).replace("\n", " ")
        say(prefix + out)

    say("ready")
    background = []
    for line in sys.stdin:
        w = line.split()
        if not w:
            continue
        if w[0] == "quit":
            break
        if w[0] == "bg" and len(w) > 2:
            thread = threading.Thread(target=answer, args=(w[2:], w[1] + " "), daemon=True)
            background.append(thread)
            thread.start()
        else:
            answer(w)
    for path in list(elections):
        unelect(path)
    zk.stop()
    zk.close()


main()
