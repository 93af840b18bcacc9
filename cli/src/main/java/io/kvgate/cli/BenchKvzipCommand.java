package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Cost of KVzip scoring as a ratio to prefill. */
@Command(name = "kvzip", mixinStandardHelpOptions = true, description = "Cost of KVzip scoring as a ratio to prefill.")
public final class BenchKvzipCommand implements Runnable {
    // Placeholder owned by the objectives work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate kvzip is not implemented yet");
    }
}
