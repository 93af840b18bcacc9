package io.kvgate.evaluator.policy;

import java.util.concurrent.ThreadLocalRandom;

/**
 * The k-th smallest of an array in expected linear time (quickselect with a random pivot and a three-way
 * partition, so runs of equal values, such as unscored entries, do not degrade it). A budget's threshold is one
 * order statistic of every candidate score; sorting them all cost O(n log n) per eviction, about 100 ms per
 * million candidates, after every prefill chunk of a long context.
 */
final class FloatSelect {
    private FloatSelect() {}

    /** The value that {@code Arrays.sort(a)} would put at index {@code k}; reorders {@code a}. No NaNs allowed. */
    static float kthSmallest(float[] a, int k) {
        if (k < 0 || k >= a.length) throw new IllegalArgumentException("k = " + k + " outside [0, " + a.length + ")");
        int lo = 0, hi = a.length - 1;
        ThreadLocalRandom random = ThreadLocalRandom.current();
        while (lo < hi) {
            float pivot = a[lo + random.nextInt(hi - lo + 1)];
            // a[lo..lt) < pivot, a[lt..i) == pivot, a(gt..hi] > pivot
            int lt = lo, i = lo, gt = hi;
            while (i <= gt) {
                float x = a[i];
                if (x < pivot) swap(a, lt++, i++);
                else if (x > pivot) swap(a, i, gt--);
                else i++;
            }
            if (k < lt) hi = lt - 1;
            else if (k > gt) lo = gt + 1;
            else return pivot;
        }
        return a[k];
    }

    private static void swap(float[] a, int i, int j) {
        float t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
