package io.kvgate.evaluator.policy;

import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * An eviction's host work over its (layer, head) arrays, split across the fork-join pool: the selection over up to
 * ~3 M entries after every prefill chunk of a 32K-token context took 132 ms of a 0.6B model's 32K prefill on one
 * thread while the GPU waited, 33 ms on the GPU machine's 16 cores (BENCHMARKS.md, session 8). Small inputs (a
 * 1K context, the tiny model, tests) stay on the calling thread.
 */
public final class Parallel {
    /**
     * Below this much work (entries), one group on the calling thread; system property {@value #MIN_PARALLEL_PROPERTY}
     * overrides it (read per call: {@code kvgate bench selection} times several settings in one process).
     */
    public static final long MIN_PARALLEL = 1 << 19;
    public static final String MIN_PARALLEL_PROPERTY = "kvgate.parallelMinEntries";

    private Parallel() {}

    /** A body run for the indices [from, to) as group {@code group}. */
    interface GroupBody {
        void run(int group, int from, int to);
    }

    /**
     * How many groups to split n indices carrying {@code work} entries into: one when small, else up to the
     * parallelism of the pool the work runs in (the common pool, or the caller's own fork-join pool).
     */
    static int groups(int n, long work) {
        if (work < Long.getLong(MIN_PARALLEL_PROPERTY, MIN_PARALLEL) || n < 2) return 1;
        ForkJoinPool pool = ForkJoinTask.inForkJoinPool() ? ForkJoinTask.getPool() : ForkJoinPool.commonPool();
        return Math.min(n, Math.max(1, pool.getParallelism()));
    }

    /** Runs the body for {@code groups} contiguous, near-equal ranges of [0, n), in parallel when there are several. */
    static void forEachGroup(int n, int groups, GroupBody body) {
        if (groups <= 1) {
            body.run(0, 0, n);
            return;
        }
        IntStream.range(0, groups).parallel().forEach(g -> body.run(g, (int) ((long) n * g / groups), (int) ((long) n * (g + 1) / groups)));
    }

    /** Runs {@code each} for every index of [0, n) (n arrays holding {@code work} entries in all), in parallel when large. */
    public static void forEach(int n, long work, IntConsumer each) {
        forEachGroup(n, groups(n, work), (g, from, to) -> {
            for (int i = from; i < to; i++) each.accept(i);
        });
    }
}
