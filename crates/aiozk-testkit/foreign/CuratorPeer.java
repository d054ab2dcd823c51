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
//   quit
//
// The marker: a holder creates DIR/holder exclusively, adds one to the number in
// DIR/counter (the shared fencing counter: a lost update shows two holders), appends a line
// to DIR/log, waits a few milliseconds and deletes the marker. Finding the marker already there means another
// holder holds the lock at the same time: an overlap (counted, and the marker left alone).
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

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
    private static final Map<String, InterProcessMutex> MUTEXES = new HashMap<>();
    private static final Map<String, InterProcessReadWriteLock> RW = new HashMap<>();
    private static final Map<String, LeaderLatch> LATCHES = new HashMap<>();
    private static final Map<String, Object[]> SELECTORS = new HashMap<>();
    private static final Map<String, DistributedDoubleBarrier> DOUBLE_BARRIERS = new HashMap<>();
    private static final Map<String, java.util.ArrayDeque<Lease>> LEASES = new HashMap<>();

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
            String out;
            try {
                out = run(client, w);
            } catch (Exception e) {
                out = "error " + e.toString().replace('\n', ' ');
            }
            System.out.println(out);
        }
        for (LeaderLatch latch : LATCHES.values()) {
            latch.close();
        }
        client.close();
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
