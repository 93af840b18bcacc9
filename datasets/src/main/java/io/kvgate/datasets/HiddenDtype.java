package io.kvgate.datasets;

import io.kvgate.models.KvgateException;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * How hidden states are stored in a shard's {@code x} column: little-endian IEEE float32, or float16
 * (half the disk, ~3 significant digits — plenty for fitting gates on normalised hidden states).
 */
public enum HiddenDtype {
    F32(4), F16(2);

    private final int bytes;

    HiddenDtype(int bytes) {
        this.bytes = bytes;
    }

    public int bytes() {
        return bytes;
    }

    /** Name used in manifests and on the command line: "f32" / "f16". */
    public String id() {
        return name().toLowerCase();
    }

    public static HiddenDtype parse(String s) {
        return switch (s.toLowerCase()) {
            case "f32", "float32" -> F32;
            case "f16", "float16" -> F16;
            default -> throw new KvgateException("hidden dtype '" + s + "': expected f16 or f32");
        };
    }

    /** Encodes {@code values[from, from+n)} into {@code n * bytes()} little-endian bytes. */
    public byte[] encode(float[] values, int from, int n) {
        ByteBuffer b = ByteBuffer.allocate(n * bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (this == F32) {
            for (int i = 0; i < n; i++) b.putFloat(values[from + i]);
        } else {
            for (int i = 0; i < n; i++) b.putShort(Half.fromFloat(values[from + i]));
        }
        return b.array();
    }

    /** Decodes {@code bytes.length / bytes()} values into {@code out[offset...]}. */
    public void decode(byte[] data, float[] out, int offset) {
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        int n = data.length / bytes;
        if (this == F32) {
            b.asFloatBuffer().get(out, offset, n);
        } else {
            for (int i = 0; i < n; i++) out[offset + i] = Half.toFloat(b.getShort());
        }
    }
}
