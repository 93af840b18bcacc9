package io.kvgate.models.text;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Device-side greedy and top-p sampling against the distribution it must draw from. */
class TokenSamplerTest {
    // probabilities 0.5, 0.3, 0.15, 0.05 (in shuffled vocabulary order)
    private static final float[] PROBS = {0.15f, 0.05f, 0.5f, 0.3f};

    private static NDArray logits(NDManager m) {
        float[] l = new float[PROBS.length];
        for (int i = 0; i < l.length; i++) l[i] = (float) Math.log(PROBS[i]) + 3f; // softmax-invariant shift
        return m.create(l).reshape(1, l.length);
    }

    private static int[] draws(SamplingConfig cfg, int n) {
        int[] counts = new int[PROBS.length];
        TokenSampler s = new TokenSampler(cfg);
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = logits(m);
            for (int i = 0; i < n; i++) {
                try (NDManager step = m.newSubManager()) {
                    logits.tempAttach(step);
                    counts[s.next(logits)]++;
                }
            }
        }
        return counts;
    }

    @Test
    void greedyIsArgmax() {
        assertEquals(5, draws(SamplingConfig.greedy(1), 5)[2]);
    }

    @Test
    void topPSamplesTheRenormalisedNucleus() {
        int n = 4000;
        // top-p 0.9 keeps 0.5, 0.3, 0.15 (mass before 0.05 is 0.95): 0.05 never drawn, the rest renormalised by 0.95
        int[] c = draws(SamplingConfig.sampling(1, 1.0, 0.9, 7), n);
        assertEquals(0, c[1]);
        assertEquals(0.5 / 0.95, c[2] / (double) n, 0.03);
        assertEquals(0.3 / 0.95, c[3] / (double) n, 0.03);
        assertEquals(0.15 / 0.95, c[0] / (double) n, 0.03);
    }

    @Test
    void fullNucleusAtTemperatureOneFollowsTheModel() {
        int n = 4000;
        int[] c = draws(SamplingConfig.sampling(1, 1.0, 1.0, 11), n);
        for (int i = 0; i < PROBS.length; i++) assertEquals(PROBS[i], c[i] / (double) n, 0.03, "token " + i);
    }

    @Test
    void smallTopPIsGreedyAndLowTemperatureSharpens() {
        assertEquals(300, draws(SamplingConfig.sampling(1, 1.0, 0.1, 3), 300)[2]);
        int[] cold = draws(SamplingConfig.sampling(1, 0.25, 1.0, 5), 2000);
        // T = 0.25: p ∝ p^4 → 0.5 has 0.0625 / (0.0625 + 0.0081 + 0.0005 + 0.00000625) ≈ 0.879
        assertEquals(0.879, cold[2] / 2000.0, 0.03);
    }

    @Test
    void sameSeedSameDraws() {
        int[] a = new int[50];
        int[] b = new int[50];
        try (NDManager m = NDManager.newBaseManager()) {
            NDArray logits = logits(m);
            TokenSampler s1 = new TokenSampler(SamplingConfig.sampling(1, 1.0, 1.0, 42));
            TokenSampler s2 = new TokenSampler(SamplingConfig.sampling(1, 1.0, 1.0, 42));
            for (int i = 0; i < 50; i++) {
                a[i] = s1.next(logits);
                b[i] = s2.next(logits);
            }
        }
        assertTrue(java.util.Arrays.equals(a, b));
        assertTrue(java.util.Arrays.stream(a).distinct().count() > 1, "a seeded sampler still samples");
    }
}
