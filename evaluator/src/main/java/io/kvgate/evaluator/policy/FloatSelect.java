package io.kvgate.evaluator.policy;

/**
 * The k-th smallest of an array in two linear passes (radix select): floats are mapped to unsigned integer keys in
 * the same order, the top 16 bits of every key are counted to find the bucket holding rank k, then the low 16 bits
 * of that bucket's keys. A budget's threshold is one order statistic of every candidate score, after every prefill
 * chunk of a long context: sorting cost ~100 ms per million candidates, quickselect ~15 ms (its swaps and branches),
 * this ~2 ms.
 */
final class FloatSelect {
    private static final int BUCKETS = 1 << 16;

    private FloatSelect() {}

    /** The value that {@code Arrays.sort(a)} would put at index {@code k}; {@code a} is left as it is. No NaNs allowed. */
    static float kthSmallest(float[] a, int k) {
        if (k < 0 || k >= a.length) throw new IllegalArgumentException("k = " + k + " outside [0, " + a.length + ")");
        return kthSmallest(new float[][] {a}, new boolean[][] {new boolean[a.length]}, k);
    }

    /**
     * The k-th smallest of the values {@code values[i][j]} whose {@code skip[i][j]} is false, NaN counted as
     * -infinity: the same two radix passes over many arrays (an eviction's every (layer, head)), counted in parallel
     * groups of arrays when there are many values (millions at 32K tokens). None of the arrays is changed.
     */
    static float kthSmallest(float[][] values, boolean[][] skip, long k) {
        int[] count = histogram(values, skip, -1);
        int high = 0;
        while (k >= count[high]) k -= count[high++];
        count = histogram(values, skip, high);
        int low = 0;
        while (k >= count[low]) k -= count[low++];
        return value(high << 16 | low);
    }

    /** Counts of the keys' top 16 bits ({@code high} < 0), or of the low 16 bits of the keys whose top bits are {@code high}. */
    private static int[] histogram(float[][] values, boolean[][] skip, int high) {
        long work = 0;
        for (float[] v : values) work += v.length;
        int groups = Parallel.groups(values.length, work);
        int[][] partial = new int[groups][];
        Parallel.forEachGroup(values.length, groups, (g, from, to) -> {
            int[] c = new int[BUCKETS];
            for (int a = from; a < to; a++) {
                float[] v = values[a];
                boolean[] sk = skip[a];
                for (int i = 0; i < v.length; i++) {
                    if (sk[i]) continue;
                    int key = key(Float.isNaN(v[i]) ? Float.NEGATIVE_INFINITY : v[i]);
                    if (high < 0) c[key >>> 16]++;
                    else if (key >>> 16 == high) c[key & 0xffff]++;
                }
            }
            partial[g] = c;
        });
        int[] count = partial[0];
        for (int g = 1; g < groups; g++) for (int b = 0; b < BUCKETS; b++) count[b] += partial[g][b];
        return count;
    }

    /** An int whose unsigned order is the float order of Arrays.sort (-0.0 before 0.0): negatives flipped, sign set on positives. */
    private static int key(float x) {
        int bits = Float.floatToRawIntBits(x);
        return bits ^ (bits >> 31 | Integer.MIN_VALUE);
    }

    private static float value(int key) {
        int bits = key < 0 ? key ^ Integer.MIN_VALUE : ~key;
        return Float.intBitsToFloat(bits);
    }
}
