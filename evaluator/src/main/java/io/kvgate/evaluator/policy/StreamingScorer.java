package io.kvgate.evaluator.policy;

import io.kvgate.models.KvCache;

/**
 * StreamingLLM: attention sinks + the most recent tokens. The sinks are protected for every policy, so the
 * score is simply recency (the position): the budget keeps the latest tokens.
 */
public final class StreamingScorer implements Scorer {
    @Override
    public String name() {
        return "streaming";
    }

    @Override
    public ScoreSession start(SequenceInfo sequence) {
        int[] layers = sequence.model().config().gatedLayers();
        return (cache, stage) -> PositionalScores.of(cache, layers, (l, h, p) -> p);
    }

    /** Scores that depend on (layer, head, position) alone. */
    static final class PositionalScores {
        interface Fn {
            float score(int layer, int head, int position);
        }

        static float[][][] of(KvCache cache, int[] layers, Fn fn) {
            float[][][] out = new float[cache.numLayers()][][];
            for (int l : layers) {
                out[l] = new float[cache.numKvHeads()][];
                for (int h = 0; h < out[l].length; h++) {
                    int[] pos = cache.positions(l, h);
                    float[] s = new float[pos.length];
                    for (int i = 0; i < pos.length; i++) s[i] = fn.score(l, h, pos[i]);
                    out[l][h] = s;
                }
            }
            return out;
        }
    }
}
