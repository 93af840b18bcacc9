package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Prefill and decode tokens/s and peak memory. */
@Command(name = "forward", mixinStandardHelpOptions = true, description = "Prefill and decode tokens/s and peak memory.")
public final class BenchForwardCommand implements Runnable {
    // Placeholder owned by the models work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate forward is not implemented yet");
    }
}
