package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;

import java.util.ArrayList;
import java.util.List;

/** The stages of an experiment config, in order: collect, train-&lt;type&gt; for each gate type, eval. */
public final class ExperimentStages {
    private ExperimentStages() {}

    public static List<Stage> of(ExperimentConfig cfg) {
        List<Stage> stages = new ArrayList<>();
        ModelFingerprint fingerprint = new ModelFingerprint(cfg.model().path());
        stages.add(new CollectStage(cfg, fingerprint));
        for (String type : cfg.gates().types()) stages.add(new TrainStage(cfg, type));
        stages.add(new EvalStage(cfg, fingerprint));
        return stages;
    }
}
