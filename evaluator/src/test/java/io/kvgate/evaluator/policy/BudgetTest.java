package io.kvgate.evaluator.policy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

class BudgetTest {
    // 2 layers x 2 heads x 5 entries; layer 1 head 0 holds the best scores.
    private static final float[][][] SCORES = {
            {{0.1f, 0.2f, 0.3f, 0.4f, 0.5f}, {0.05f, 0.15f, 0.25f, 0.35f, 0.45f}},
            {{0.9f, 0.8f, 0.7f, 0.6f, 0.55f}, {0.01f, 0.02f, 0.03f, 0.04f, 0.06f}},
    };

    private static boolean[][][] none() {
        boolean[][][] p = new boolean[2][2][5];
        return p;
    }

    @Test
    void globalThresholdFavoursTheBestHeads() {
        int[][][] keep = Budget.GLOBAL.select(SCORES, none(), 2.0); // 8 entries over 4 heads
        assertArrayEquals(new int[] {3, 4}, keep[0][0]);
        assertArrayEquals(new int[] {4}, keep[0][1]);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, keep[1][0]);
        assertArrayEquals(new int[] {}, keep[1][1]);
    }

    @Test
    void perHeadKeepsTheSameCountEverywhere() {
        int[][][] keep = Budget.PER_HEAD.select(SCORES, none(), 2.0);
        assertArrayEquals(new int[] {3, 4}, keep[0][0]);
        assertArrayEquals(new int[] {3, 4}, keep[0][1]);
        assertArrayEquals(new int[] {0, 1}, keep[1][0]);
        assertArrayEquals(new int[] {3, 4}, keep[1][1]);
    }

    @Test
    void perLayerSharesWithinALayer() {
        int[][][] keep = Budget.PER_LAYER.select(SCORES, none(), 2.0); // 4 per layer
        assertArrayEquals(new int[] {3, 4}, keep[0][0]);
        assertArrayEquals(new int[] {3, 4}, keep[0][1]);
        assertArrayEquals(new int[] {0, 1, 2, 3}, keep[1][0]);
        assertArrayEquals(new int[] {}, keep[1][1]);
    }

    @Test
    void protectedEntriesAreKeptAndCountAgainstTheBudget() {
        boolean[][][] p = none();
        for (int l = 0; l < 2; l++) for (int h = 0; h < 2; h++) p[l][h][0] = true; // a sink in every head
        int[][][] keep = Budget.GLOBAL.select(SCORES, p, 2.0); // 8 slots - 4 sinks = 4 candidates
        long total = 0;
        for (int l = 0; l < 2; l++) for (int h = 0; h < 2; h++) {
            assertEquals(0, keep[l][h][0], "sink kept");
            total += keep[l][h].length;
        }
        assertEquals(8, total);
        assertArrayEquals(new int[] {0, 1, 2, 3, 4}, keep[1][0]);
    }

    @Test
    void budgetBelowProtectionKeepsOnlyProtected() {
        boolean[][][] p = none();
        p[0][0][2] = true;
        int[][][] keep = Budget.GLOBAL.select(SCORES, p, 0.1);
        assertArrayEquals(new int[] {2}, keep[0][0]);
        assertArrayEquals(new int[] {}, keep[1][0]);
    }

    @Test
    void tiesAndNaNAreDeterministic() {
        float[][][] s = {{{1, 1, 1, Float.NaN}}};
        int[][][] keep = Budget.GLOBAL.select(s, new boolean[1][1][4], 2.0);
        assertArrayEquals(new int[] {0, 1}, keep[0][0]);
        keep = Budget.GLOBAL.select(s, new boolean[1][1][4], 4.0);
        assertArrayEquals(new int[] {0, 1, 2, 3}, keep[0][0]);
    }

    @Test
    void unscoredLayersAreLeftAlone() {
        float[][][] s = {null, {{0.3f, 0.2f}}};
        int[][][] keep = Budget.GLOBAL.select(s, new boolean[][][] {null, {{false, false}}}, 1.0);
        assertNull(keep[0]);
        assertArrayEquals(new int[] {0}, keep[1][0]);
    }

    @Test
    void selectionOfALargeEvictionMatchesASortedReferenceOnOneOrManyThreads() throws Exception {
        // 8 layers x 4 heads x 20000 entries (above the parallel threshold), scores with many ties, 5 % protected
        java.util.Random r = new java.util.Random(3);
        int layers = 8, heads = 4, n = 20000;
        float[][][] s = new float[layers][heads][n];
        boolean[][][] p = new boolean[layers][heads][n];
        for (int l = 0; l < layers; l++) for (int h = 0; h < heads; h++) for (int i = 0; i < n; i++) {
            s[l][h][i] = r.nextInt(100) / 10f;
            p[l][h][i] = r.nextInt(20) == 0;
        }
        for (int threads : new int[] {1, 4}) { // one group on the calling thread, or parallel groups, whatever the machine's cores
            java.util.concurrent.ForkJoinPool pool = new java.util.concurrent.ForkJoinPool(threads);
            try {
                for (double perHead : new double[] {1200, 6000, 16000}) {
                    int[][][] keep = pool.submit(() -> Budget.GLOBAL.select(s, p, perHead)).get();
                    int[][][] expected = sortedReference(s, p, Math.round(perHead * layers * heads));
                    for (int l = 0; l < layers; l++) for (int h = 0; h < heads; h++)
                        assertArrayEquals(expected[l][h], keep[l][h], threads + " threads, budget " + perHead + " layer " + l + " head " + h);
                }
            } finally {
                pool.shutdown();
            }
        }
    }

    /** Protected entries, then candidates by descending score, ties by (layer, head, index), up to {@code total}. */
    private static int[][][] sortedReference(float[][][] s, boolean[][][] p, long total) {
        java.util.List<int[]> cands = new java.util.ArrayList<>();
        long protectedCount = 0;
        for (int l = 0; l < s.length; l++) for (int h = 0; h < s[l].length; h++) for (int i = 0; i < s[l][h].length; i++) {
            if (p[l][h][i]) protectedCount++;
            else cands.add(new int[] {l, h, i});
        }
        cands.sort((a, b) -> {
            int c = Float.compare(s[b[0]][b[1]][b[2]], s[a[0]][a[1]][a[2]]);
            return c != 0 ? c : java.util.Arrays.compare(a, b);
        });
        boolean[][][] kept = new boolean[s.length][s[0].length][s[0][0].length];
        long slots = Math.max(0, total - protectedCount);
        for (int c = 0; c < Math.min(slots, cands.size()); c++) kept[cands.get(c)[0]][cands.get(c)[1]][cands.get(c)[2]] = true;
        int[][][] out = new int[s.length][s[0].length][];
        for (int l = 0; l < s.length; l++) for (int h = 0; h < s[l].length; h++) {
            final int ll = l, hh = h;
            out[l][h] = java.util.stream.IntStream.range(0, s[l][h].length).filter(i -> p[ll][hh][i] || kept[ll][hh][i]).toArray();
        }
        return out;
    }

    @Test
    void parsesNames() {
        assertEquals(Budget.PER_HEAD, Budget.parse("per-head"));
        assertEquals(Budget.GLOBAL, Budget.parse("global"));
        assertThrows(io.kvgate.models.KvgateException.class, () -> Budget.parse("uniform"));
    }
}
