package io.kvgate.datasets;

/**
 * Rows of collected features for one gated layer, read from one shard.
 *
 * @param layer    model layer index
 * @param rows     number of token rows
 * @param hidden   hidden size D
 * @param kvHeads  KV heads H
 * @param x        attention-input hidden states, row-major [rows, hidden], float32
 * @param target   KVzip scores in [0,1], row-major [rows, kvHeads]
 * @param heldOut  true for rows reserved for evaluation (never fitted on)
 * @param doc      document index of each row
 * @param position token position of each row in its wrapped context
 */
public record FeatureBatch(int layer, int rows, int hidden, int kvHeads, float[] x, float[] target, boolean[] heldOut,
                           int[] doc, int[] position) {
    /** Without provenance columns (tests, synthetic data). */
    public FeatureBatch(int layer, int rows, int hidden, int kvHeads, float[] x, float[] target, boolean[] heldOut) {
        this(layer, rows, hidden, kvHeads, x, target, heldOut, new int[rows], new int[rows]);
    }
}
