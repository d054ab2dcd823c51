// The benchmark's workloads for the ZooKeeper Java client (its asynchronous API), run by
// `aiozk-bench run` as client `java`. Prints the same JSON lines as `aiozk-bench client`:
// {"mark":"start"} and {"mark":"end"} around the measured phase, {"mark":"registered"} once
// the watches are set (the harness then cuts the connection), and one {"result":{...}} line.
//
// The JVM is warmed up in the same process before the measured phase: each timed workload
// first runs unmeasured for --warmup seconds.

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.zookeeper.AddWatchMode;
import org.apache.zookeeper.CreateMode;
import org.apache.zookeeper.KeeperException;
import org.apache.zookeeper.WatchedEvent;
import org.apache.zookeeper.Watcher;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.ZooKeeper;

public final class BenchClient {
    static final String DATA100 = "/bench/data100";
    static final String BIG = "/bench/big";
    static final int BIG_LEN = 1_000_000;
    static final String CHILDREN = "/bench/children";
    static final String CHILDREN100 = "/bench/children100";
    static final String SET = "/bench/set";
    static final String CD = "/bench/cd";
    static final String WATCH = "/bench/w";
    static final int SESSION_TIMEOUT_MS = 30_000;
    /** Sessions of the spread workloads, and reads in flight on each. */
    static final int SPREAD_SESSIONS = 100;
    static final int SPREAD_INFLIGHT = 10;

    static String client = "java";
    static String workload;
    static String server;
    static double seconds = 3.0;
    static double warmup = 2.0;
    static int count = 1000;
    static String tag = "x";

    public static void main(String[] argv) throws Exception {
        for (int i = 0; i + 1 < argv.length; i += 2) {
            String v = argv[i + 1];
            switch (argv[i]) {
                case "--client": client = v; break;
                case "--workload": workload = v; break;
                case "--server": server = v; break;
                case "--seconds": seconds = Double.parseDouble(v); break;
                case "--warmup": warmup = Double.parseDouble(v); break;
                case "--count": count = Integer.parseInt(v); break;
                case "--tag": tag = v; break;
                default: throw new IllegalArgumentException("unknown option " + argv[i]);
            }
        }
        String result;
        switch (workload) {
            case "sessions": result = sessions(); break;
            case "watches": result = watches(false); break;
            case "pwatches": result = watches(true); break;
            case "spread_get1":
            case "spread_get3": result = spread(); break;
            default: result = timed(); break;
        }
        emit("{\"result\":" + result + "}");
        System.exit(0);
    }

    // ------------------------------------------------------------------ output

    static synchronized void emit(String line) {
        System.out.println(line);
        System.out.flush();
    }

    static void mark(String name) {
        emit("{\"mark\":\"" + name + "\"}");
    }

