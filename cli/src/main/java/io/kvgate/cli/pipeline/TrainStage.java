package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
        m.put("gates", cfg.section("gates"));
        m.put("fitting", cfg.section("fitting"));
        m.put("export", cfg.section("export"));
        return m;
    }

    @Override
    public void run(StageContext ctx) {
        throw new UnsupportedOperationException("train: wired when the gates/trainer modules land");
    }
}
