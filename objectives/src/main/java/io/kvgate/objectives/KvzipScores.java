package io.kvgate.objectives;

/**
 * Scores in [0,1] per (layer, KV head, cached entry in storage order). {@code scores[l]} is null for
 * layers that are not scored (Gemma3 sliding-window layers keep their window and carry no gate).
 */
public record KvzipScores(float[][][] scores, int[] scoredLayers) {}
