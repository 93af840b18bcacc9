package io.kvgate.objectives;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.Model;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Random;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The scorer's fast pass (several forward calls, key-set columns only, max by halving) gives the scores of their
 * definition: computed here from one un-chunked reconstruction pass, with every probability copied to the host.
 */
class KvzipScorerTest {
    static Model model;

    @BeforeAll
    static void load() {
        model = Model.load(Checkpoint.open(Path.of("../checkpoints/tiny-retrieval-qwen3")), Device.cpu(), DataType.FLOAT32);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void scoresAreTheMaxOverTheGroupAndEveryRowOfOneUnchunkedPass() {
        assertScoresMatchTheDefinition(false);
    }

    @Test
    void scoresOfACacheWithPerHeadEvictionsMatchTheDefinitionToo() {
        assertScoresMatchTheDefinition(true);
    }

    private static void assertScoresMatchTheDefinition(boolean evict) {
        Random r = new Random(evict ? 5 : 4);
        int n = 300;
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(256);
        ids[0] = KvzipNeedleTest.IM_START;
        ids[n - 1] = KvzipNeedleTest.IM_END;
        RepeatPrompt prompt = KvzipNeedleTest.tinyPrompt();
        int defaultChunk = model.prefillChunk();
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            model.forward(scope, cache, ids, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
            if (evict) {
                for (int l = 0; l < cache.numLayers(); l++)
                    for (int h = 0; h < cache.numKvHeads(); h++) {
                        int salt = 3 * l + h;
                        cache.retain(l, h, IntStream.range(0, n).filter(i -> (i + salt) % 4 != 0 || i < 4).toArray());
                    }
            }
            float[][][] expected = definition(scope, cache, prompt.passInput(null, java.util.Arrays.copyOfRange(ids, 1, n - 1)));
            model.setPrefillChunk(64); // several pass calls even for this short context
            KvzipScores actual;
            try {
                actual = new KvzipScorer(prompt, 2000).score(model, cache, ids);
            } finally {
                model.setPrefillChunk(defaultChunk);
            }
            assertArrayEquals(model.config().gatedLayers(), actual.scoredLayers());
            for (int l : actual.scoredLayers()) {
                for (int h = 0; h < cache.numKvHeads(); h++) {
                    float[] want = expected[l][h], got = actual.scores()[l][h];
                    assertEquals(want.length, got.length);
                    for (int i = 0; i < want.length; i++) {
                        // the reference runs the pass in one call: float32 rounding differs, nothing else may
                        float tolerance = 1e-5f * Math.max(want[i], got[i]) + 1e-8f;
                        assertEquals(want[i], got[i], tolerance, "layer " + l + " head " + h + " entry " + i);
                    }
                }
            }
        }
    }

    /** score[l][h][j] = max over the group's query heads and all rows of one pass of the probability on entry j. */
    private static float[][][] definition(NDManager scope, KvCache cache, int[] input) {
        float[][][] s = new float[cache.numLayers()][cache.numKvHeads()][];
        for (int l = 0; l < s.length; l++) for (int h = 0; h < s[l].length; h++) s[l][h] = new float[cache.length(l, h)];
        ForwardObserver everyProbability = new ForwardObserver() {
            @Override
            public boolean wantsAttentionProbs(int layer) {
                return true;
            }

            @Override
            public void attentionProbs(int layer, int kvHead, NDArray probs) {
                int keys = (int) probs.getShape().get(2), cached = s[layer][kvHead].length;
                float[] p = probs.toType(DataType.FLOAT32, false).toFloatArray();
                for (int row = 0; row < p.length / keys; row++)
                    for (int j = 0; j < cached; j++) s[layer][kvHead][j] = Math.max(s[layer][kvHead][j], p[row * keys + j]);
            }
        };
        model.forward(scope, cache, input, ForwardOptions.defaults().withExtendCache(false)
                .withObserver(everyProbability).withLogits(ForwardOptions.Logits.NONE));
        return s;
    }

    /**
     * Chunked scoring, as the official code does it: chunk t's pass (request quoting chunk t−1's last 8 tokens, then
     * chunk t) runs over the whole cache at the positions after it, and a score is the softmax over the sinks, chunk
     * t's cached keys and the pass's own keys only. The reference computes that softmax in double from the pass's
     * queries and keys; a pass over the chunk's keys alone (the hidden states then differ) fails it.
     */
    @Test
    void chunkedScoresAreTheRestrictedSoftmaxOfPassesOverTheWholeCache() {
        Random r = new Random(6);
        int n = 300, chunk = 128, sinks = KvzipScorer.DEFAULT_SINK_TOKENS;
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) ids[i] = r.nextInt(256);
        ids[0] = KvzipNeedleTest.IM_START;
        ids[n - 1] = KvzipNeedleTest.IM_END;
        RepeatPrompt prompt = KvzipNeedleTest.tinyPrompt();
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            model.forward(scope, cache, ids, ForwardOptions.defaults().withLogits(ForwardOptions.Logits.NONE));
            float[][][] expected = new float[cache.numLayers()][cache.numKvHeads()][n];
            int from = 1, to = n - 1, chunks = (to - from + chunk - 1) / chunk;
            assertEquals(3, chunks);
            for (int c = 0; c < chunks; c++) {
                int s = from + c * chunk, e = Math.min(to, s + chunk);
                int[] quoted = c == 0 ? null : java.util.Arrays.copyOfRange(ids, s - RepeatPrompt.QUOTED_TOKENS, s);
                int[] input = prompt.passInput(quoted, java.util.Arrays.copyOfRange(ids, s, e));
                int keyFrom = c == 0 ? 0 : s, keyTo = c == chunks - 1 ? n : e;
                restrictedSoftmaxMax(scope, cache, input, p -> p < sinks || (p >= keyFrom && p < keyTo), expected);
            }
            KvzipScores actual = new KvzipScorer(prompt, chunk).score(model, cache, ids);
            assertEquals(n, cache.nextPosition());
            for (int l : actual.scoredLayers())
                for (int h = 0; h < cache.numKvHeads(); h++)
                    for (int i = 0; i < n; i++) {
                        float want = expected[l][h][i], got = actual.scores()[l][h][i];
                        assertEquals(want, got, 1e-4f * Math.max(want, got) + 1e-7f, "layer " + l + " head " + h + " entry " + i);
                    }
        }
    }

    /**
     * Runs {@code input} over the whole {@code cache} (not extending it) and folds into {@code s[l][h][j]} the max over
     * the group's query heads and all rows of softmax(q·k·scale) over the cached entries in {@code keySet} and the
     * pass's own keys (causal).
     */
    private static void restrictedSoftmaxMax(NDManager scope, KvCache cache, int[] input,
                                             java.util.function.IntPredicate keySet, float[][][] s) {
        int heads = model.config().numHeads(), g = model.config().groupSize(), d = model.config().headDim();
        int t = input.length;
        float[][] q = new float[cache.numLayers()][], k = new float[cache.numLayers()][];
        ForwardObserver capture = new ForwardObserver() {
            @Override
            public void queriesKeys(int layer, NDArray queries, NDArray keys) {
                assertEquals(t, queries.getShape().get(1), "one forward call");
                q[layer] = queries.toType(DataType.FLOAT32, false).toFloatArray(); // [heads, t, d]
                k[layer] = keys.toType(DataType.FLOAT32, false).toFloatArray();    // [kvHeads, t, d]
            }
        };
        int defaultChunk = model.prefillChunk();
        model.setPrefillChunk(4096);
        try {
            model.forward(scope, cache, input, ForwardOptions.defaults().withExtendCache(false)
                    .withObserver(capture).withLogits(ForwardOptions.Logits.NONE));
        } finally {
            model.setPrefillChunk(defaultChunk);
        }
        double scale = model.config().attentionScale();
        for (int l : model.config().gatedLayers()) {
            for (int h = 0; h < cache.numKvHeads(); h++) {
                int[] pos = cache.positions(l, h);
                float[] cached = cache.keys(l, h).toType(DataType.FLOAT32, false).toFloatArray(); // [pos.length, d]
                int[] cols = IntStream.range(0, pos.length).filter(j -> keySet.test(pos[j])).toArray();
                for (int qh = h * g; qh < (h + 1) * g; qh++) {
                    for (int row = 0; row < t; row++) {
                        double[] logit = new double[cols.length + row + 1];
                        for (int c = 0; c < cols.length; c++) logit[c] = scale * dot(q[l], (qh * t + row) * d, cached, cols[c] * d, d);
                        for (int u = 0; u <= row; u++) logit[cols.length + u] = scale * dot(q[l], (qh * t + row) * d, k[l], (h * t + u) * d, d);
                        double max = java.util.Arrays.stream(logit).max().orElseThrow(), sum = 0;
                        for (double x : logit) sum += Math.exp(x - max);
                        for (int c = 0; c < cols.length; c++)
                            s[l][h][cols[c]] = (float) Math.max(s[l][h][cols[c]], Math.exp(logit[c] - max) / sum);
                    }
                }
            }
        }
        assertTrue(heads == cache.numKvHeads() * g);
    }

    private static double dot(float[] a, int ao, float[] b, int bo, int d) {
        double x = 0;
        for (int i = 0; i < d; i++) x += (double) a[ao + i] * b[bo + i];
        return x;
    }

    @Test
    void maxOverRowsIsTheColumnMaxForEveryRowCount() {
        Random r = new Random(2);
        try (NDManager m = model.manager().newSubManager()) {
            for (int rows : new int[] {1, 2, 3, 5, 8, 63, 101}) {
                int cols = 7;
                float[] x = new float[rows * cols];
                for (int i = 0; i < x.length; i++) x[i] = r.nextFloat();
                float[] want = new float[cols];
                java.util.Arrays.fill(want, Float.NEGATIVE_INFINITY);
                for (int i = 0; i < x.length; i++) want[i % cols] = Math.max(want[i % cols], x[i]);
                NDArray a = m.create(x, new ai.djl.ndarray.types.Shape(rows, cols));
                assertArrayEquals(want, KvzipScorer.maxOverRows(a).toFloatArray(), rows + " rows");
                assertArrayEquals(x, a.toFloatArray(), "the input is left as it was");
            }
        }
    }

    @Test
    void cpuPassCallsKeepTheirAttentionMatricesWithinBudgetAndEven() {
        int heads = model.config().numHeads();
        for (int keys : new int[] {40, 600, 3100, 9000, 200_000}) {
            for (int input : new int[] {1, 37, 520, 1544, 4000}) {
                int t = KvzipScorer.passChunk(model, input, keys);
                int calls = (input + t - 1) / t;
                assertTrue(t >= 1 && t <= model.prefillChunk(), "chunk " + t);
                assertTrue(t <= input, "chunk " + t + " for " + input + " tokens");
                assertTrue(t <= KvzipScorer.MIN_PASS_CHUNK || (long) heads * t * keys <= KvzipScorer.CPU_SCORES_BUDGET,
                        keys + " keys: chunk " + t);
                assertTrue(input - (long) (calls - 1) * t >= t - calls, "uneven calls: " + input + " tokens in " + t);
            }
        }
    }
}
