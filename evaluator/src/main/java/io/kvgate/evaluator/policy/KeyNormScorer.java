package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.KvCache;

/**
 * Key-norm eviction (Devoto et al., 2024, "A Simple and Effective L2 Norm-Based Strategy for KV Cache
 * Compression"): keys with a LOW L2 norm draw the most attention, so the score is −‖k‖ and the
 * highest-norm keys are evicted first. RoPE is a rotation, so the cached (rotated) keys have the norms of
 * the unrotated ones.
 */
public final class KeyNormScorer implements Scorer {
    @Override
    public String name() {
        return "keynorm";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        int[] layers = sequence.model().config().gatedLayers();
        return (cache, stage) -> negativeNorms(cache, layers);
    }

    static float[][][] negativeNorms(KvCache cache, int[] layers) {
        float[][][] out = new float[cache.numLayers()][][];
        for (int l : layers) {
            out[l] = new float[cache.numKvHeads()][];
            for (int h = 0; h < out[l].length; h++) {
                if (cache.length(l, h) == 0) {
                    out[l][h] = new float[0];
                    continue;
                }
                // The keys view belongs to the cache; only the norms are ours.
                float[] norms;
                try (NDArray f = cache.keys(l, h).toType(DataType.FLOAT32, true)) {
                    norms = Arrays32.toFloats(f.norm(new int[] {1}));
                }
                for (int i = 0; i < norms.length; i++) norms[i] = -norms[i];
                out[l][h] = norms;
            }
        }
        return out;
    }
}
