package io.kvgate.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options every model-running command shares: which checkpoint, on which device, in which dtype. */
public final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Checkpoint directory (config.json + safetensors).")
    Path model;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|gpu",
            description = "Device to run on (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "float32", paramLabel = "float32|float16",
            description = "Compute dtype (float16 on GPU only; default: ${DEFAULT-VALUE}).")
    String dtype;

    public Checkpoint openCheckpoint() {
        return Checkpoint.open(model);
    }

    public Model load() {
        return Model.load(openCheckpoint(), device(), dataType());
    }

    public Device device() {
        return switch (device) {
            case "cpu" -> Device.cpu();
            case "gpu", "cuda" -> Device.gpu();
            default -> throw new KvgateException("--device " + device + ": expected cpu or gpu");
        };
    }

    public DataType dataType() {
        return switch (dtype) {
            case "float32", "f32" -> DataType.FLOAT32;
            case "float16", "f16" -> {
                if ("cpu".equals(device)) throw new KvgateException("--dtype float16 needs --device gpu (CPU runs in float32)");
                yield DataType.FLOAT16;
            }
            default -> throw new KvgateException("--dtype " + dtype + ": expected float32 or float16");
        };
    }
}
