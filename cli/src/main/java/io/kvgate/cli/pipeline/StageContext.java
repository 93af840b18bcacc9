package io.kvgate.cli.pipeline;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;

/**
 * What a running stage gets: its output directory, its upstream stages' output directories, whether it is
 * continuing an interrupted run, and where to print.
 */
public record StageContext(Path runDir, Path output, Map<String, Path> upstreamOutputs, boolean resuming, PrintStream out) {
    /** The output directory of upstream stage {@code name}. */
    public Path upstream(String name) {
        Path p = upstreamOutputs.get(name);
        if (p == null) throw new IllegalArgumentException("stage has no upstream " + name);
        return p;
    }
}
