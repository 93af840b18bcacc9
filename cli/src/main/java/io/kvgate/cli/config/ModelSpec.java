package io.kvgate.cli.config;

import io.kvgate.models.ComputeTarget;
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
 * @param device    cpu, gpu, gpu:N or auto (a GPU if the engine sees one)
 * @param dtype     float32, float16 (GPU only) or auto (float16 on GPU, float32 on CPU)
 * @param chunkSize prefill chunk in tokens
 */
public record ModelSpec(Path path, String device, String dtype, int chunkSize) {
    static final List<String> KEYS = List.of("path", "device", "dtype", "chunk_size");
    public static final List<String> DTYPES = List.of("float32", "float16", "auto");

    static ModelSpec read(Section s) {
        if (!s.has("path")) throw s.missing("path");
        Path path = s.path("path");
        if (!Files.isDirectory(path)) {
            throw s.fail("path", s.string("path", "") + " is not a directory (resolved to " + path + ")");
        }
        if (!Files.isReadable(path.resolve("config.json"))) {
            throw s.fail("path", path + " has no readable config.json; expected a Hugging Face checkpoint directory");
        }
        String device = s.string("device", "cpu").strip().toLowerCase(java.util.Locale.ROOT);
        if (!device.matches("cpu|auto|(gpu|cuda)(:\\d+)?")) {
            throw s.fail("device", "unknown value '" + device + "'; expected " + ComputeTarget.DEVICE_HELP);
        }
        String dtype = s.choice("dtype", "float32", DTYPES);
        if (dtype.equals("float16") && device.equals("cpu")) {
            throw s.fail("dtype", "float16 needs device: gpu (CPU runs in float32)");
        }
        int chunk = s.integer("chunk_size", 512, Range.atLeast(1));
        return new ModelSpec(path, device, dtype, chunk);
    }

    /** The device and dtype, resolved with the engine (a GPU that is not there is an error naming model.device). */
    public ComputeTarget target() {
        try {
            return ComputeTarget.parse(device, dtype);
        } catch (KvgateException e) {
            throw new KvgateException("model.device/model.dtype: " + e.getMessage().replace("--device ", "").replace("--dtype ", ""), e);
        }
    }

    Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", path.toString());
        m.put("device", device);
        m.put("dtype", dtype);
        m.put("chunk_size", chunkSize);
        return m;
    }
}
