package io.kvgate.cli.config;

import io.kvgate.models.KvgateException;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@code model:} which frozen checkpoint runs, where, and in which dtype.
 *
 * @param path      checkpoint directory (config.json + safetensors)
 * @param device    cpu or gpu
 * @param dtype     float32, or float16 (GPU only)
 * @param chunkSize prefill chunk in tokens
 */
public record ModelSpec(Path path, String device, String dtype, int chunkSize) {
    static final List<String> KEYS = List.of("path", "device", "dtype", "chunk_size");
    public static final List<String> DEVICES = List.of("cpu", "gpu");
    public static final List<String> DTYPES = List.of("float32", "float16");

    static ModelSpec read(Section s) {
        if (!s.has("path")) throw s.missing("path");
        Path path = s.path("path");
        if (!Files.isDirectory(path)) {
            throw s.fail("path", s.string("path", "") + " is not a directory (resolved to " + path + ")");
        }
        if (!Files.isReadable(path.resolve("config.json"))) {
            throw s.fail("path", path + " has no readable config.json; expected a Hugging Face checkpoint directory");
        }
        String device = s.choice("device", "cpu", DEVICES);
        String dtype = s.choice("dtype", "float32", DTYPES);
        if (dtype.equals("float16") && device.equals("cpu")) {
            throw s.fail("dtype", "float16 needs device: gpu (CPU runs in float32)");
        }
        int chunk = s.integer("chunk_size", 512, Range.atLeast(1));
        return new ModelSpec(path, device, dtype, chunk);
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", path.toString());
        m.put("device", device);
        m.put("dtype", dtype);
        m.put("chunk_size", chunkSize);
        return m;
    }

    /** Fails unless the checkpoint is still where the config said (stages call this before loading). */
    public void checkReadable() {
        if (!Files.isDirectory(path)) throw new KvgateException("model.path: " + path + " is not a directory");
    }
}
