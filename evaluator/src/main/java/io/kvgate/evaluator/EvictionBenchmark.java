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
 * ratio, and the time per decode step for both. Medians over repetitions after one warm-up.
 */
public final class EvictionBenchmark {
    /**
     * One context length's medians, in milliseconds.
     *
     * @param prefillFull   ungated prefill
     * @param prefillScored prefill with the policy's scoring, ratio 1 (nothing evicted)
     * @param prefillEvict  prefill with scoring and eviction at the ratio
     * @param stepFull      ungated decode step
     * @param stepScored    decode step with the policy's scoring (buffered, every 128 tokens), nothing evicted
     * @param stepEvict     decode step on the compressed cache, with scoring and decode-time eviction
     * @param bytesFull     KV bytes of the full context (measured)
     * @param bytesEvict    KV bytes after compression (measured)
     */
    public record Row(int context, double prefillFull, double prefillScored, double prefillEvict, double stepFull,
                      double stepScored, double stepEvict, long bytesFull, long bytesEvict) {}

    private EvictionBenchmark() {}

    public static List<Row> run(io.kvgate.models.Model model, Policy policy, EvictionSettings settings, List<Integer> contexts,
                                int decodeSteps, int reps, long seed) {
        Random random = new Random(seed);
        int vocab = Math.min(256, model.config().vocabSize());
        List<Row> rows = new ArrayList<>();
        for (int n : contexts) {
            int[] ids = new int[n];
            for (int i = 0; i < n; i++) ids[i] = random.nextInt(vocab);
            int[] query = {random.nextInt(vocab)};
            double[][] t = new double[6][reps];
            long bytesFull = 0, bytesEvict = 0;
            for (int r = -1; r < reps; r++) { // r = -1 warms up
                double[] m = new double[6];
                try (CompressedContext full = CompressedContext.prefill(model, Policy.full(), settings.withRatio(1), ids)) {
                    m[0] = full.prefillMillis();
                    m[3] = stepMillis(full.generate(query, decodeSteps));
                    bytesFull = full.bytes();
                }
                try (CompressedContext scored = CompressedContext.prefill(model, policy, settings.withRatio(1), ids)) {
                    m[1] = scored.prefillMillis();
                    m[4] = stepMillis(scored.generate(query, decodeSteps));
                }
                try (CompressedContext evicted = CompressedContext.prefill(model, policy, settings, ids)) {
                    m[2] = evicted.prefillMillis();
                    m[5] = stepMillis(evicted.generate(query, decodeSteps));
                    bytesEvict = evicted.bytes();
                }
                if (r >= 0) for (int k = 0; k < 6; k++) t[k][r] = m[k];
            }
            rows.add(new Row(n, median(t[0]), median(t[1]), median(t[2]), median(t[3]), median(t[4]), median(t[5]), bytesFull, bytesEvict));
        }
        return rows;
    }

    private static double stepMillis(Generation g) {
        return g.millisPerToken();
    }

    private static double median(double[] xs) {
        double[] s = xs.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
