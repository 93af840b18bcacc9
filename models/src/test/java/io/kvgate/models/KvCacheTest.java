package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

import java.util.HashMap;
import java.util.Map;
import java.util.stream.IntStream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cache as eviction will use it: per-head compaction, subsets, the reconstruction pass, observers. */
class KvCacheTest {
    static int[] prompt(int n, int vocab) {
        return IntStream.range(0, n).map(i -> (i * 37 + 11) % vocab).toArray();
    }

    static float[] run(Model m, KvCache c, int[] ids, ForwardOptions o) {
        try (NDManager s = m.manager().newSubManager()) {
            return m.forward(s, c, ids, o).logits().toFloatArray();
        }
    }

    /**
     * A chunk after an eviction that kept the same positions in every head (the shared layout with a gap, as an eviction
     * down to the protected sinks and window leaves it) goes through the whole-model call (the fused module's
     * prefill_more), with the logits and cache of the layer-by-layer path. Needs a fused module (KVGATE_FUSED_ATTENTION).
     */
    @Test
    void aChunkAfterAnEvictionAlikeInEveryHeadRunsAsOneCall() {
        org.junit.jupiter.api.Assumptions.assumeTrue(System.getenv(FusedAttention.ENV) != null, "no fused module configured");
        float[][] logits = new float[2][], keys = new float[2][];
        long[] wholeChunks = new long[2];
        for (int run = 0; run < 2; run++) {
            if (run == 1) System.setProperty("kvgate.wholePrefill", "false");
            try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache()) {
                int[] ids = prompt(56, m.config().vocabSize());
                run(m, c, java.util.Arrays.copyOfRange(ids, 0, 40), ForwardOptions.defaults());
                int[] keep = IntStream.concat(IntStream.range(0, 4), IntStream.range(24, 40)).toArray(); // sinks + window
                for (int l = 0; l < m.config().numLayers(); l++)
                    for (int h = 0; h < m.config().numKvHeads(); h++) c.retain(l, h, keep);
                long before = m.wholeModelChunks();
                logits[run] = run(m, c, java.util.Arrays.copyOfRange(ids, 40, 56),
                        ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL));
                wholeChunks[run] = m.wholeModelChunks() - before;
                assertEquals(36, c.positions(0, 1).length);
                keys[run] = c.keys(1, 1).toFloatArray();
            } finally {
                System.clearProperty("kvgate.wholePrefill");
            }
        }
        assertEquals(1, wholeChunks[0], "the chunk after the eviction in one module call");
        assertEquals(0, wholeChunks[1], "layer by layer with kvgate.wholePrefill=false");
        assertTrue(Fixtures.relErr(logits[0], logits[1]) < 1e-5, "logits rel err " + Fixtures.relErr(logits[0], logits[1]));
        assertTrue(Fixtures.relErr(keys[0], keys[1]) < 1e-6, "cache rel err " + Fixtures.relErr(keys[0], keys[1]));
    }

    /** extendCache=false: the same logits as extending, and the cache is left exactly as it was. */
    @Test
    void reconstructionPassLeavesTheCacheUnchanged() {
        for (String fx : new String[] {"qwen3-tiny-a", "gemma3-tiny-a"}) {
            try (Checkpoint ck = Checkpoint.open(Fixtures.parity(fx)); Model m = Model.load(ck); KvCache c = m.newCache()) {
                int v = m.config().vocabSize();
                int[] ctx = prompt(24, v), more = prompt(40, v);
                more = java.util.Arrays.copyOfRange(more, 24, 40);
                ForwardOptions all = ForwardOptions.defaults().withLogits(ForwardOptions.Logits.ALL);
                run(m, c, ctx, ForwardOptions.defaults());
                long bytes = c.bytes();
                int[] pos = c.positions(0, 1);
                float[] keys = c.keys(0, 1).toFloatArray();
                float[] probe = run(m, c, more, all.withExtendCache(false));
                assertEquals(24, c.nextPosition(), fx);
                assertEquals(bytes, c.bytes(), fx);
                assertArrayEquals(pos, c.positions(0, 1), fx);
                assertArrayEquals(keys, c.keys(0, 1).toFloatArray(), fx);
                float[] extended = run(m, c, more, all);
                double e = Fixtures.relErr(probe, extended);
                assertTrue(e < 1e-5, fx + ": reconstruction vs extending rel err " + e);
            }
        }
    }

    /**
     * Evicting per head in the last layer: its attention over the kept keys must equal the full cache's
     * probabilities restricted to those keys and renormalised (queries there do not depend on the eviction).
     */
    @Test
    void perHeadEvictionEqualsRenormalisedFullAttention() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen3-tiny-a")); Model m = Model.load(ck);
             KvCache full = m.newCache(); KvCache evicted = m.newCache()) {
            ModelConfig cfg = m.config();
            int last = cfg.numLayers() - 1, v = cfg.vocabSize();
            int[] ctx = prompt(30, v);
            run(m, full, ctx, ForwardOptions.defaults());
            run(m, evicted, ctx, ForwardOptions.defaults());
            long before = evicted.bytes();
            int[][] keep = new int[cfg.numKvHeads()][];
            for (int h = 0; h < cfg.numKvHeads(); h++) {
                int hh = h;
                keep[h] = IntStream.range(0, 30).filter(i -> i < 4 || (i + hh) % 3 != 0).toArray(); // differs per head
                evicted.retain(last, h, keep[h]);
                assertEquals(keep[h].length, evicted.length(last, h));
                int[] p = evicted.positions(last, h);
                for (int j = 0; j < p.length; j++) assertEquals(keep[h][j], p[j]);
            }
            assertTrue(evicted.bytes() < before, "retain must free memory: " + evicted.bytes() + " vs " + before);
            assertEquals(full.totalEntries() - IntStream.range(0, cfg.numKvHeads()).map(h -> 30 - keep[h].length).sum(), evicted.totalEntries());

            for (int[] step : new int[][] {{7}, {8, 9, 10}}) { // a decode step, then a 3-token chunk (causal among themselves)
                Map<Integer, float[]> fullProbs = probs(m, full, step, last), evProbs = probs(m, evicted, step, last);
                int g = cfg.groupSize(), t = step.length;
                for (int h = 0; h < cfg.numKvHeads(); h++) {
                    int nFull = full.length(last, h), nEv = evicted.length(last, h); // after the step: includes new tokens
                    int[] cols = new int[nEv];
                    int[] evPos = evicted.positions(last, h), fullPos = full.positions(last, h);
                    for (int j = 0; j < nEv; j++) cols[j] = java.util.Arrays.binarySearch(fullPos, evPos[j]);
                    float[] pf = fullProbs.get(h), pe = evProbs.get(h);
                    double maxErr = 0;
                    for (int r = 0; r < g * t; r++) {
                        double norm = 0;
                        for (int c : cols) norm += pf[r * nFull + c];
                        double rowSum = 0;
                        for (int j = 0; j < nEv; j++) {
                            maxErr = Math.max(maxErr, Math.abs(pe[r * nEv + j] - pf[r * nFull + cols[j]] / norm));
                            rowSum += pe[r * nEv + j];
                        }
                        assertEquals(1.0, rowSum, 1e-5);
                    }
                    assertTrue(maxErr < 1e-5, "head " + h + " probs differ by " + maxErr);
                }
            }
            assertEquals(cfg.numKvHeads(), evicted.layer(last).isRagged() ? cfg.numKvHeads() : 1, "heads with different positions stay separate");
            assertEquals(false, evicted.layer(0).isRagged(), "untouched layers stay shared");
        }
    }

    /** Probabilities [G*T, nKeys] per KV head of one layer, for a step that extends the cache. */
    static Map<Integer, float[]> probs(Model m, KvCache c, int[] ids, int layer) {
        Map<Integer, float[]> out = new HashMap<>();
        ForwardObserver obs = new ForwardObserver() {
            @Override
            public boolean wantsAttentionProbs(int l) {
                return l == layer;
            }

            @Override
            public void attentionProbs(int l, int kvHead, NDArray p) {
                assertEquals(3, p.getShape().dimension());
                out.put(kvHead, p.toFloatArray());
            }
        };
        run(m, c, ids, ForwardOptions.defaults().withObserver(obs));
        return out;
    }

    /** Ragged per-head blocks (retain) and a uniform subset() of the same positions decode identically. */
    @Test
    void retainAndSubsetAgree() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("gemma3-tiny-a")); Model m = Model.load(ck); KvCache a = m.newCache()) {
            ModelConfig cfg = m.config();
            run(m, a, prompt(40, cfg.vocabSize()), ForwardOptions.defaults());
            java.util.function.IntPredicate keepPos = p -> p < 4 || p % 3 != 1;
            try (KvCache b = a.subset(keepPos)) {
                for (int l = 0; l < cfg.numLayers(); l++)
                    for (int h = 0; h < cfg.numKvHeads(); h++) {
                        int[] pos = a.positions(l, h);
                        a.retain(l, h, IntStream.range(0, pos.length).filter(i -> keepPos.test(pos[i])).toArray());
                    }
                for (int l = 0; l < cfg.numLayers(); l++) assertArrayEquals(a.positions(l, 1), b.positions(l, 1));
                assertEquals(a.totalEntries(), b.totalEntries());
                for (int i = 0; i < 5; i++) {
                    float[] la = run(m, a, new int[] {i + 3}, ForwardOptions.defaults());
                    float[] lb = run(m, b, new int[] {i + 3}, ForwardOptions.defaults());
                    assertTrue(Fixtures.relErr(la, lb) < 1e-6, "step " + i);
                }
                // every head kept the same positions: the forward pass regrouped the layers into one shared block
                for (int l = 0; l < cfg.numLayers(); l++) assertEquals(false, a.layer(l).isRagged(), "layer " + l);
                assertEquals(b.bytes() > 0, a.bytes() > 0);
                for (int h = 0; h < cfg.numKvHeads(); h++) assertArrayEquals(b.keys(5, h).toFloatArray(), a.keys(5, h).toFloatArray());
            }
        }
    }

    /** Sliding-window layers drop what no future query can see; global layers keep everything. */
    @Test
    void slidingLayersStayBoundedWhileDecoding() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("gemma3-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache()) {
            ModelConfig cfg = m.config();
            int w = cfg.slidingWindow();
            run(m, c, prompt(40, cfg.vocabSize()), ForwardOptions.defaults());
            for (int i = 0; i < 30; i++) run(m, c, new int[] {i + 1}, ForwardOptions.defaults());
            for (int l = 0; l < cfg.numLayers(); l++) {
                int len = c.length(l, 0);
                if (cfg.isSlidingLayer(l)) {
                    assertTrue(len >= w - 1 && len <= w + w / 3 + 1, "sliding layer " + l + " holds " + len);
                    assertEquals(c.nextPosition() - len, c.positions(l, 0)[0]);
                } else assertEquals(70, len);
            }
        }
    }

    /** queriesKeys hands over exactly the keys the cache stores (post-RoPE), and attentionInput the normed input. */
    @Test
    void observerSeesWhatTheCacheStores() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("qwen2-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache()) {
            ModelConfig cfg = m.config();
            float[][] seen = new float[2][];
            int[][] positions = new int[1][];
            ForwardObserver obs = new ForwardObserver() {
                @Override
                public void attentionInput(int layer, NDArray x, int[] p) {
                    if (layer == 1) {
                        positions[0] = p;
                        assertEquals(cfg.hiddenSize(), x.getShape().get(1));
                    }
                }

                @Override
                public void queriesKeys(int layer, NDArray q, NDArray k) {
                    if (layer == 1) {
                        seen[0] = k.toFloatArray();
                        assertEquals(cfg.numHeads(), q.getShape().get(0));
                    }
                }
            };
            run(m, c, prompt(12, cfg.vocabSize()), ForwardOptions.defaults());
            run(m, c, prompt(5, cfg.vocabSize()), ForwardOptions.defaults().withObserver(obs));
            assertArrayEquals(new int[] {12, 13, 14, 15, 16}, positions[0]);
            int d = cfg.headDim();
            for (int h = 0; h < cfg.numKvHeads(); h++) {
                float[] stored = c.keys(1, h).toFloatArray();
                for (int t = 0; t < 5; t++)
                    for (int j = 0; j < d; j++)
                        assertEquals(seen[0][(h * 5 + t) * d + j], stored[(12 + t) * d + j], 0f);
            }
            long expectedMin = 2L * cfg.numLayers() * cfg.numKvHeads() * 17 * d * 4;
            assertTrue(c.bytes() >= expectedMin, "bytes " + c.bytes() + " below the data held " + expectedMin);
        }
    }

    /** Forward passes leave no native arrays behind in the model's manager (every intermediate is scoped). */
    @Test
    void forwardLeaksNoArrays() {
        try (Checkpoint ck = Checkpoint.open(Fixtures.parity("gemma3-tiny-a")); Model m = Model.load(ck); KvCache c = m.newCache()) {
            run(m, c, prompt(20, m.config().vocabSize()), ForwardOptions.defaults());
            int before = m.manager().getManagedArrays().size();
            ForwardObserver obs = new ForwardObserver() {
                @Override
                public boolean wantsAttentionProbs(int layer) {
                    return true;
                }
            };
            for (int i = 0; i < 10; i++) run(m, c, new int[] {i}, ForwardOptions.defaults().withObserver(obs));
            run(m, c, prompt(9, m.config().vocabSize()), ForwardOptions.defaults().withExtendCache(false));
            assertEquals(before, m.manager().getManagedArrays().size(), "arrays left in the model's manager");
        }
    }
}
