package io.kvgate.objectives;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class SuccessorPoolingTest {
    @Test
    void eachEntryTakesItsSuccessorsRawScoreWithoutChaining() {
        float[][][] s = {{{0.1f, 0.2f, 0.9f, 0.05f}}};
        SuccessorPooling.apply(s, new int[][][] {{{0, 1, 2, 3}}});
        // entry 0 takes entry 1's raw 0.2, not the 0.9 entry 1 takes from entry 2
        assertArrayEquals(new float[] {0.2f, 0.9f, 0.9f, 0.05f}, s[0][0]);
    }

    @Test
    void evictedGapsAndOtherHeadsAreNotPooledOver() {
        float[][][] s = {null, {{0.1f, 0.2f, 0.8f, 0.3f}, {0.5f, 0.1f}}};
        SuccessorPooling.apply(s, new int[][][] {null, {{0, 1, 5, 6}, {7, 8}}});
        assertNull(s[0]);
        assertArrayEquals(new float[] {0.2f, 0.2f, 0.8f, 0.3f}, s[1][0]); // position 1's successor 2 is not held
        assertArrayEquals(new float[] {0.5f, 0.1f}, s[1][1]);
    }
}
