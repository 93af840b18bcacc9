package io.kvgate.evaluator.policy;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class FloatSelectTest {
    @Test
    void agreesWithSortingForEveryRankOnArraysWithTies() {
        Random random = new Random(3);
        for (int trial = 0; trial < 200; trial++) {
            int n = 1 + random.nextInt(200);
            float[] a = new float[n];
            for (int i = 0; i < n; i++)  // few distinct values (ties) in some trials, -inf runs as unscored entries
                a[i] = trial % 3 == 0 ? random.nextInt(4) : trial % 3 == 1 ? Float.NEGATIVE_INFINITY : random.nextFloat();
            if (trial % 3 == 1) for (int i = 0; i < n / 2; i++) a[random.nextInt(n)] = random.nextFloat();
            float[] sorted = a.clone();
            Arrays.sort(sorted);
            for (int k = 0; k < n; k++) assertEquals(sorted[k], FloatSelect.kthSmallest(a, k), "trial " + trial + " k " + k);
        }
    }

    @Test
    void ordersSignedZerosInfinitiesAndSubnormalsAsSortingDoesAndLeavesTheArrayAlone() {
        float[] a = {0f, -0f, Float.MIN_VALUE, -Float.MIN_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, -1e30f, 1e30f, 0.5f, -0.5f};
        float[] before = a.clone(), sorted = a.clone();
        Arrays.sort(sorted);
        for (int k = 0; k < a.length; k++)
            assertEquals(Float.floatToRawIntBits(sorted[k]), Float.floatToRawIntBits(FloatSelect.kthSmallest(a, k)), "k " + k);
        assertArrayEquals(before, a);
    }

    @Test
    void rejectsARankOutsideTheArray() {
        assertThrows(IllegalArgumentException.class, () -> FloatSelect.kthSmallest(new float[3], 3));
        assertThrows(IllegalArgumentException.class, () -> FloatSelect.kthSmallest(new float[0], 0));
    }
}
