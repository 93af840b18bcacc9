package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Run every stage of an experiment config: collect, train, export, eval. */
@Command(name = "run", mixinStandardHelpOptions = true, description = "Run every stage of an experiment config: collect, train, export, eval.")
public final class RunCommand implements Runnable {
    // Placeholder owned by the pipeline work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate run is not implemented yet");
    }
}
