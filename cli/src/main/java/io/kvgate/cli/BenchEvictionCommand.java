package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Overhead of gated eviction vs the ungated run. */
@Command(name = "eviction", mixinStandardHelpOptions = true, description = "Overhead of gated eviction vs the ungated run.")
public final class BenchEvictionCommand implements Runnable {
    // Placeholder owned by the evaluator work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate eviction is not implemented yet");
    }
}
