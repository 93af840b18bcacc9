package io.kvgate.evaluator;

import io.kvgate.evaluator.policy.Policy;
import io.kvgate.evaluator.runtime.CompressedContext;
import io.kvgate.evaluator.runtime.EvictionSettings;
import io.kvgate.evaluator.runtime.Generation;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The cost of a policy against the ungated (full-cache) run of the same context, in one process: prefill
 * with scoring only (ratio 1: scores computed, nothing evicted), prefill with scoring and eviction at the
 * ratio, and the time per decode step for both (steady-state steps, after the second token) with, apart, each
 * generation's start (the query, the first one-token step: a CUDA-graph capture on a GPU, and the re-layout an
 * evicted cache needs before it). The three runs are interleaved in every repetition; each figure is
 * the best (minimum) over the repetitions after one warm-up: on a shared machine the least disturbed run is the
 * one closest to the code's own cost.
 */
public final class EvictionBenchmark {
    /**
     * One context length's best times over the repetitions, in milliseconds.
     *
     * @param prefillFull   ungated prefill
     * @param prefillScored prefill with the policy's scoring, ratio 1 (nothing evicted)
     * @param prefillEvict  prefill with scoring and eviction at the ratio
     * @param stepFull      ungated decode step
     * @param stepScored    decode step with the policy's scoring (buffered, every 128 tokens), nothing evicted
     * @param stepEvict     decode step on the compressed cache, with scoring and decode-time eviction
     * @param startFull     ungated generation's start: query forward and first one-token step
     * @param startEvict    the same on the compressed cache
     * @param bytesFull     KV bytes of the full context (measured)
     * @param bytesEvict    KV bytes after compression (measured)
     * @param peakFull      peak device memory allocated during the ungated prefill + decode (bytes; -1 where unknown)
     * @param peakEvict     the same with scoring and eviction at the ratio
     */
    public record Row(int context, double prefillFull, double prefillScored, double prefillEvict, double stepFull,
                      double stepScored, double stepEvict, double startFull, double startEvict, long bytesFull, long bytesEvict, long peakFull, long peakEvict) {}

    private EvictionBenchmark() {}

    public static List<Row> run(io.kvgate.models.Model model, Policy policy, EvictionSettings settings, List<Integer> contexts,
                                int decodeSteps, int reps, long seed) {
        Random random = new Random(seed);
        int vocab = Math.min(256, model.config().vocabSize());
        List<Row> rows = new ArrayList<>();
        boolean first = true;
        for (int n : contexts) {
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = random.nextInt(vocab);
            int[] query = {random.nextInt(vocab)};
            double[][] t = new double[9][reps];
            long[] bytes = new long[2], peak = {-1, -1};
            // r < 0 warms up: the first context three times (a fresh JVM's JIT and the device's allocator pool made its
            // short rows 30 % slower after one warm-up on the H100), later ones once
            for (int r = first ? -3 : -1; r < reps; r++) {
                double[] m = new double[9];
                // Rotate the order of the three runs so none always pays for fresh allocations by going first.
                for (int k = 0; k < 3; k++) {
                    int run = Math.floorMod(k + r, 3);
                    Policy p = run == 0 ? Policy.full() : policy;
                    EvictionSettings s = run == 2 ? settings : settings.withRatio(1);
                    model.resetPeakDeviceMemory();
                    try (CompressedContext cc = CompressedContext.prefill(model, p, s, ids)) {
                        m[run] = cc.prefillMillis();
                        Generation g = cc.generate(query, decodeSteps);
                        m[3 + run] = g.millisPerLaterToken();
                        m[6 + run] = g.startMillis();
                        if (run == 0) bytes[0] = cc.bytes();
                        if (run == 2) bytes[1] = cc.bytes();
                    }
                    long[] mem = model.deviceMemory();
                    if (mem != null && run != 1) peak[run / 2] = Math.max(peak[run / 2], mem[1]);
                }
                if (r >= 0) for (int k = 0; k < 9; k++) t[k][r] = m[k];
            }
            first = false;
            long bytesFull = bytes[0], bytesEvict = bytes[1];
            rows.add(new Row(n, best(t[0]), best(t[1]), best(t[2]), best(t[3]), best(t[4]), best(t[5]), best(t[6]), best(t[8]), bytesFull, bytesEvict, peak[0], peak[1]));
        }
        return rows;
    }

    private static double best(double[] xs) {
        return Arrays.stream(xs).min().orElse(Double.NaN);
    }
}
