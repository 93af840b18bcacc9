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
 */
public record FeatureBatch(int layer, int rows, int hidden, int kvHeads, float[] x, float[] target, boolean[] heldOut) {}
