package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Stage {@code collect}: KVzip targets and attention-input hidden states into Parquet shards (features/). */
final class CollectStage implements Stage {
    static final String NAME = "collect";
    private final ExperimentConfig cfg;
    private final ModelFingerprint fingerprint;

    CollectStage(ExperimentConfig cfg, ModelFingerprint fingerprint) {
        this.cfg = cfg;
        this.fingerprint = fingerprint;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public List<String> upstream() {
        return List.of();
    }

    @Override
    public String outputDir() {
        return "features";
    }

    @Override
    public Map<String, Object> inputs() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", cfg.section("model"));
        m.put("model_fingerprint", fingerprint.get());
        m.put("scoring", cfg.section("scoring"));
        m.put("corpus", cfg.section("corpus"));
        Map<String, String> corpusDigests = new LinkedHashMap<>();
        for (Path p : cfg.corpus().paths()) corpusDigests.put(p.toString(), DirectoryDigest.of(p));
        m.put("corpus_files", corpusDigests);
        m.put("seed", cfg.fitting().seed());
        m.put("held_out_every", cfg.fitting().heldOutEvery());
        return m;
    }

    @Override
    public boolean resumable() {
        return true; // completed shards are kept; the collector skips them
    }

    @Override
    public void run(StageContext ctx) {
        throw new UnsupportedOperationException("collect: wired when the datasets module lands");
    }
}