    static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }

    /** CPU time (user + system) of the whole process, every thread included, in seconds. */
    static double processCpu() {
        java.lang.management.OperatingSystemMXBean os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean) {
            return ((com.sun.management.OperatingSystemMXBean) os).getProcessCpuTime() / 1e9;
        }
        return 0.0;
    }

    /** A `kB` field of /proc/self/status, in bytes. */
    static long statusBytes(String field) {
        try {
            for (String l : Files.readAllLines(Paths.get("/proc/self/status"))) {
                if (l.startsWith(field + ":")) {
                    return Long.parseLong(l.substring(field.length() + 1).trim().split("\\s+")[0]) * 1024;
                }
            }
        } catch (Exception e) {
            // No figure.
        }
        return 0;
    }

    // ------------------------------------------------------------------ connecting

    /** Connects to `hosts` and waits for the session. `states` also gets every later state event. */
    static ZooKeeper connect(String hosts, Watcher states) throws Exception {
        CountDownLatch up = new CountDownLatch(1);
        ZooKeeper zk = new ZooKeeper(hosts, SESSION_TIMEOUT_MS, event -> {
            if (event.getType() == Watcher.Event.EventType.None) {
                if (event.getState() == Watcher.Event.KeeperState.SyncConnected) {
                    up.countDown();
                }
                if (states != null) {
                    states.process(event);
                }
            }
        });
        if (!up.await(60, TimeUnit.SECONDS)) {
            zk.close();
            throw new IllegalStateException("no session with " + hosts + " within 60 s");
        }
        return zk;
    }

    // ------------------------------------------------------------------ timed workloads

    /** What the in-flight slots of a timed run measured; touched only by the event thread. */
    static final class Tally {
        int[] latNs = new int[1 << 16];
        int n;
        long ops;
        long errors;
        String firstError;
        boolean recording;

        void ok(long ns) {
            if (!recording) {
                return;
            }
            ops++;
            if (n == latNs.length) {
                latNs = Arrays.copyOf(latNs, n * 2);
            }
            latNs[n++] = (int) Math.min(ns, Integer.MAX_VALUE);
        }

        void err(String e) {
            if (!recording) {
                return;
            }
            errors++;
            if (firstError == null) {
                firstError = e;
            }
        }
    }

    /** One request slot: it issues the next request from the previous one's callback. */
    interface Op {
        void start(Slot s);
    }

    static final class Slot {
        final int index;
        long i;
        long t0;
        final Run run;

        Slot(Run run, int index) {
            this.run = run;
            this.index = index;
        }

        /** Completes one operation; issues the next one unless the run is over. */
        void done(int rc) {
            long ns = System.nanoTime() - t0;
            if (rc == 0) {
                run.tally.ok(ns);
            } else {
                run.tally.err(KeeperException.Code.get(rc).toString());
            }
            i++;
            run.next(this);
        }
    }

    /** The slots of one timed run over one or more sessions. */
    static final class Run {
        final Tally tally = new Tally();
        final Op op;
        volatile long deadline;
        final CountDownLatch finished;

        Run(Op op, int slots) {
            this.op = op;
            this.finished = new CountDownLatch(slots);
        }

        void next(Slot s) {
            if (System.nanoTime() >= deadline) {
                finished.countDown();
                return;
            }
            s.t0 = System.nanoTime();
            op.start(s);
        }
    }

    static double percentile(int[] sorted, int n, double p) {
        if (n == 0) {
            return 0.0;
        }
        int idx = (int) Math.round((n - 1) * p);
        return sorted[idx] / 1000.0;
    }

    static int inflight(String w) {
        switch (w) {
            case "get1":
            case "children10k":
            case "get1mb":
                return 1;
            default:
                return 100;
        }
    }

    /** An operation of workload `w` on session `zk`. */
    static Op op(String w, ZooKeeper zk) {
        byte[] data = new byte[100];
        Arrays.fill(data, (byte) 7);
        switch (w) {
            case "get1":
            case "get100":
            case "spread_get1":
            case "spread_get3":
                return s -> zk.getData(DATA100, false, (rc, p, c, d, st) -> s.done(rc), null);
            case "exists100":
                return s -> zk.exists(DATA100, false, (rc, p, c, st) -> s.done(rc), null);
            case "set100":
                return s -> zk.setData(SET, data, -1, (rc, p, c, st) -> s.done(rc), null);
            case "create_delete100":
                return s -> {
                    String path = CD + "/" + tag + "-" + s.index + "-" + s.i;
                    zk.create(path, new byte[0], ZooDefs.Ids.OPEN_ACL_UNSAFE, CreateMode.PERSISTENT,
                        (rc, p, c, name) -> {
                            if (rc != 0) {
                                s.done(rc);
                                return;
                            }
                            zk.delete(path, -1, (rc2, p2, c2) -> s.done(rc2), null);
                        }, null);
                };
            case "children10k":
                return s -> zk.getChildren(CHILDREN, false, (rc, p, c, kids) -> s.done(rc), null);
            case "children100":
                return s -> zk.getChildren(CHILDREN100, false, (rc, p, c, kids) -> s.done(rc), null);
            case "get1mb":
                return s -> zk.getData(BIG, false, (rc, p, c, d, st) -> {
                    if (rc == 0 && d.length != BIG_LEN) {
                        throw new IllegalStateException("short data");
                    }
                    s.done(rc);
                }, null);
            default:
                throw new IllegalArgumentException("unknown workload " + w);
        }
    }

    /**
     * Runs `slots` request slots over `sessions` (slot k on session k % sessions): warm-up
     * first, unmeasured, then the measured phase.
     */
    static String runSlots(List<ZooKeeper> sessions, int slots) throws Exception {
        List<Op> ops = new ArrayList<>();
        for (ZooKeeper zk : sessions) {
            ops.add(op(workload, zk));
        }
        if (warmup > 0) {
            phase(ops, slots, warmup, false);
        }
        mark("start");
        double cpu0 = processCpu();
        long t0 = System.nanoTime();
        Tally t = phase(ops, slots, seconds, true);
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double cpu = processCpu() - cpu0;
        mark("end");
        int[] lat = Arrays.copyOf(t.latNs, t.n);
        Arrays.sort(lat);
        return "{\"client\":" + quote(client) + ",\"workload\":" + quote(workload)
            + ",\"ops\":" + t.ops + ",\"errors\":" + t.errors
            + ",\"first_error\":" + quote(t.firstError)
            + ",\"elapsed_s\":" + elapsed + ",\"cpu_s\":" + cpu
            + ",\"p50_us\":" + percentile(lat, lat.length, 0.50)
            + ",\"p99_us\":" + percentile(lat, lat.length, 0.99)
            + ",\"peak_rss\":" + statusBytes("VmHWM") + "}";
    }

    static Tally phase(List<Op> ops, int slots, double secs, boolean recording) throws Exception {
        // One Run per session: each session's callbacks come on that session's event thread,
        // so a tally is never touched by two threads.
        List<Run> runs = new ArrayList<>();
        long deadline = System.nanoTime() + (long) (secs * 1e9);
        for (int k = 0; k < ops.size(); k++) {
            int mine = slots / ops.size() + (k < slots % ops.size() ? 1 : 0);
            Run r = new Run(ops.get(k), mine);
            r.tally.recording = recording;
            r.deadline = deadline;
            runs.add(r);
        }
        for (int j = 0; j < slots; j++) {
            Run r = runs.get(j % ops.size());
            Slot s = new Slot(r, j);
            s.t0 = System.nanoTime();
            r.op.start(s);
        }
        Tally total = new Tally();
        for (Run r : runs) {
            if (!r.finished.await(600, TimeUnit.SECONDS)) {
                throw new IllegalStateException("the run did not finish");
            }
            // The latch orders the event thread's writes before these reads.
            Tally t = r.tally;
            if (total.n + t.n > total.latNs.length) {
                total.latNs = Arrays.copyOf(total.latNs, total.n + t.n);
            }
            System.arraycopy(t.latNs, 0, total.latNs, total.n, t.n);
            total.n += t.n;
            total.ops += t.ops;
            total.errors += t.errors;
            if (total.firstError == null) {
                total.firstError = t.firstError;
            }
        }
        return total;
    }

    static String timed() throws Exception {
        ZooKeeper zk = connect(server, null);
        try {
            return runSlots(List.of(zk), inflight(workload));
        } finally {
            zk.close();
        }
    }

    /** 100 sessions, each with 10 reads in flight; session k connects to member k % members. */
    static String spread() throws Exception {
        String[] members = server.split(",");
        List<ZooKeeper> sessions = new ArrayList<>();
        try {
            for (int k = 0; k < SPREAD_SESSIONS; k++) {
                sessions.add(connect(members[k % members.length], null));
            }
            return runSlots(sessions, SPREAD_SESSIONS * SPREAD_INFLIGHT);
        } finally {
            for (ZooKeeper zk : sessions) {
                zk.close(1000);
            }
        }
    }

    // ------------------------------------------------------------------ counted workloads

    static String watchPath(int i) {
        return String.format("%s/%08d", WATCH, i);
    }

    static String sessions() throws Exception {
        long rss0 = statusBytes("VmRSS");
        mark("start");
        double cpu0 = processCpu();
        long t0 = System.nanoTime();
        int n = 16;
        List<ZooKeeper> all = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicReference<Exception> failed = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < n; w++) {
            final int first = w;
            Thread t = new Thread(() -> {
                try {
                    for (int i = first; i < count; i += n) {
                        ZooKeeper zk = connect(server, null);
                        zk.getData(DATA100, false, null);
                        all.add(zk);
                    }
                } catch (Exception e) {
                    failed.compareAndSet(null, e);
                }
            });
            t.start();
            threads.add(t);
        }
        for (Thread t : threads) {
            t.join();
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double cpu = processCpu() - cpu0;
        long rss = statusBytes("VmRSS");
        mark("end");
        for (ZooKeeper zk : all) {
            zk.close(1000);
        }
        if (failed.get() != null) {
            return "{\"client\":" + quote(client) + ",\"workload\":" + quote(workload)
                + ",\"failed\":" + quote(failed.get().toString()) + "}";
        }
        return "{\"client\":" + quote(client) + ",\"workload\":" + quote(workload)
            + ",\"errors\":0,\"ops\":" + count + ",\"elapsed_s\":" + elapsed + ",\"cpu_s\":" + cpu
            + ",\"rss_per_item\":" + ((double) (rss - rss0) / Math.max(count, 1))
            + ",\"peak_rss\":" + statusBytes("VmHWM") + "}";
    }

    static String watches(boolean persistent) throws Exception {
        AtomicLong lost = new AtomicLong();
        AtomicLong connected = new AtomicLong();
        CountDownLatch lostLatch = new CountDownLatch(1);
        CountDownLatch backLatch = new CountDownLatch(1);
        ZooKeeper zk = connect(server, event -> {
            if (event.getState() == Watcher.Event.KeeperState.Disconnected && lost.get() == 0) {
                lost.set(System.nanoTime());
                lostLatch.countDown();
            } else if (event.getState() == Watcher.Event.KeeperState.SyncConnected && lost.get() != 0
                && connected.get() == 0) {
                connected.set(System.nanoTime());
                backLatch.countDown();
            }
        });
        try {
            zk.exists("/", false);
            long rss0 = statusBytes("VmRSS");
            mark("start");
            double cpu0 = processCpu();
            long t0 = System.nanoTime();
            Semaphore window = new Semaphore(100);
            AtomicReference<String> error = new AtomicReference<>();
            Watcher ignore = (WatchedEvent e) -> { };
            for (int i = 0; i < count; i++) {
                window.acquire();
                if (persistent) {
                    zk.addWatch(watchPath(i), ignore, AddWatchMode.PERSISTENT, (rc, p, c) -> {
                        if (rc != 0) {
                            error.compareAndSet(null, KeeperException.Code.get(rc).toString());
                        }
                        window.release();
                    }, null);
                } else {
                    zk.exists(watchPath(i), ignore, (rc, p, c, st) -> {
                        if (rc != 0 && rc != KeeperException.Code.NONODE.intValue()) {
                            error.compareAndSet(null, KeeperException.Code.get(rc).toString());
                        }
                        window.release();
                    }, null);
                }
            }
            window.acquire(100);
            double elapsed = (System.nanoTime() - t0) / 1e9;
            double cpu = processCpu() - cpu0;
            long rss = statusBytes("VmRSS");
            mark("end");
            StringBuilder out = new StringBuilder("{\"client\":" + quote(client) + ",\"workload\":"
                + quote(workload) + ",\"errors\":" + (error.get() == null ? 0 : 1)
                + ",\"first_error\":" + quote(error.get())
                + ",\"path_len\":" + watchPath(0).length()
                + ",\"ops\":" + count + ",\"elapsed_s\":" + elapsed + ",\"cpu_s\":" + cpu
                + ",\"rss_per_item\":" + ((double) (rss - rss0) / Math.max(count, 1)));
            mark("registered");
            if (!lostLatch.await(60, TimeUnit.SECONDS) || !backLatch.await(60, TimeUnit.SECONDS)) {
                out.append(",\"recover_error\":\"no disconnection and reconnection within 60 s\"");
            } else {
                zk.exists("/", false);
                long done = System.nanoTime();
                out.append(",\"recover_ms\":").append((done - lost.get()) / 1e6);
                out.append(",\"rereg_ms\":").append((done - connected.get()) / 1e6);
            }
            out.append(",\"peak_rss\":").append(statusBytes("VmHWM")).append('}');
            return out.toString();
        } finally {
            zk.close(1000);
        }
    }

}
