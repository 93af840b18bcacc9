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
    void spearmanUsesAverageRanksForTies() {
        // ranks a: 1, 2.5, 2.5, 4; b: 1,2,3,4 → Pearson of ranks
        double rho = GateMetrics.spearman(new float[] {1, 2, 2, 3}, new float[] {1, 2, 3, 4});
        assertEquals(0.9486832980505138, rho, 1e-12);
        assertEquals(-1.0, GateMetrics.spearman(new float[] {1, 2, 3}, new float[] {3, 2, 1}), 1e-12);
    }
}
