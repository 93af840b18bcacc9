package io.kvgate.models;

/**
 * transformers keeps a few constants as non-persistent float buffers (RoPE {@code inv_freq}, Gemma's
 * {@code embed_scale}); loading a checkpoint in its own dtype (bf16) casts those buffers too, so the reference
 * numbers use the rounded constants even when the arithmetic is float32. kvgate rounds the same constants to the
 * checkpoint's dtype to reproduce transformers exactly (measured: without it, RoPE drifted 1e-3 from the
 * parity references).
 */
final class BufferRounding {
    private BufferRounding() {}

    /** float → bf16/f16 → float with round-to-nearest-even (identity for F32). */
    static float roundTo(SafetensorsFile.Dtype d, float x) {
        int bits = Float.floatToIntBits(x);
        switch (d) {
            case BF16:
                return Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
            case F16: {
                float a = Math.abs(x);
                if (a < 0x1p-14f) return (float) Math.copySign(Math.rint(a * 0x1p24) * 0x1p-24, x); // subnormal half
                int r = (bits + 0xfff + ((bits >>> 13) & 1)) & 0xffffe000;
                return Float.intBitsToFloat(r);
            }
            default:
                return x;
        }
    }

}
