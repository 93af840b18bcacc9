package io.kvgate.models;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

class BufferRoundingTest {
    @Test
    void roundsLikeTorchCasts() {
        assertEquals(50.5f, BufferRounding.roundTo(SafetensorsFile.Dtype.BF16, (float) Math.sqrt(2560))); // Gemma3-4B embed_scale in bf16
        assertEquals(8f, BufferRounding.roundTo(SafetensorsFile.Dtype.BF16, 8f));
        assertEquals(0.333251953125f, BufferRounding.roundTo(SafetensorsFile.Dtype.F16, 1f / 3));
        assertEquals(0x1p-24f * 17, BufferRounding.roundTo(SafetensorsFile.Dtype.F16, 0x1p-24f * 17.2f)); // f16 subnormal
        assertEquals(1f / 3, BufferRounding.roundTo(SafetensorsFile.Dtype.F32, 1f / 3));
        // ties go to even: 1 + 2^-8 lies halfway between bf16 neighbours 1 and 1 + 2^-7
        assertEquals(1f, BufferRounding.roundTo(SafetensorsFile.Dtype.BF16, 1f + 0x1p-8f));
        assertEquals(1f + 0x1p-6f, BufferRounding.roundTo(SafetensorsFile.Dtype.BF16, 1f + 0x1p-7f + 0x1p-8f));
    }
}
