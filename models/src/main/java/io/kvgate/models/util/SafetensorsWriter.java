package io.kvgate.models.util;

import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a .safetensors file (8-byte little-endian header length, JSON header, raw little-endian data),
 * atomically. Used for forward outputs and gate artifacts; readable by Python's {@code safetensors}.
 */
public final class SafetensorsWriter {
    private record Entry(String name, String dtype, long[] shape, byte[] data) {}

    private final List<Entry> entries = new ArrayList<>();
    private final Map<String, String> metadata = new LinkedHashMap<>();

    public SafetensorsWriter putF32(String name, long[] shape, float[] data) {
        checkCount(name, shape, data.length);
        ByteBuffer b = ByteBuffer.allocate(data.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        b.asFloatBuffer().put(data);
        entries.add(new Entry(name, "F32", shape.clone(), b.array()));
        return this;
    }

    public SafetensorsWriter putI64(String name, long[] shape, long[] data) {
        checkCount(name, shape, data.length);
        ByteBuffer b = ByteBuffer.allocate(data.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        b.asLongBuffer().put(data);
        entries.add(new Entry(name, "I64", shape.clone(), b.array()));
        return this;
    }

    /** Raw little-endian bytes of any safetensors dtype (e.g. "BF16", "F16"), for re-writing tensors unchanged. */
    public SafetensorsWriter putRaw(String name, String dtype, long[] shape, byte[] data) {
        entries.add(new Entry(name, dtype, shape.clone(), data.clone()));
        return this;
    }

    /** Free-form string metadata ({@code __metadata__} in the header). */
    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    public void write(Path target) {
        AtomicFiles.write(target, this::writeTo);
    }

    public void writeTo(OutputStream out) throws IOException {
        Map<String, Object> header = new LinkedHashMap<>();
        if (!metadata.isEmpty()) header.put("__metadata__", metadata);
        long offset = 0;
        for (Entry e : entries) {
            Map<String, Object> h = new LinkedHashMap<>();
            h.put("dtype", e.dtype);
            h.put("shape", e.shape);
            h.put("data_offsets", new long[] {offset, offset + e.data.length});
            header.put(e.name, h);
            offset += e.data.length;
        }
        byte[] json = new ObjectMapper().writeValueAsBytes(header);
        int pad = (8 - json.length % 8) % 8; // keep data 8-byte aligned, as the reference writer does
        byte[] padded = new byte[json.length + pad];
        System.arraycopy(json, 0, padded, 0, json.length);
        for (int i = json.length; i < padded.length; i++) padded[i] = ' ';
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(padded.length);
        out.write(len.array());
        out.write(padded);
        for (Entry e : entries) out.write(e.data);
    }

    private static void checkCount(String name, long[] shape, int count) {
        long n = 1;
        for (long d : shape) n *= d;
        if (n != count) throw new IllegalArgumentException(name + ": shape holds " + n + " values, data has " + count);
    }

    @SuppressWarnings("unused")
    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
