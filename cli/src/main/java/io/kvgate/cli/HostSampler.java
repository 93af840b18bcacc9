package io.kvgate.cli;

import io.kvgate.models.util.TextTable;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Where one thread's wall time goes, by kvgate call site: its stack sampled every period by a daemon thread.
 *
 * <p>Why: libtorch's profiler counts the host's time inside top-level ops, not which of kvgate's code paths made them
 * or what it did between them, and the GPU machine's trimmed Java runtime has no Flight Recorder. A sample is keyed
 * by the innermost two kvgate frames and what runs above them: a libtorch call (a native method, which is also where
 * the host waits for the device) or Java. Sampling costs the target thread a safepoint per sample (~µs).
 */
final class HostSampler implements AutoCloseable {
    private static final String OWN = "io.kvgate.";
    private final Thread target;
    private final Thread sampler;
    private final Map<String, Integer> counts = new HashMap<>();
    private volatile boolean running = true;
    private int samples;

    private HostSampler(Thread target, long periodMicros) {
        this.target = target;
        this.sampler = new Thread(() -> loop(periodMicros), "kvgate-host-sampler");
        sampler.setDaemon(true);
    }

    /** Starts sampling the calling thread every {@code periodMicros}. */
    static HostSampler start(long periodMicros) {
        HostSampler s = new HostSampler(Thread.currentThread(), periodMicros);
        s.sampler.start();
        return s;
    }

    private void loop(long periodMicros) {
        long next = System.nanoTime();
        while (running) {
            StackTraceElement[] stack = target.getStackTrace();
            if (stack.length > 0) {
                String key = key(stack);
                synchronized (counts) {
                    counts.merge(key, 1, Integer::sum);
                    samples++;
                }
            }
            next += periodMicros * 1000;
            long wait = next - System.nanoTime();
            if (wait > 0) java.util.concurrent.locks.LockSupport.parkNanos(wait);
            else next = System.nanoTime();
        }
    }

    /** "Inner.method:line < Outer.method:line | what runs above them". */
    static String key(StackTraceElement[] stack) {
        int first = -1, second = -1;
        for (int i = 0; i < stack.length; i++) {
            if (!stack[i].getClassName().startsWith(OWN) || stack[i].getClassName().equals(HostSampler.class.getName())) continue;
            if (first < 0) first = i;
            else {
                second = i;
                break;
            }
        }
        String above = stack[0].isNativeMethod() ? "native " + simple(stack[0].getClassName()) + "." + stack[0].getMethodName()
                : first == 0 ? "own code" : "java (" + simple(stack[0].getClassName()) + "." + stack[0].getMethodName() + ")";
        if (first < 0) return "(outside kvgate) | " + above;
        return frame(stack[first]) + (second < 0 ? "" : " < " + frame(stack[second])) + " | " + above;
    }

    private static String frame(StackTraceElement e) {
        return simple(e.getClassName()) + "." + e.getMethodName() + ":" + e.getLineNumber();
    }

    private static String simple(String className) {
        return className.substring(className.lastIndexOf('.') + 1);
    }

    /** Stops sampling (what was sampled stays readable). */
    void stop() {
        close();
    }

    /**
     * Two tables by share of the samples: the innermost kvgate method (lines and callers merged, the {@code top} / 2
     * largest), then the {@code top} largest call sites.
     */
    String tables(int top) {
        Map<String, Integer> sites;
        int total;
        synchronized (counts) {
            sites = new HashMap<>(counts);
            total = samples;
        }
        return table("kvgate method (innermost)", byMethod(), top / 2, total) + table("call site (inner < outer | above it)", sites, top, total);
    }

    /** The samples per innermost kvgate method (lines and callers merged). */
    Map<String, Integer> byMethod() {
        Map<String, Integer> methods = new HashMap<>();
        synchronized (counts) {
            counts.forEach((k, n) -> methods.merge(method(k), n, Integer::sum));
        }
        return methods;
    }

    /**
     * Two sampled runs side by side in milliseconds per run by innermost kvgate method ({@code msPerSample}: a run's
     * wall over its samples), the {@code top} largest differences first.
     */
    static String compare(String a, Map<String, Integer> inA, double msPerSampleA, String b, Map<String, Integer> inB,
                          double msPerSampleB, int top) {
        Map<String, double[]> ms = new HashMap<>();
        inA.forEach((k, n) -> ms.computeIfAbsent(k, x -> new double[2])[0] = n * msPerSampleA);
        inB.forEach((k, n) -> ms.computeIfAbsent(k, x -> new double[2])[1] = n * msPerSampleB);
        List<Map.Entry<String, double[]>> rows = new ArrayList<>(ms.entrySet());
        rows.sort((x, y) -> Double.compare(Math.abs(y.getValue()[1] - y.getValue()[0]), Math.abs(x.getValue()[1] - x.getValue()[0])));
        TextTable t = new TextTable("kvgate method (innermost)", a + " ms", b + " ms", "difference ms");
        for (Map.Entry<String, double[]> e : rows.subList(0, Math.min(top, rows.size()))) {
            double[] v = e.getValue();
            t.row(e.getKey(), String.format(Locale.ROOT, "%.3f", v[0]), String.format(Locale.ROOT, "%.3f", v[1]),
                    String.format(Locale.ROOT, "%.3f", v[1] - v[0]));
        }
        return t.toString();
    }

    /** The innermost frame of a key, without its line: "Class.method". */
    static String method(String key) {
        int end = key.indexOf(" < ");
        if (end < 0) end = key.indexOf(" | ");
        String inner = key.substring(0, end);
        int colon = inner.lastIndexOf(':');
        return colon < 0 ? inner : inner.substring(0, colon);
    }

    private static String table(String what, Map<String, Integer> counts, int top, int total) {
        List<Map.Entry<String, Integer>> byCount = new ArrayList<>(counts.entrySet());
        byCount.sort(Map.Entry.<String, Integer>comparingByValue().reversed());
        TextTable t = new TextTable(what, "samples", "share");
        for (Map.Entry<String, Integer> e : byCount.subList(0, Math.min(top, byCount.size())))
            t.row(e.getKey(), e.getValue(), String.format(Locale.ROOT, "%.1f%%", 100.0 * e.getValue() / Math.max(1, total)));
        return t.toString();
    }

    int samples() {
        synchronized (counts) {
            return samples;
        }
    }

    @Override
    public void close() {
        running = false;
        try {
            sampler.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
