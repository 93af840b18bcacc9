package io.kvgate.evaluator.policy;

import io.kvgate.models.KvgateException;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ProtectionTest {
    @Test
    void paperWindowIsTwoPercentBelow16kThen4096() {
        Protection p = Protection.paper();
        assertEquals(20, p.windowFor(1000));
        assertEquals(4096, p.windowFor(32_000));
        assertEquals(8, Protection.withWindow(8).windowFor(32_000));
    }

    @Test
    void protectsSinksPrefixAndWindow() {
        Protection p = Protection.withWindow(10).withSystemPrefix(6);
        assertTrue(p.isProtected(0, 0, 100, 10));
        assertTrue(p.isProtected(5, 0, 100, 10), "system prefix");
        assertFalse(p.isProtected(6, 0, 100, 10));
        assertFalse(p.isProtected(89, 0, 100, 10));
        assertTrue(p.isProtected(90, 0, 100, 10), "window");
    }

    @Test
    void candidateShareMatchesTheFormula() {
        // r' = (r n - w) / (n - w): 0.3 of 1000 with a 20-token window keeps (300-20)/980 of candidates.
        assertEquals(280.0 / 980, Protection.candidateShare(0.3, 1000, 20), 1e-12);
        assertEquals(0, Protection.candidateShare(0.01, 1000, 20), 0);
        assertEquals(1, Protection.candidateShare(0.3, 10, 20), 0);
    }

    @Test
    void rejectsBadValues() {
        assertThrows(KvgateException.class, () -> new Protection(-1, 0, 8, 0.02, 4096));
        assertThrows(KvgateException.class, () -> new Protection(4, 0, -5, 0.02, 4096));
    }
}
