package io.kvgate.datasets;

import java.nio.file.Path;
import java.util.function.Consumer;

/**
 * A directory of collected Parquet feature shards plus their manifest.json, as written by collection.
 * Reading streams shard by shard, so memory stays bounded by one shard.
 */
public final class FeatureDataset {
    // TODO(datasets helper): implementation.

    public static FeatureDataset open(Path dir) { throw new UnsupportedOperationException(); }

    public FeatureManifest manifest() { throw new UnsupportedOperationException(); }

    /** Streams every row of one gated layer, one batch per shard (or per row group). */
    public void forEachBatch(int layer, Consumer<FeatureBatch> sink) { throw new UnsupportedOperationException(); }
}
