package io.kvgate.objectives;

/**
 * Scores in [0,1] per (layer, KV head, cached entry in storage order). {@code scores[l]} is null for
 * layers that are not scored (Gemma3 sliding-window layers keep their window and carry no gate).
 *
 * @param scores       [layer][kvHead][entry]
 * @param scoredLayers the layers that carry scores, ascending
 */
public record KvzipScores(float[][][] scores, int[] scoredLayers) {
    public boolean isScored(int layer) {
        return layer < scores.length && scores[layer] != null;
    }

    /** Layers skipped (e.g. Gemma3 sliding-window layers), for reports. */
    public int skippedLayers() {
        return scores.length - scoredLayers.length;
    }
}
