package io.kvgate.cli;

import ai.djl.Device;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.Model;
import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The options every model-running command shares: which checkpoint, on which device, in which dtype. */
public final class ModelOptions {
    @Option(names = "--model", required = true, paramLabel = "DIR",
            description = "Checkpoint directory (config.json + safetensors).")
    Path model;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|gpu[:N]|auto",
            description = "Device to run on: " + ComputeTarget.DEVICE_HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--dtype", defaultValue = "float32", paramLabel = "float32|float16|auto",
            description = "Compute dtype: " + ComputeTarget.DTYPE_HELP + " (default: ${DEFAULT-VALUE}).")
    String dtype;

    public Checkpoint openCheckpoint() {
        return Checkpoint.open(model);
    }

    public Model load() {
        return Model.load(openCheckpoint(), device(), dataType());
    }

    public Device device() {
        return ComputeTarget.parseDevice(device);
    }

    public DataType dataType() {
        return ComputeTarget.parse(device, dtype).dtype();
    }
}
