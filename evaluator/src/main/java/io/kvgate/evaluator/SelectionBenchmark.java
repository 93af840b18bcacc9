package io.kvgate.evaluator;

import io.kvgate.evaluator.policy.Budget;
import io.kvgate.evaluator.policy.Parallel;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.models.util.Timings;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ForkJoinPool;

/**
 * Host time of an eviction's selection ({@link Budget#select}: which entries every (layer, KV head) keeps) over scores
 * of a model's shape, on one thread against the fork-join pool: with the size below which the selection stays on one
 * thread ({@link Parallel#MIN_PARALLEL}) and with every selection split. The selection runs while the GPU waits for
 * the re-layout it decides, so its time is part of an evicting prefill (BENCHMARKS.md).
 */
public final class SelectionBenchmark {
    /** How a selection runs: on one thread, on the pool as kvgate does, or on the pool whatever its size. */
    public enum Mode {
        ONE_THREAD("1 thread"), POOL("pool, default threshold"), POOL_ALWAYS("pool, always split");

        public final String label;

        Mode(String label) {
            this.label = label;
        }
    }

    /** Best and median milliseconds per selection of {@code entriesPerHead} entries in each mode, in {@link Mode} order. */
    public record Row(int entriesPerHead, long entries, double[] bestMillis, double[] medianMillis) {}

    private SelectionBenchmark() {}

    public static List<Row> run(int layers, int kvHeads, List<Integer> entriesPerHead, double ratio, Budget budget,
                                int warmup, int reps, long seed) {
        List<Row> rows = new ArrayList<>();
        Random random = new Random(seed);
        ForkJoinPool oneThread = new ForkJoinPool(1);
        try {
            for (int n : entriesPerHead) {
                float[][][] scores = new float[layers][kvHeads][n];
                boolean[][][] protect = new boolean[layers][kvHeads][n];
                Protection protection = Protection.paper();
                int window = protection.windowFor(n);
                for (int l = 0; l < layers; l++)
                    for (int h = 0; h < kvHeads; h++)
                        for (int i = 0; i < n; i++) {
                            scores[l][h][i] = random.nextFloat();
                            protect[l][h][i] = protection.isProtected(i, 0, n, window);
                        }
                Mode[] modes = Mode.values();
                // the modes must agree before their times mean anything
                int[][][][] kept = new int[modes.length][][][];
                for (int m = 0; m < modes.length; m++) {
                    int mode = m;
                    time(modes[m], oneThread, () -> kept[mode] = budget.select(scores, protect, ratio * n));
                    if (!Arrays.deepEquals(kept[0], kept[m]))
                        throw new IllegalStateException(modes[m].label + " kept other entries than " + modes[0].label + " at " + n + " entries a head");
                }
                double[][] t = new double[modes.length][reps];
                // interleaved: the modes see the same machine state, run after run
                for (int r = -warmup; r < reps; r++) {
                    for (int m = 0; m < modes.length; m++) {
                        double ms = time(modes[m], oneThread, () -> budget.select(scores, protect, ratio * n));
                        if (r >= 0) t[m][r] = ms;
                    }
                }
                double[] best = new double[modes.length], median = new double[modes.length];
                for (int m = 0; m < modes.length; m++) {
                    best[m] = Timings.best(t[m]);
                    median[m] = Timings.median(t[m]);
                }
                rows.add(new Row(n, (long) layers * kvHeads * n, best, median));
            }
        } finally {
            oneThread.shutdown();
        }
        return rows;
    }

    private static double time(Mode mode, ForkJoinPool oneThread, Runnable select) {
        String before = System.getProperty(Parallel.MIN_PARALLEL_PROPERTY);
        try {
            if (mode == Mode.POOL_ALWAYS) System.setProperty(Parallel.MIN_PARALLEL_PROPERTY, "0");
            long t0 = System.nanoTime();
            if (mode == Mode.ONE_THREAD) oneThread.submit(select).get(); // Parallel splits work over the pool it runs in
            else select.run();
            return (System.nanoTime() - t0) / 1e6;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } finally {
            if (before == null) System.clearProperty(Parallel.MIN_PARALLEL_PROPERTY);
            else System.setProperty(Parallel.MIN_PARALLEL_PROPERTY, before);
        }
    }
}
