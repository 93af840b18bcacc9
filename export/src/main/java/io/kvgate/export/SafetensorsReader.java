package io.kvgate.export;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.gates.GateTensor;
import io.kvgate.models.KvgateException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads every tensor of a small float32 .safetensors file (a gate artifact) and checks the file against its own
 * header: header length, offsets inside the file, sizes that match shapes, finite values. Anything wrong is a
 * {@link KvgateException} naming the file and tensor.
 */
final class SafetensorsReader {
    private SafetensorsReader() {}

    static Map<String, GateTensor> readF32(Path file) {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw bad(file, "file is " + size + " bytes, shorter than the 8-byte header length");
            MappedByteBuffer buf = ch.map(FileChannel.MapMode.READ_ONLY, 0, size);
            buf.order(ByteOrder.LITTLE_ENDIAN);
            long headerLen = buf.getLong(0);
            if (headerLen <= 0 || headerLen > size - 8) throw bad(file, "header length " + headerLen + " does not fit in a " + size + "-byte file (truncated or not safetensors)");
            byte[] hb = new byte[(int) headerLen];
            buf.get(8, hb);
            JsonNode header;
            try {
                header = new ObjectMapper().readTree(new String(hb, StandardCharsets.UTF_8));
            } catch (IOException e) {
                throw bad(file, "header is not valid JSON");
            }
            if (header == null || !header.isObject()) throw bad(file, "header is not a JSON object");
            long dataStart = 8 + headerLen;
            Map<String, GateTensor> out = new LinkedHashMap<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = header.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (e.getKey().equals("__metadata__")) continue;
                out.put(e.getKey(), tensor(file, e.getKey(), e.getValue(), buf, dataStart, size));
            }
            return out;
        } catch (IOException e) {
            throw new KvgateException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static GateTensor tensor(Path file, String name, JsonNode h, ByteBuffer buf, long dataStart, long size) {
        if (!"F32".equals(h.path("dtype").asText())) throw bad(file, "tensor '" + name + "' has dtype " + h.path("dtype") + ", expected F32");
        JsonNode shapeNode = h.path("shape"), off = h.path("data_offsets");
        if (!shapeNode.isArray() || !off.isArray() || off.size() != 2) throw bad(file, "tensor '" + name + "' lacks shape or data_offsets");
        long[] shape = new long[shapeNode.size()];
        long count = 1;
        for (int i = 0; i < shape.length; i++) {
            shape[i] = shapeNode.get(i).asLong(-1);
            if (shape[i] < 0) throw bad(file, "tensor '" + name + "' has a negative dimension");
            count *= shape[i];
        }
        long begin = off.get(0).asLong(-1), end = off.get(1).asLong(-1);
        if (begin < 0 || end < begin || dataStart + end > size)
            throw bad(file, "tensor '" + name + "' data [" + begin + ", " + end + ") lies outside the file (truncated?)");
        if (end - begin != count * 4) throw bad(file, "tensor '" + name + "' holds " + (end - begin) + " bytes, its shape needs " + count * 4);
        float[] data = new float[(int) count];
        ByteBuffer slice = buf.duplicate().order(ByteOrder.LITTLE_ENDIAN).position((int) (dataStart + begin));
        slice.asFloatBuffer().get(data);
        for (int i = 0; i < data.length; i++)
            if (!Float.isFinite(data[i])) throw bad(file, "tensor '" + name + "' value " + i + " is " + data[i]);
        return new GateTensor(shape, data);
    }

    private static KvgateException bad(Path file, String what) {
        return new KvgateException(file + ": " + what);
    }

    static boolean exists(Path file) {
        return Files.isRegularFile(file);
    }
}
