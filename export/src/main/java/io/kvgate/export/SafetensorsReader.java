package io.kvgate.export;

import io.kvgate.gates.GateTensor;
import io.kvgate.models.KvgateException;
import io.kvgate.models.SafetensorsFile;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Reads every tensor of a gate artifact's .safetensors file as float32 (F32, or F16/BF16 widened, so the official
 * gates' tensors could be read too) through the models module's validating reader, and rejects non-finite values.
 */
final class SafetensorsReader {
    private SafetensorsReader() {}

    static Map<String, GateTensor> readF32(Path file) {
        Map<String, GateTensor> out = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (SafetensorsFile.TensorInfo t : f.tensors().values()) {
                if (t.dtype() == SafetensorsFile.Dtype.I64) throw new KvgateException(file + ": tensor '" + t.name() + "' is I64, expected floating point");
                float[] data = f.readFloats(t.name());
                for (int i = 0; i < data.length; i++)
                    if (!Float.isFinite(data[i])) throw new KvgateException(file + ": tensor '" + t.name() + "' value " + i + " is " + data[i]);
                out.put(t.name(), new GateTensor(t.shape(), data));
            }
        }
        return out;
    }
}
