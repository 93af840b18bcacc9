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
        return kthSmallest(a, a.length, k);
    }

    /**
     * As above, over the first {@code n} values of {@code a}; each pass counts ranges of the array in parallel when
     * it is large (an eviction's millions of candidates at 32K tokens).
     */
    static float kthSmallest(float[] a, int n, int k) {
        if (k < 0 || k >= n) throw new IllegalArgumentException("k = " + k + " outside [0, " + n + ")");
        int[] count = histogram(a, n, -1);
        int high = 0;
        while (k >= count[high]) k -= count[high++];
        count = histogram(a, n, high);
        int low = 0;
        while (k >= count[low]) k -= count[low++];
        return value(high << 16 | low);
    }

    /** Counts of the keys' top 16 bits ({@code high} < 0), or of the low 16 bits of the keys whose top bits are {@code high}. */
    private static int[] histogram(float[] a, int n, int high) {
        int groups = Parallel.groups(n, n);
        int[][] partial = new int[groups][];
        Parallel.forEachGroup(n, groups, (g, from, to) -> {
            int[] c = new int[BUCKETS];
            if (high < 0) for (int i = from; i < to; i++) c[key(a[i]) >>> 16]++;
            else for (int i = from; i < to; i++) {
                int key = key(a[i]);
                if (key >>> 16 == high) c[key & 0xffff]++;
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
