package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;

import java.nio.file.Path;
import java.util.List;

/** The table printed at the end of {@code kvgate run}, read back from the experiment directory's outputs. */
public final class RunSummary {
    private final Path runDir;

    private RunSummary(Path runDir) {
        this.runDir = runDir;
    }

    public static RunSummary read(Path runDir, ExperimentConfig cfg) {
        return new RunSummary(runDir);
    }

    public String render(List<StageOutcome> outcomes) {
        StringBuilder sb = new StringBuilder("\n## Stages\n");
        for (StageOutcome o : outcomes) sb.append(o.stage()).append(": ").append(o.status()).append('\n');
        sb.append("experiment: ").append(runDir).append('\n');
        return sb.toString();
    }
}
