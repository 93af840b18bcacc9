package io.kvgate.trainer.fit;

import io.kvgate.datasets.FeatureBatch;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/** Feature rows held in memory (synthetic data for tests and benchmarks, or rows already loaded). */
public final class InMemoryTrainingRows implements TrainingRows {
    private final String fingerprint, modelType;
    private final int hidden, kvHeads, group;
    private final Map<Integer, List<FeatureBatch>> batches = new LinkedHashMap<>();

    public InMemoryTrainingRows(String fingerprint, String modelType, int hidden, int kvHeads, int group) {
        this.fingerprint = fingerprint;
        this.modelType = modelType;
        this.hidden = hidden;
        this.kvHeads = kvHeads;
        this.group = group;
    }

    public InMemoryTrainingRows add(FeatureBatch b) {
        batches.computeIfAbsent(b.layer(), k -> new ArrayList<>()).add(b);
        return this;
    }

    @Override public String modelFingerprint() { return fingerprint; }
    @Override public String modelType() { return modelType; }
    @Override public int hiddenSize() { return hidden; }
    @Override public int kvHeads() { return kvHeads; }
    @Override public int groupSize() { return group; }
    @Override public int[] gatedLayers() { return batches.keySet().stream().mapToInt(Integer::intValue).sorted().toArray(); }
    @Override public String description() { return "in-memory rows"; }

    @Override
    public long tokens() {
        return batches.isEmpty() ? 0 : batches.values().iterator().next().stream().mapToLong(FeatureBatch::rows).sum();
    }

    @Override
    public long heldOutTokens() {
        if (batches.isEmpty()) return 0;
        long n = 0;
        for (FeatureBatch b : batches.values().iterator().next()) for (boolean h : b.heldOut()) if (h) n++;
        return n;
    }

    @Override
    public void forEachBatch(int layer, Consumer<FeatureBatch> sink) {
        batches.getOrDefault(layer, List.of()).forEach(sink);
    }
}
