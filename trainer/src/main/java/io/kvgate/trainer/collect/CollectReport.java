package io.kvgate.trainer.collect;

import io.kvgate.datasets.FeatureManifest;

/**
 * What a collection run did.
 *
 * @param manifest        the manifest written
 * @param shardsWritten   shards computed in this run
 * @param shardsSkipped   shards already complete on disk (same config key) and kept
 * @param contextTokens   context tokens prefilled and scored in this run
 * @param seconds         wall time of this run
 */
public record CollectReport(FeatureManifest manifest, int shardsWritten, int shardsSkipped, long contextTokens,
                            double seconds) {
    public double tokensPerSecond() {
        return seconds > 0 ? contextTokens / seconds : 0;
    }
}
