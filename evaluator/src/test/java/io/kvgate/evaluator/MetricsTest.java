package io.kvgate.evaluator;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MetricsTest {
    @Test
    void exactPrefixAndCharMatch() {
        assertTrue(Metrics.exactPrefix(" 12345. More", " 12345."));
        assertFalse(Metrics.exactPrefix(" 12346.", " 12345."));
        assertEquals(1.0, Metrics.charMatch("abcd", "abcd"), 0);
        assertEquals(0.75, Metrics.charMatch("abxd", "abcd"), 1e-12);
        assertEquals(0.5, Metrics.charMatch("ab", "abcd"), 1e-12);
    }

    @Test
    void klMatchesAHandComputedValue() {
        double[] p = {0.5, 0.25, 0.25};
        double[] q = {0.25, 0.5, 0.25};
        float[][] lp = {{(float) Math.log(p[0]), (float) Math.log(p[1]), (float) Math.log(p[2])}};
        float[][] lq = {{(float) Math.log(q[0]), (float) Math.log(q[1]), (float) Math.log(q[2])}};
        double expected = 0.5 * Math.log(2) + 0.25 * Math.log(0.5);
        assertEquals(expected, Metrics.klDivergence(lp, lq), 1e-6);
        assertEquals(0, Metrics.klDivergence(lp, lp), 1e-9);
    }
}
