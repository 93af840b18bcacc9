package io.kvgate.evaluator.policy;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The position book's bulk write (one copy per chunk) against element writes, across the book's growth; its snapshots. */
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

    @Test
    void restoreReturnsToTheSnapshotWhateverWasWrittenSince() {
        PositionBook book = new PositionBook(1, 2, new int[] {0});
        book.set(0, 0, 3, 1f);
        book.snapshot();
        for (int query = 0; query < 3; query++) {
            book.restore();
            assertEquals(1f, book.get(0, 0, 3));
            assertTrue(Float.isNaN(book.get(0, 0, 4)) && Float.isNaN(book.get(0, 1, 3)), "query " + query + " sees no earlier query");
            book.set(0, 0, 3, 5f);          // overwrites a row the snapshot shares
            book.add(0, 0, 4, 2f);
            book.set(0, 1, 3, 7f);
            book.setRun(0, 1, 500, new float[] {9f}, 0, 1); // grows a row
            assertEquals(5f, book.get(0, 0, 3));
            assertEquals(2f, book.get(0, 0, 4));
            assertEquals(9f, book.get(0, 1, 500));
        }
    }
}
