package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Print a gate artifact's manifest and per-layer metrics. */
@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Print a gate artifact's manifest and per-layer metrics.")
public final class InspectCommand implements Runnable {
    // Placeholder owned by the gates work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate inspect is not implemented yet");
    }
}
