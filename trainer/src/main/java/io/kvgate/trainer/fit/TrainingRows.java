package io.kvgate.trainer.fit;

import io.kvgate.datasets.FeatureBatch;
import io.kvgate.datasets.FeatureDataset;
import io.kvgate.datasets.FeatureManifest;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * Where the fitters get (hidden state, KVzip target) rows from: collected Parquet shards
 * ({@link #of(FeatureDataset, Path)}) or, in tests and benchmarks, rows held in memory
 * ({@link InMemoryTrainingRows}). Rows arrive layer by layer, batch by batch, so memory stays bounded.
 */
public interface TrainingRows {
    String modelFingerprint();

    String modelType();

    int hiddenSize();

    int kvHeads();

    int groupSize();

    int[] gatedLayers();

    /** Token rows per layer, held-out included. */
    long tokens();

    long heldOutTokens();

    /** Where the rows come from, for the artifact's corpus summary. */
    String description();

    /** The corpus behind the rows, for the artifact's manifest (defaults to {@link #description()}). */
    default String corpusDescription() {
        return description();
    }

    /** Streams every row of {@code layer}; batches are not retained by the source after the call. */
    void forEachBatch(int layer, Consumer<FeatureBatch> sink);

    /** The collected feature shards of {@code dir}. */
    static TrainingRows of(FeatureDataset dataset, Path dir) {
        FeatureManifest m = dataset.manifest();
        return new TrainingRows() {
            public String modelFingerprint() { return m.modelFingerprint(); }
            public String modelType() { return m.modelType(); }
            public int hiddenSize() { return m.hiddenSize(); }
            public int kvHeads() { return m.kvHeads(); }
            public int groupSize() { return m.groupSize(); }
            public int[] gatedLayers() { return m.gatedLayers().clone(); }
            public long tokens() { return m.tokens(); }
            public long heldOutTokens() { return m.heldOutTokens(); }
            public String description() { return dir.toString(); }
            public String corpusDescription() {
                var c = m.corpus();
                return c == null ? dir.toString()
                        : dir + " (" + c.documentsUsed() + " documents, " + c.tokens() + " context tokens, from " + c.files() + ")";
            }
            public void forEachBatch(int layer, Consumer<FeatureBatch> sink) { dataset.forEachBatch(layer, sink); }
        };
    }
}
