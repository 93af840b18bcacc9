package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.cli.config.GatesSpec;
import io.kvgate.datasets.FeatureDataset;
import io.kvgate.gates.GateType;
import io.kvgate.models.util.AtomicFiles;
import io.kvgate.trainer.fit.GateTrainer;
import io.kvgate.trainer.fit.SinkFitter;
import io.kvgate.trainer.fit.TrainingRows;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Stage {@code train-<type>}: fits one gate family from features/ and exports the artifact into gates/&lt;type&gt;/. */
final class TrainStage implements Stage {
    private final ExperimentConfig cfg;
    private final String type;

    TrainStage(ExperimentConfig cfg, String type) {
        this.cfg = cfg;
        this.type = type;
    }

    static String nameFor(String type) {
        return "train-" + type;
    }

    @Override
    public String name() {
        return nameFor(type);
    }

    @Override
    public String group() {
        return "train";
    }

    @Override
    public List<String> upstream() {
        return List.of(CollectStage.NAME);
    }

    @Override
    public String outputDir() {
        return "gates/" + type;
    }

    @Override
    public Map<String, Object> inputs() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("type", type);
        // Only the settings this family reads: changing the sink solver must not refit the linear gate.
        Map<String, Object> gates = new LinkedHashMap<>(cfg.section("gates"));
        gates.remove("types");
        if (type.equals(GateType.LINEAR.id())) gates.keySet().retainAll(java.util.Set.of("lambdas"));
        m.put("gates", gates);
        m.put("seed", cfg.fitting().seed());
        m.put("export", cfg.section("export"));
        return m;
    }

    @Override
    public void run(StageContext ctx) {
        Path features = ctx.upstream(CollectStage.NAME);
        TrainingRows rows = TrainingRows.of(FeatureDataset.open(features), features);
        GateType gateType = GateType.parse(type);
        GatesSpec g = cfg.gates();
        GateTrainer.Options defaults = GateTrainer.Options.defaults(EnumSet.of(gateType));
        GateTrainer.Options options = new GateTrainer.Options(EnumSet.of(gateType),
                g.lambdas().stream().mapToDouble(Double::doubleValue).toArray(), defaults.epsilon(),
                new SinkFitter.Options(g.steps(), g.batch(), g.lr(), cfg.fitting().seed(), defaults.epsilon(), g.sinkObjective()),
                defaults.maxSinkRows(), defaults.threads(), cfg.model().target().device()); // fit where the model runs
        GateTrainer.Fitted fitted = GateTrainer.train(rows, options).get(gateType);
        GateTrainer.artifact(rows, fitted).write(ctx.output());
        if (cfg.export().path() != null) exportCopy(ctx.output(), cfg.export().path().resolve(type));
    }

    /** The artifact also goes to export.path/&lt;type&gt;/, replaced atomically. */
    private static void exportCopy(Path artifact, Path target) {
        AtomicFiles.writeDirectory(target, tmp -> {
            try (Stream<Path> files = Files.list(artifact)) {
                for (Path f : (Iterable<Path>) files::iterator) Files.copy(f, tmp.resolve(f.getFileName()));
            }
        });
    }
}
