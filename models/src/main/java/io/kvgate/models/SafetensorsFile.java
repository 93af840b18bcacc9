package io.kvgate.models;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One .safetensors file, read by memory-mapping: opening it parses and validates the header only (dtypes,
 * shapes, offsets that must tile the data section exactly); tensor bytes are mapped on demand, one tensor (or
 * one piece of it) at a time, so no whole file is ever copied into the heap.
 */
public final class SafetensorsFile implements AutoCloseable {
    /** Data types kvgate reads (I64 only for ids in outputs). BF16 is widened to float32 while loading (DJL cannot hold bf16). */
    public enum Dtype {
        F32(4), F16(2), BF16(2), I64(8);
        public final int bytes;

        Dtype(int bytes) {
            this.bytes = bytes;
        }
    }

    /** A tensor's header entry; {@code begin}/{@code end} are offsets into the data section. */
    public record TensorInfo(String name, Dtype dtype, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }

        public long byteLength() {
            return end - begin;
        }
    }

    private static final long MAX_HEADER = 100L << 20;

    private final Path file;
    private final FileChannel channel;
    private final long dataStart;
    private final Map<String, TensorInfo> tensors;

    private SafetensorsFile(Path file, FileChannel channel, long dataStart, Map<String, TensorInfo> tensors) {
        this.file = file;
        this.channel = channel;
        this.dataStart = dataStart;
        this.tensors = tensors;
    }

    /** Opens and validates the header; any inconsistency is a {@link KvgateException} naming the file. */
    public static SafetensorsFile open(Path file) {
        FileChannel ch;
        try {
            ch = FileChannel.open(file, StandardOpenOption.READ);
        } catch (NoSuchFileException e) {
            throw new KvgateException("missing weights file " + file);
        } catch (IOException e) {
            throw new KvgateException("cannot read weights file " + file + ": " + e.getMessage(), e);
        }
        try {
            long size = ch.size();
            if (size < 8) throw bad(file, "file is " + size + " bytes, shorter than the 8-byte header length (truncated?)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long headerLen = lenBuf.getLong(0);
            if (headerLen <= 0 || headerLen > MAX_HEADER)
                throw bad(file, "header length " + headerLen + " is not plausible (expected 1.." + MAX_HEADER + "); not a safetensors file?");
            if (8 + headerLen > size)
                throw bad(file, "header claims " + headerLen + " bytes but the file has only " + (size - 8) + " after the length (truncated)");
            ByteBuffer hb = ByteBuffer.allocate((int) headerLen);
            readFully(ch, hb, 8);
            JsonNode header;
            try {
                header = new ObjectMapper().readTree(new String(hb.array(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw bad(file, "header is not valid JSON (" + e.getMessage().split("\n")[0] + ")");
            }
            if (header == null || !header.isObject()) throw bad(file, "header is not a JSON object");
            long dataLen = size - 8 - headerLen;
            Map<String, TensorInfo> tensors = parseHeader(file, header, dataLen);
            SafetensorsFile f = new SafetensorsFile(file, ch, 8 + headerLen, tensors);
            ch = null;
            return f;
        } catch (IOException e) {
            throw new KvgateException("cannot read weights file " + file + ": " + e.getMessage(), e);
        } finally {
            if (ch != null) try { ch.close(); } catch (IOException ignored) { /* already failing */ }
        }
    }

    private static Map<String, TensorInfo> parseHeader(Path file, JsonNode header, long dataLen) {
        Map<String, TensorInfo> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String name = e.getKey();
            if (name.equals("__metadata__")) continue;
            JsonNode t = e.getValue();
            String dt = t.path("dtype").asText("");
            Dtype dtype;
            try {
                dtype = Dtype.valueOf(dt);
            } catch (IllegalArgumentException ex) {
                throw bad(file, "tensor '" + name + "' has dtype '" + dt + "' (supported: F32, F16, BF16, I64)");
            }
            JsonNode sh = t.path("shape");
            JsonNode off = t.path("data_offsets");
            if (!sh.isArray() || !off.isArray() || off.size() != 2)
                throw bad(file, "tensor '" + name + "' lacks a shape array or a [begin, end] data_offsets pair");
            long[] shape = new long[sh.size()];
            long numel = 1;
            for (int i = 0; i < shape.length; i++) {
                if (!sh.get(i).canConvertToLong() || sh.get(i).asLong() < 0)
                    throw bad(file, "tensor '" + name + "' has a bad shape " + sh);
                shape[i] = sh.get(i).asLong();
                numel = Math.multiplyExact(numel, shape[i]);
            }
            long begin = off.get(0).asLong(-1), end = off.get(1).asLong(-1);
            if (begin < 0 || end < begin)
                throw bad(file, "tensor '" + name + "' has data_offsets " + off + " (expected 0 <= begin <= end)");
            if (end > dataLen)
                throw bad(file, "tensor '" + name + "' ends at byte " + end + " but the data section has only " + dataLen + " bytes (truncated file or lying header)");
            if (numel * dtype.bytes != end - begin)
                throw bad(file, "tensor '" + name + "' has shape " + sh + " x " + dtype + " = " + numel * dtype.bytes
                        + " bytes but its data_offsets span " + (end - begin) + " bytes");
            out.put(name, new TensorInfo(name, dtype, shape, begin, end));
        }
        // Offsets must tile the data section without overlaps or holes (as the reference library checks).
        List<TensorInfo> sorted = new ArrayList<>(out.values());
        sorted.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long cursor = 0;
        for (TensorInfo t : sorted) {
            if (t.begin < cursor)
                throw bad(file, "tensor '" + t.name + "' data [" + t.begin + ", " + t.end + ") overlaps the previous tensor ending at " + cursor);
            if (t.begin > cursor)
                throw bad(file, "tensor '" + t.name + "' starts at " + t.begin + " leaving a hole after byte " + cursor);
            cursor = t.end;
        }
        if (cursor != dataLen)
            throw bad(file, "tensors cover " + cursor + " bytes of data but the data section has " + dataLen + " bytes");
        return Collections.unmodifiableMap(out);
    }

    public Path path() {
        return file;
    }

    public Map<String, TensorInfo> tensors() {
        return tensors;
    }

    public TensorInfo info(String name) {
        TensorInfo t = tensors.get(name);
        if (t == null) throw new KvgateException(file + ": no tensor '" + name + "'");
        return t;
    }

    /** Maps {@code length} bytes of a tensor starting at byte {@code offset} within it (little-endian, read-only). */
    public ByteBuffer map(TensorInfo t, long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > t.byteLength()) throw new IllegalArgumentException("range outside " + t.name);
        try {
            return channel.map(FileChannel.MapMode.READ_ONLY, dataStart + t.begin + offset, length).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new KvgateException("cannot map tensor '" + t.name + "' of " + file + ": " + e.getMessage(), e);
        }
    }

    /** A small tensor's values as float32 (from F32, F16 or BF16), read into the heap: for outputs and tests. */
    public float[] readFloats(String name) {
        TensorInfo t = info(name);
        ByteBuffer b = map(t, 0, t.byteLength());
        float[] out = new float[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) {
            out[i] = switch (t.dtype) {
                case F32 -> b.getFloat(i * 4);
                case BF16 -> Float.intBitsToFloat((b.getShort(i * 2) & 0xffff) << 16);
                case F16 -> halfToFloat(b.getShort(i * 2));
                case I64 -> b.getLong(i * 8);
            };
        }
        return out;
    }

    /** A small I64 tensor's values. */
    public long[] readLongs(String name) {
        TensorInfo t = info(name);
        if (t.dtype != Dtype.I64) throw new KvgateException(file + ": tensor '" + name + "' is " + t.dtype + ", expected I64");
        ByteBuffer b = map(t, 0, t.byteLength());
        long[] out = new long[Math.toIntExact(t.numel())];
        for (int i = 0; i < out.length; i++) out[i] = b.getLong(i * 8);
        return out;
    }

    /** IEEE half → float (Java 17 has no Float.float16ToFloat). */
    static float halfToFloat(short h) {
        int bits = h & 0xffff, sign = (bits & 0x8000) << 16, exp = (bits >>> 10) & 0x1f, mant = bits & 0x3ff;
        if (exp == 0x1f) return Float.intBitsToFloat(sign | 0x7f800000 | (mant << 13));
        if (exp == 0) {
            if (mant == 0) return Float.intBitsToFloat(sign);
            float v = mant / 1024f / 16384f; // subnormal: mant * 2^-24
            return sign != 0 ? -v : v;
        }
        return Float.intBitsToFloat(sign | ((exp + 112) << 23) | (mant << 13));
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int n = ch.read(buf, pos + buf.position());
            if (n < 0) break;
        }
    }

    private static KvgateException bad(Path file, String what) {
        return new KvgateException(file + ": " + what);
    }

    /** True if {@code file} exists (used for clearer messages before opening). */
    static boolean exists(Path file) {
        return Files.isRegularFile(file);
    }

    @Override
    public void close() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // read-only mapping: nothing to flush
        }
    }
}
