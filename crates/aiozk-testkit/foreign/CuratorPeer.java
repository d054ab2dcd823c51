// A line-oriented driver around Apache Curator's recipes, for interoperability tests: one
// command per line on standard input, one answer per line on standard output.
//
// Usage: java -cp <curator class path>:<dir> CuratorPeer CONNECT SESSION_MS
//
// Commands (PATH is a lock or election path; MS a timeout in milliseconds):
//   lock PATH MS | unlock PATH          InterProcessMutex: "acquired"/"timeout", "released"
//   read PATH MS | unread PATH          InterProcessReadWriteLock's read lock
//   write PATH MS | unwrite PATH        InterProcessReadWriteLock's write lock
//   latch PATH ID | leader PATH MS | unlatch PATH
//                                       LeaderLatch: "started", "leader"/"timeout", "closed"
//   contend PATH N DIR                  N acquisitions of the InterProcessMutex at PATH, each
//                                       holding the marker DIR/holder (see below):
//                                       "contended N OVERLAPS"
//   shared_add PATH N                   N increments of the SharedCount at PATH (seed 0),
//                                       each a trySetCount retried until it applies:
//                                       "count VALUE" (the value after the last)
//   along_add PATH N                    N increments of the DistributedAtomicLong at PATH:
//                                       "along VALUE"
//   barrier_set PATH | barrier_remove PATH | barrier_wait PATH MS
//                                       DistributedBarrier: "set", "removed",
//                                       "passed"/"blocked"
//   sem PATH MAX MS | unsem PATH         InterProcessSemaphoreV2 of MAX leases: "acquired"/
//                                       "timeout", "released" (the oldest lease taken here)
//   select PATH ID | selected PATH MS | unselect PATH
//                                       LeaderSelector (leading until unselect): "started",
//                                       "leader"/"timeout", "closed"
//   dbarrier_enter PATH N MS | dbarrier_leave PATH MS
//                                       DistributedDoubleBarrier of N members: "entered"/
//                                       "timeout", "left"/"timeout"
//   bg NAME COMMAND...                  runs COMMAND on a thread of its own; its answer comes
//                                       later as "NAME ANSWER" (the next command is read at once)
//   contend_rw PATH N DIR               N acquisitions of the InterProcessReadWriteLock at PATH
//                                       (every third a write): "contended N OVERLAPS"
//   contend_sem PATH MAX N DIR          N leases of the InterProcessSemaphoreV2 of MAX leases,
//                                       each holding DIR/holders/<id>: "contended N OVERLAPS"
//   contend_latch PATH N DIR            N leaderships of a LeaderLatch (a new one each time),
//                                       each holding the marker: "contended N OVERLAPS"
//   contend_select PATH N DIR           N leaderships of one auto-requeued LeaderSelector, each
//                                       holding the marker: "contended N OVERLAPS"
//   dbarrier_rounds BASE N ROUNDS DIR   ROUNDS DistributedDoubleBarriers of N members at
//                                       BASE/r0, BASE/r1, ..., with the round markers (below):
//                                       "rounds ROUNDS VIOLATIONS"
//   quit
//
// The markers. An exclusive holder (a lock, a writer, a leader) creates DIR/holder
// exclusively, adds one to the number in DIR/counter (the shared fencing counter: a lost
// update shows two holders), appends its name to DIR/log, waits a few milliseconds and
// deletes the marker. Finding the marker already there means another holder holds the lock
// at the same time: an overlap (counted, appended to DIR/overlaps, and the marker left
// alone). A writer also finds DIR/readers empty, before and after its wait. A reader creates
// DIR/readers/<id>, finds no DIR/holder (before and after its wait), appends "NAME-read K" to
// DIR/log (K: the readers it saw, itself included) and deletes its file. A lease holder
// creates DIR/holders/<id>, counts the files there (more than MAX is an overlap), appends
// "NAME K" to DIR/log and deletes its file. A member of a double barrier round DIR/rR creates
// DIR/rR/entering.<id> before entering and DIR/rR/leaving.<id> before leaving; after entering
// it finds N entering files, after leaving N leaving files, else it appends a line to
// DIR/violations.
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.atomic.AtomicValue;
import org.apache.curator.framework.recipes.atomic.DistributedAtomicLong;
import org.apache.curator.framework.recipes.barriers.DistributedBarrier;
import org.apache.curator.framework.recipes.barriers.DistributedDoubleBarrier;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.LeaderSelector;
import org.apache.curator.framework.recipes.leader.LeaderSelectorListenerAdapter;
import org.apache.curator.framework.recipes.shared.SharedCount;
import org.apache.curator.framework.recipes.shared.VersionedValue;
import org.apache.curator.framework.recipes.locks.InterProcessMutex;
import org.apache.curator.framework.recipes.locks.InterProcessReadWriteLock;
import org.apache.curator.framework.recipes.locks.InterProcessSemaphoreV2;
import org.apache.curator.framework.recipes.locks.Lease;
import org.apache.curator.retry.ExponentialBackoffRetry;
import org.apache.curator.retry.RetryNTimes;

