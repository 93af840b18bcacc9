package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Evaluate eviction policies on JSONL tasks. */
@Command(name = "eval", mixinStandardHelpOptions = true, description = "Evaluate eviction policies on JSONL tasks.")
public final class EvalCommand implements Runnable {
    // Placeholder owned by the evaluator work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate eval is not implemented yet");
    }
}
