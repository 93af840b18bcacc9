package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Generate a continuation with the full KV cache. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate a continuation with the full KV cache.")
public final class GenerateCommand implements Runnable {
    // Placeholder owned by the text work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate generate is not implemented yet");
    }
}
