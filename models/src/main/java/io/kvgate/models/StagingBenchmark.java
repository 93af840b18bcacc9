package io.kvgate.models;

import ai.djl.ndarray.NDManager;

import io.kvgate.models.util.Timings;

/**
 * Host time of staging an eviction's re-layout for the device ({@link DeviceInts}): every layer's gather index (one int
 * per row, the bulk of what a re-layout uploads; the rows' owners are built on the device from a few boundaries, see
 * {@link RaggedViewBatch}) added, written once into the upload buffer and created as one int32 array on
 * {@code manager}'s device. The arrays are made before the clock starts: this times the
 * staging, not the planning. For {@code kvgate bench selection}, next to the selection that precedes it.
 */
public final class StagingBenchmark {
    private StagingBenchmark() {}

    /**
     * {best, median} milliseconds over {@code reps} timed stagings after {@code warmup} untimed ones; {@code reuse}: into
     * the thread's reused upload buffer (what a GPU upload does) rather than a fresh one (a CPU upload's).
     */
    public static double[] run(NDManager manager, int layers, int kvHeads, int rowsPerHead, boolean reuse, int warmup, int reps) {
        int rows = kvHeads * rowsPerHead;
        int[][] arrays = new int[layers][rows];
        for (int[] a : arrays) for (int i = 0; i < rows; i++) a[i] = i;
        double[] times = new double[reps];
        for (int rep = -warmup; rep < reps; rep++) {
            long t0 = System.nanoTime();
            try (DeviceInts ints = new DeviceInts(); NDManager scope = manager.newSubManager()) {
                for (int[] a : arrays) ints.add(a);
                ints.upload(manager, reuse);
                ints.slice(0, 1, scope).toIntArray(); // the upload has landed
            }
            if (rep >= 0) times[rep] = (System.nanoTime() - t0) / 1e6;
        }
        return new double[] {Timings.best(times), Timings.median(times)};
    }
}