public class CuratorPeer {
    private static final Map<String, InterProcessMutex> MUTEXES = new ConcurrentHashMap<>();
    private static final Map<String, InterProcessReadWriteLock> RW = new ConcurrentHashMap<>();
    private static final Map<String, LeaderLatch> LATCHES = new ConcurrentHashMap<>();
    private static final Map<String, Object[]> SELECTORS = new ConcurrentHashMap<>();
    private static final Map<String, DistributedDoubleBarrier> DOUBLE_BARRIERS = new ConcurrentHashMap<>();
    private static final Map<String, java.util.ArrayDeque<Lease>> LEASES = new ConcurrentHashMap<>();

    public static void main(String[] args) throws Exception {
        CuratorFramework client = CuratorFrameworkFactory.newClient(
            args[0], Integer.parseInt(args[1]), 10000, new ExponentialBackoffRetry(50, 10, 500));
        client.start();
        if (!client.blockUntilConnected(30, TimeUnit.SECONDS)) {
            System.out.println("error not connected");
            return;
        }
        System.out.println("ready");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] w = line.trim().split(" ");
            if (w[0].equals("quit")) {
                break;
            }
            if (w[0].equals("bg") && w.length > 2) {
                String name = w[1];
                String[] command = java.util.Arrays.copyOfRange(w, 2, w.length);
                Thread thread = new Thread(() -> say(name + " " + answer(client, command)));
                thread.setDaemon(true);
                thread.start();
            } else {
                say(answer(client, w));
            }
        }
        for (LeaderLatch latch : LATCHES.values()) {
            latch.close();
        }
        client.close();
    }

    private static synchronized void say(String line) {
        System.out.println(line);
        System.out.flush();
    }

    private static String answer(CuratorFramework client, String[] w) {
        try {
            return run(client, w);
        } catch (Exception e) {
            return "error " + e.toString().replace('\n', ' ');
        }
    }

    private static String run(CuratorFramework client, String[] w) throws Exception {
        String path = w[1];
        switch (w[0]) {
            case "lock":
                return acquired(mutex(client, path).acquire(Long.parseLong(w[2]), TimeUnit.MILLISECONDS));
            case "unlock":
                mutex(client, path).release();
                return "released";
            case "read":
                return acquired(rw(client, path).readLock().acquire(Long.parseLong(w[2]), TimeUnit.MILLISECONDS));
            case "unread":
                rw(client, path).readLock().release();
                return "released";
            case "write":
                return acquired(rw(client, path).writeLock().acquire(Long.parseLong(w[2]), TimeUnit.MILLISECONDS));
            case "unwrite":
                rw(client, path).writeLock().release();
                return "released";
            case "latch": {
                LeaderLatch latch = new LeaderLatch(client, path, w.length > 2 ? w[2] : "");
                LATCHES.put(path, latch);
                latch.start();
                return "started";
            }
            case "leader":
                return LATCHES.get(path).await(Long.parseLong(w[2]), TimeUnit.MILLISECONDS) ? "leader" : "timeout";
            case "unlatch":
                LATCHES.remove(path).close();
                return "closed";
            case "shared_add": {
                SharedCount count = new SharedCount(client, path, 0);
                count.start();
                try {
                    int last = 0;
                    for (int i = 0; i < Integer.parseInt(w[2]); i++) {
                        while (true) {
                            VersionedValue<Integer> seen = count.getVersionedValue();
                            if (count.trySetCount(seen, seen.getValue() + 1)) {
                                last = seen.getValue() + 1;
                                break;
                            }
                        }
                    }
                    return "count " + last;
                } finally {
                    count.close();
                }
            }
            case "along_add": {
                DistributedAtomicLong along = new DistributedAtomicLong(client, path, new RetryNTimes(1000, 1));
                long last = 0;
                for (int i = 0; i < Integer.parseInt(w[2]); i++) {
                    AtomicValue<Long> r;
                    do {
                        r = along.increment();
                    } while (!r.succeeded());
                    last = r.postValue();
                }
                return "along " + last;
            }
            case "barrier_set":
                new DistributedBarrier(client, path).setBarrier();
                return "set";
            case "barrier_remove":
                new DistributedBarrier(client, path).removeBarrier();
                return "removed";
            case "barrier_wait":
                return new DistributedBarrier(client, path).waitOnBarrier(Long.parseLong(w[2]), TimeUnit.MILLISECONDS)
                    ? "passed" : "blocked";
            case "sem": {
                InterProcessSemaphoreV2 sem = new InterProcessSemaphoreV2(client, path, Integer.parseInt(w[2]));
                Lease lease = sem.acquire(Long.parseLong(w[3]), TimeUnit.MILLISECONDS);
                if (lease == null) {
                    return "timeout";
                }
                LEASES.computeIfAbsent(path, p -> new java.util.ArrayDeque<>()).add(lease);
                return "acquired";
            }
            case "unsem":
                LEASES.get(path).poll().close();
                return "released";
            case "select": {
                CountDownLatch led = new CountDownLatch(1);
                CountDownLatch stop = new CountDownLatch(1);
                LeaderSelector selector = new LeaderSelector(client, path, new LeaderSelectorListenerAdapter() {
                    @Override
                    public void takeLeadership(CuratorFramework c) throws Exception {
                        led.countDown();
                        stop.await();
                    }
                });
                selector.setId(w.length > 2 ? w[2] : "");
                SELECTORS.put(path, new Object[] {selector, led, stop});
                selector.start();
                return "started";
            }
            case "selected":
                return ((CountDownLatch) SELECTORS.get(path)[1]).await(Long.parseLong(w[2]), TimeUnit.MILLISECONDS)
                    ? "leader" : "timeout";
            case "unselect": {
                Object[] s = SELECTORS.remove(path);
                ((CountDownLatch) s[2]).countDown();
                ((LeaderSelector) s[0]).close();
                return "closed";
            }
            case "dbarrier_enter": {
                DistributedDoubleBarrier barrier = new DistributedDoubleBarrier(client, path, Integer.parseInt(w[2]));
                DOUBLE_BARRIERS.put(path, barrier);
                return barrier.enter(Long.parseLong(w[3]), TimeUnit.MILLISECONDS) ? "entered" : "timeout";
            }
            case "dbarrier_leave":
                return DOUBLE_BARRIERS.get(path).leave(Long.parseLong(w[2]), TimeUnit.MILLISECONDS) ? "left" : "timeout";
            case "contend":
                return contend(mutex(client, path), Integer.parseInt(w[2]), Paths.get(w[3]));
            case "contend_rw":
                return contendRw(new InterProcessReadWriteLock(client, path), Integer.parseInt(w[2]), Paths.get(w[3]));
            case "contend_sem":
                return contendSem(new InterProcessSemaphoreV2(client, path, Integer.parseInt(w[2])),
                    Integer.parseInt(w[2]), Integer.parseInt(w[3]), Paths.get(w[4]));
            case "contend_latch":
                return contendLatch(client, path, Integer.parseInt(w[2]), Paths.get(w[3]));
            case "contend_select":
                return contendSelect(client, path, Integer.parseInt(w[2]), Paths.get(w[3]));
            case "dbarrier_rounds":
                return dbarrierRounds(client, path, Integer.parseInt(w[2]), Integer.parseInt(w[3]), Paths.get(w[4]));
            default:
                return "error unknown command " + w[0];
        }
    }

    private static String acquired(boolean ok) {
        return ok ? "acquired" : "timeout";
    }

    private static InterProcessMutex mutex(CuratorFramework client, String path) {
        return MUTEXES.computeIfAbsent(path, p -> new InterProcessMutex(client, p));
    }

    private static InterProcessReadWriteLock rw(CuratorFramework client, String path) {
        return RW.computeIfAbsent(path, p -> new InterProcessReadWriteLock(client, p));
    }

    /** How long a holder keeps its marker. */
    private static final long HOLD_MS = 3;

    private static void note(Path file, String line) throws Exception {
        Files.write(file, (line + "\n").getBytes(StandardCharsets.UTF_8),
            StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private static long count(Path dir, String prefix) throws Exception {
        try (Stream<Path> files = Files.list(dir)) {
            return files.filter(f -> f.getFileName().toString().startsWith(prefix)).count();
        }
    }

    /** The exclusive holder's marker; false on an overlap. */
    private static boolean exclusiveHold(Path dir, boolean writer) throws Exception {
        Path marker = dir.resolve("holder");
        Path readers = dir.resolve("readers");
        try {
            Files.createFile(marker);
        } catch (FileAlreadyExistsException e) {
            note(dir.resolve("overlaps"), "curator");
            return false;
        }
        boolean clean = !(writer && count(readers, "") > 0);
        Path counter = dir.resolve("counter");
        int value = Files.exists(counter)
            ? Integer.parseInt(new String(Files.readAllBytes(counter), StandardCharsets.UTF_8).trim())
            : 0;
        Files.write(counter, Integer.toString(value + 1).getBytes(StandardCharsets.UTF_8));
        note(dir.resolve("log"), "curator");
        Thread.sleep(HOLD_MS);
        clean = clean && !(writer && count(readers, "") > 0);
        Files.delete(marker);
        if (!clean) {
            note(dir.resolve("overlaps"), "curator-write");
        }
        return clean;
    }

    /** The reader's marker; false on an overlap with a writer. */
    private static boolean readHold(Path dir) throws Exception {
        Path mine = dir.resolve("readers").resolve(UUID.randomUUID().toString());
        Files.createFile(mine);
        Path marker = dir.resolve("holder");
        boolean clean = !Files.exists(marker);
        note(dir.resolve("log"), "curator-read " + count(dir.resolve("readers"), ""));
        Thread.sleep(HOLD_MS);
        clean = clean && !Files.exists(marker);
        Files.delete(mine);
        if (!clean) {
            note(dir.resolve("overlaps"), "curator-read");
        }
        return clean;
    }

    /** The lease holder's marker; false when more than `permits` hold at once. */
    private static boolean leaseHold(Path dir, int permits) throws Exception {
        Path mine = dir.resolve("holders").resolve(UUID.randomUUID().toString());
        Files.createFile(mine);
        long seen = count(dir.resolve("holders"), "");
        note(dir.resolve("log"), "curator " + seen);
        Thread.sleep(HOLD_MS);
        Files.delete(mine);
        if (seen > permits) {
            note(dir.resolve("overlaps"), "curator");
            return false;
        }
        return true;
    }

    private static String contendRw(InterProcessReadWriteLock rw, int n, Path dir) throws Exception {
        Files.createDirectories(dir.resolve("readers"));
        int overlaps = 0;
        for (int i = 0; i < n; i++) {
            boolean write = i % 3 == 0;
            InterProcessMutex lock = write ? rw.writeLock() : rw.readLock();
            while (!lock.acquire(60, TimeUnit.SECONDS)) {
                // wait on
            }
            try {
                if (!(write ? exclusiveHold(dir, true) : readHold(dir))) {
                    overlaps++;
                }
            } finally {
                lock.release();
            }
        }
        return "contended " + n + " " + overlaps;
    }

    private static String contendSem(InterProcessSemaphoreV2 sem, int permits, int n, Path dir) throws Exception {
        Files.createDirectories(dir.resolve("holders"));
        int overlaps = 0;
        for (int i = 0; i < n; i++) {
            Lease lease;
            do {
                lease = sem.acquire(60, TimeUnit.SECONDS);
            } while (lease == null);
            try {
                if (!leaseHold(dir, permits)) {
                    overlaps++;
                }
            } finally {
                lease.close();
            }
        }
        return "contended " + n + " " + overlaps;
    }

    private static String contendLatch(CuratorFramework client, String path, int n, Path dir) throws Exception {
        int overlaps = 0;
        for (int i = 0; i < n; i++) {
            LeaderLatch latch = new LeaderLatch(client, path, "curator-peer");
            latch.start();
            try {
                while (!latch.await(60, TimeUnit.SECONDS)) {
                    // wait on
                }
                if (latch.hasLeadership() && !exclusiveHold(dir, false)) {
                    overlaps++;
                }
            } finally {
                latch.close();
            }
        }
        return "contended " + n + " " + overlaps;
    }

    private static String contendSelect(CuratorFramework client, String path, int n, Path dir) throws Exception {
        AtomicInteger led = new AtomicInteger();
        AtomicInteger overlaps = new AtomicInteger();
        CountDownLatch finished = new CountDownLatch(1);
        LeaderSelector selector = new LeaderSelector(client, path, new LeaderSelectorListenerAdapter() {
            @Override
            public void takeLeadership(CuratorFramework c) throws Exception {
                // Leadership ends when this returns; the selector queues again.
                if (led.get() < n) {
                    if (!exclusiveHold(dir, false)) {
                        overlaps.incrementAndGet();
                    }
                    if (led.incrementAndGet() == n) {
                        finished.countDown();
                    }
                }
            }
        });
        selector.setId("curator-peer");
        selector.autoRequeue();
        selector.start();
        try {
            finished.await();
        } finally {
            selector.close();
        }
        return "contended " + led.get() + " " + overlaps.get();
    }

    /** Creates this member's `kind` file in `round`. */
    private static void roundMarker(Path round, String kind) throws Exception {
        Files.createDirectories(round);
        Files.createFile(round.resolve(kind + "." + UUID.randomUUID()));
    }

    /** False (and a line in DIR/violations) when fewer than `n` `kind` files are in `round`. */
    private static boolean roundCheck(Path round, String kind, int n) throws Exception {
        long seen = count(round, kind + ".");
        if (seen < n) {
            note(round.getParent().resolve("violations"), "curator " + kind + " " + seen + " of " + n);
            return false;
        }
        return true;
    }

    private static String dbarrierRounds(CuratorFramework client, String base, int n, int rounds, Path dir)
            throws Exception {
        int violations = 0;
        for (int r = 0; r < rounds; r++) {
            Path round = dir.resolve("r" + r);
            DistributedDoubleBarrier barrier = new DistributedDoubleBarrier(client, base + "/r" + r, n);
            roundMarker(round, "entering");
            barrier.enter();
            if (!roundCheck(round, "entering", n)) {
                violations++;
            }
            note(dir.resolve("log"), "curator");
            roundMarker(round, "leaving");
            barrier.leave();
            if (!roundCheck(round, "leaving", n)) {
                violations++;
            }
        }
        return "rounds " + rounds + " " + violations;
    }

    private static String contend(InterProcessMutex mutex, int n, Path dir) throws Exception {
        Path marker = dir.resolve("holder");
        Path log = dir.resolve("log");
        int done = 0;
        int overlaps = 0;
        while (done < n) {
            if (!mutex.acquire(60, TimeUnit.SECONDS)) {
                continue;
            }
            try {
                try {
                    Files.createFile(marker);
                } catch (FileAlreadyExistsException e) {
                    overlaps++;
                    continue;
                }
                Path counter = dir.resolve("counter");
                int value = Files.exists(counter)
                    ? Integer.parseInt(new String(Files.readAllBytes(counter), StandardCharsets.UTF_8).trim())
                    : 0;
                Files.write(counter, Integer.toString(value + 1).getBytes(StandardCharsets.UTF_8));
                Files.write(log, "curator\n".getBytes(StandardCharsets.UTF_8),
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
                Thread.sleep(3);
                Files.delete(marker);
            } finally {
                done++;
                mutex.release();
            }
        }
        return "contended " + done + " " + overlaps;
    }
}
