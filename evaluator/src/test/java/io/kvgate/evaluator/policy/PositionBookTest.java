package io.kvgate.evaluator.policy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The position book's bulk write (one copy per chunk) against element writes, across the book's growth. */
class PositionBookTest {
    @Test
    void runWritesEqualElementWritesAndGrowTheBook() {
        PositionBook bulk = new PositionBook(2, 3, new int[] {1});
        PositionBook single = new PositionBook(2, 3, new int[] {1});
        float[] values = new float[1000];
        for (int i = 0; i < values.length; i++) values[i] = (float) Math.sin(i);
        // a first chunk, then one that ends far past the initial capacity, for head 2 only from an offset into values
        bulk.setRun(1, 2, 0, values, 0, 200);
        bulk.setRun(1, 2, 200, values, 300, 700);
        for (int i = 0; i < 200; i++) single.set(1, 2, i, values[i]);
        for (int i = 0; i < 700; i++) single.set(1, 2, 200 + i, values[300 + i]);
        for (int p = 0; p < 950; p++) {
            float a = bulk.get(1, 2, p), b = single.get(1, 2, p);
            assertTrue(Float.compare(a, b) == 0, "position " + p + ": " + a + " vs " + b);
        }
        assertTrue(Float.isNaN(bulk.get(1, 2, 900)), "past the written run: unknown");
        assertTrue(Float.isNaN(bulk.get(1, 0, 5)), "other heads untouched");
        assertEquals(values[300], bulk.get(1, 2, 200));
    }
}
