package io.kvgate.datasets;

import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class HalfTest {
    @Test
    void knownBitPatterns() {
        assertEquals((short) 0x3c00, Half.fromFloat(1f));
        assertEquals((short) 0xc000, Half.fromFloat(-2f));
        assertEquals((short) 0x3555, Half.fromFloat(1f / 3));
        assertEquals((short) 0x7bff, Half.fromFloat(65504f));
        assertEquals((short) 0x7c00, Half.fromFloat(70000f)); // overflow -> inf
        assertEquals((short) 0x0001, Half.fromFloat(0x1p-24f)); // smallest subnormal
        assertEquals((short) 0x0000, Half.fromFloat(0x1p-26f)); // below half of it -> 0
        assertEquals((short) 0x3c00, Half.fromFloat(1f + 0x1p-11f)); // tie rounds to even (down)
        assertEquals((short) 0x3c02, Half.fromFloat(1f + 3 * 0x1p-11f)); // tie rounds to even (up)
        assertTrue(Float.isNaN(Half.toFloat(Half.fromFloat(Float.NaN))));
        assertEquals(Float.NEGATIVE_INFINITY, Half.toFloat(Half.fromFloat(Float.NEGATIVE_INFINITY)));
    }

    @Test
    void everyHalfRoundTripsExactly() {
        for (int h = 0; h < 0x10000; h++) {
            float f = Half.toFloat((short) h);
            if (Float.isNaN(f)) continue;
            assertEquals((short) h, Half.fromFloat(f), "half 0x" + Integer.toHexString(h));
        }
    }

    @Test
    void roundingErrorWithinHalfAnUlp() {
        Random r = new Random(1);
        for (int i = 0; i < 100_000; i++) {
            float f = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(8) - 5));
            float back = Half.toFloat(Half.fromFloat(f));
            float abs = Math.abs(f);
            // relative 2^-11 for normals; absolute 2^-25 for subnormals (half of the smallest subnormal step)
            double bound = abs >= 0x1p-14f ? abs * 0x1p-11 : 0x1p-25;
            assertTrue(Math.abs(back - f) <= bound, f + " -> " + back);
        }
    }
}
