package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Collect KVzip targets and attention-input hidden states into Parquet shards. */
@Command(name = "collect", mixinStandardHelpOptions = true, description = "Collect KVzip targets and attention-input hidden states into Parquet shards.")
public final class CollectCommand implements Runnable {
    // Placeholder owned by the datasets work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate collect is not implemented yet");
    }
}
