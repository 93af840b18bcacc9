package io.kvgate.cli;

import picocli.CommandLine.Command;

/** Benchmarks: tables of throughput and memory, with ratios against a baseline run in the same process. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks printed as tables with ratios against a same-process baseline.",
        subcommands = {BenchForwardCommand.class, BenchKvzipCommand.class, BenchEvictionCommand.class,
                BenchDeviceCommand.class, BenchProfileCommand.class, BenchFitCommand.class, BenchSelectionCommand.class, BenchGatesCommand.class})
public final class BenchCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }
}
