package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Run one full forward pass and write logits and final hidden states. */
@Command(name = "forward", mixinStandardHelpOptions = true, description = "Run one full forward pass and write logits and final hidden states.")
public final class ForwardCommand implements Runnable {
    // Placeholder owned by the models work; replaced by the real command.
    @Override
    public void run() {
        throw new UnsupportedOperationException("kvgate forward is not implemented yet");
    }
}
