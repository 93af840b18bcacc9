package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Fit gates from collected shards and export the gate artifact. */
@Command(name = "train", mixinStandardHelpOptions = true, description = "Fit gates from collected shards and export the gate artifact.")
public final class TrainCommand implements Runnable {
    // Placeholder owned by the gates work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate train is not implemented yet");
    }
}
