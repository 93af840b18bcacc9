package io.kvgate.models;

import ai.djl.ndarray.NDArray;

/**
 * Listens to one forward pass, layer by layer. Every array handed over belongs to the forward pass's
 * scope and is closed when the layer (or the pass) finishes: copy what must outlive the call
 * ({@code toFloatArray()}, or {@code duplicate()} attached to your own manager). A forward pass
 * without an observer computes and copies none of this.
 */
public interface ForwardObserver {
    /**
     * The hidden state entering attention, after the layer's input RMSNorm: [T, hidden] in the compute
     * dtype. {@code positions[t]} is token t's absolute position. The forward pass only reads it afterwards, so an
     * observer may also take it over ({@code x.attach(ownManager)}) instead of copying it.
     */
    default void attentionInput(int layer, NDArray x, int[] positions) {}

    /**
     * Whether attention inputs are all this observer needs. Then a decode step may run as one captured CUDA graph
     * (docs/GPU.md), which hands them over through {@link #attentionInputs} and calls no other method; a whole-model
     * prefill chunk hands over either its inputs the same way or, with {@link #wholeChunkGates}, their scores
     * ({@link #gateScores}).
     */
    default boolean attentionInputsOnly() {
        return false;
    }

    /**
     * The attention inputs of every layer at once, [numLayers, T, hidden] (a decode step run as one graph); the same
     * rules as {@link #attentionInput}, which this hands each layer's slice to unless overridden.
     */
    default void attentionInputs(NDArray all, int[] positions) {
        // each slice belongs to all's scope (freed with it) unless the observer takes it over
        for (int l = 0; l < all.getShape().get(0); l++) attentionInput(l, all.get(l), positions);
    }

    /**
     * Sink gates that a whole-model chunk call (a prefill chunk over an empty, unevicted or evicted cache, in one call of
     * the fused module: prefill, prefill_more, prefill_segments) applies to the attention inputs itself, handing over their scores ({@link #gateScores}) instead of
     * the inputs: no second call, no stacked inputs kept. Null (the default): the inputs are handed over.
     */
    default FusedSinkGates.Bound wholeChunkGates() {
        return null;
    }

    /**
     * Scores [n, kvHeads, T] (float32) of {@link #wholeChunkGates}'s n {@code layers} for the chunk's tokens at
     * {@code positions}, in place of {@link #attentionInputs}; the same rules as for its array.
     */
    default void gateScores(int[] layers, NDArray scores, int[] positions) {
        throw new UnsupportedOperationException("an observer that binds gates takes their scores");
    }

    /** Whether {@link #attentionProbs} should be called for this layer (probabilities are only materialised then). */
    default boolean wantsAttentionProbs(int layer) {
        return false;
    }

    /**
     * Attention probabilities of the query group of one KV head: [G, T, nCached + T] (float32 or compute
     * dtype). Key columns are the head's cached entries in {@link KvCache#positions} order, then the T new
     * tokens (causally masked). Rows sum to 1 over the keys the layer may see (sliding window applied).
     */
    default void attentionProbs(int layer, int kvHead, NDArray probs) {}

    /** Queries [numHeads, T, headDim] and keys [numKvHeads, T, headDim] of the new tokens, after q/k norm and RoPE. */
    default void queriesKeys(int layer, NDArray queries, NDArray keys) {}

    /** The residual stream leaving decoder layer {@code layer}: [T, hidden] in the compute dtype (tests, analysis). */
    default void layerOutput(int layer, NDArray hidden) {}
}
