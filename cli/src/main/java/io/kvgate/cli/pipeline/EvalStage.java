package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Stage {@code eval}: every policy × ratio on the configured tasks, into eval/ (results.csv, report.md, accuracy.png). */
final class EvalStage implements Stage {
    static final String NAME = "eval";
    private final ExperimentConfig cfg;
    private final ModelFingerprint fingerprint;

    EvalStage(ExperimentConfig cfg, ModelFingerprint fingerprint) {
        this.cfg = cfg;
        this.fingerprint = fingerprint;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<String> upstream() {
        List<String> u = new ArrayList<>();
        if (cfg.eval().policies().contains("gate")) {
            for (String t : cfg.gates().types()) u.add(TrainStage.nameFor(t));
        }
        return u;
    }

    @Override
    public String outputDir() {
        return "eval";
    }

    @Override
    public Map<String, Object> inputs() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", cfg.section("model"));
        m.put("model_fingerprint", fingerprint.get());
        m.put("eval", cfg.section("eval"));
        if (cfg.eval().tasks().file() != null) m.put("tasks_file", DirectoryDigest.of(cfg.eval().tasks().file()));
        return m;
    }

    @Override
    public void run(StageContext ctx) {
        throw new UnsupportedOperationException("eval: wired when the evaluator module lands");
    }
}
