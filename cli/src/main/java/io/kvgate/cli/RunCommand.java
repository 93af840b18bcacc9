package io.kvgate.cli;

import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.cli.pipeline.ExperimentStages;
import io.kvgate.cli.pipeline.Pipeline;
import io.kvgate.cli.pipeline.RunSummary;
import io.kvgate.cli.pipeline.StageOutcome;
import io.kvgate.models.util.AtomicFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.concurrent.Callable;

/** Run every stage of an experiment config: collect, train (one per gate type, exported), eval. */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run every stage of an experiment config: collect -> train (per gate type, exported to gates/<type>/) -> eval.",
                "Completed stages are skipped when their inputs and outputs are unchanged; an interrupted run resumes."},
        footer = {"", "Examples:",
                "  kvgate run configs/quickstart.yaml",
                "  kvgate run configs/quickstart.yaml --set gates.types=[linear] --set eval.ratios=0.2,0.3",
                "  kvgate run configs/quickstart.yaml --force train"})
public final class RunCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "CONFIG", description = "Experiment config (YAML), e.g. configs/quickstart.yaml.")
    Path config;

    @Option(names = "--out", paramLabel = "DIR",
            description = "Experiment directory (default: runs/<config name>/ under the current directory).")
    Path out;

    @Option(names = "--force", paramLabel = "STAGE",
            description = "Redo this stage and everything after it: collect, train, train-<type>, eval (repeatable).")
    List<String> force = List.of();

    @Option(names = "--set", paramLabel = "KEY=VALUE",
            description = "Override a config value, validated like the file: --set eval.ratios=0.2,0.3 (repeatable).")
    List<String> sets = List.of();

    @Override
    public Integer call() {
        ExperimentConfig cfg = ExperimentConfig.load(config, sets);
        Path runDir = (out != null ? out : Path.of("runs", cfg.name())).toAbsolutePath().normalize();
        AtomicFiles.writeString(runDir.resolve("resolved-config.yaml"), cfg.toYaml());
        System.out.println("kvgate run " + cfg.name() + " -> " + runDir);
        Pipeline pipeline = new Pipeline(runDir, ExperimentStages.of(cfg), System.out);
        List<StageOutcome> outcomes = pipeline.run(new LinkedHashSet<>(force));
        RunSummary summary = RunSummary.read(runDir, cfg);
        String text = summary.render(outcomes);
        AtomicFiles.writeString(runDir.resolve("summary.md"), text);
        System.out.print(text);
        return 0;
    }
}
