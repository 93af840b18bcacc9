package io.kvgate.gates;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class GateMetricsTest {
    @Test
    void metricsOfAKnownSmallSet() {
        GateMetrics.Accumulator a = new GateMetrics.Accumulator();
        float[] s = {0.01f, 0.2f, 0.06f, 0.5f};
        float[] t = {0.02f, 0.1f, 0.04f, 0.9f};
        a.addAll(s, t, 4);
        GateMetrics m = a.result();
        assertEquals(4, m.pairs());
        assertEquals((0.01 * 0.01 + 0.1 * 0.1 + 0.02 * 0.02 + 0.4 * 0.4) / 4, m.mse(), 1e-7);
        assertEquals(0.75, m.agreement(), 1e-12); // 0.06 vs 0.04 disagree at the 0.05 threshold
        assertEquals(1.0, m.spearman(), 1e-12);   // same order
        assertEquals(0.5, m.baseRate(), 1e-12);   // 0.1 and 0.9 are at or above 0.05
        double bce = 0;
        for (int i = 0; i < 4; i++) bce -= t[i] * Math.log(s[i]) + (1 - t[i]) * Math.log(1 - s[i]);
        assertEquals(bce / 4, m.bce(), 1e-6);
    }

    @Test
    void constantGateAgreementTakesEachHeadsMajoritySide() {
        // rows × heads, row-major: head 0's targets are mostly ≥ 0.05 (3 of 4), head 1's mostly below (3 of 4)
        float[] t = {0.2f, 0.01f,
                     0.3f, 0.02f,
                     0.1f, 0.5f,
                     0.01f, 0.03f};
        float[] s = new float[t.length];
        java.util.Arrays.fill(s, 0.5f); // a gate that calls everything ≥ 0.05
        GateMetrics.Accumulator layer = new GateMetrics.Accumulator();
        layer.addAll(s, t, 4, 2);
        GateMetrics m = layer.result();
        assertEquals(0.5, m.agreement(), 1e-12);          // right on 4 of 8 pairs
        assertEquals(0.75, m.constantAgreement(), 1e-12); // a per-head constant gets 3 of 4 on each head
        assertEquals(0.5, m.baseRate(), 1e-12);           // pooled over heads, half are ≥ 0.05: max(share, 1 − share) would say 0.5

        // merging layers keeps their heads apart: a layer whose single head is all below adds 2 of 2
        GateMetrics.Accumulator other = new GateMetrics.Accumulator();
        other.addAll(new float[] {0.01f, 0.01f}, new float[] {0.01f, 0.02f}, 2, 1);
        GateMetrics.Accumulator all = new GateMetrics.Accumulator();
        all.addAll(layer);
        all.addAll(other);
        assertEquals(8.0 / 10, all.result().constantAgreement(), 1e-12);
        assertEquals(6.0 / 10, all.result().agreement(), 1e-12);
    }

    @Test
    void spearmanUsesAverageRanksForTies() {
        // ranks a: 1, 2.5, 2.5, 4; b: 1,2,3,4 → Pearson of ranks
        double rho = GateMetrics.spearman(new float[] {1, 2, 2, 3}, new float[] {1, 2, 3, 4});
        assertEquals(0.9486832980505138, rho, 1e-12);
        assertEquals(-1.0, GateMetrics.spearman(new float[] {1, 2, 3}, new float[] {3, 2, 1}), 1e-12);
    }
}
