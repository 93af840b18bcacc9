package io.kvgate.cli;

import io.kvgate.models.ComputeTarget;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --dtype}, both {@code auto} by default: benchmarks of the engine itself, without a model. */
public final class TargetOptions {
    @Option(names = "--device", defaultValue = "auto", description = ComputeTarget.DEVICE_HELP)
    String device;

    @Option(names = "--dtype", defaultValue = "auto", description = ComputeTarget.DTYPE_HELP)
    String dtype;

    ComputeTarget target() {
        return ComputeTarget.parse(device, dtype);
    }
}
