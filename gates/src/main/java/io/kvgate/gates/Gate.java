package io.kvgate.gates;

import ai.djl.ndarray.NDArray;

import java.util.Map;

/**
 * Scores a layer's tokens for eviction from their attention-input hidden states alone: a higher score
 * means the token's KV pair matters more. A token's score depends only on its own hidden state, so it is
 * computed once, when the token enters the cache.
 *
 * <p>Two paths compute the same function: {@link #score(NDArray)} on the model's device (one small batched
 * computation per layer, used at inference) and {@link #scoreRows(float[], int)} in plain Java (used while
 * fitting and for metrics). Tests hold them equal within float32 rounding.
 */
public interface Gate extends AutoCloseable {
    GateType type();

    /** Model layer this gate belongs to. */
    int layer();

    /** Hidden size D of its input. */
    int hiddenSize();

    /** KV heads H it scores. */
    int kvHeads();

    /**
     * Scores [kvHeads, T] in (0,1), float32, for hidden states {@code x} [T, D] (after the layer's input
     * RMSNorm; float32 or float16), on x's device. The result belongs to x's manager; intermediates are freed.
     */
    NDArray score(NDArray x);

    /**
     * The same function for the fused decoder layer to compute on {@code device} (its parameters as device arrays, in
     * the module's order; {@link io.kvgate.models.FusedGate}), or null for a gate the module does not know.
     */
    default io.kvgate.models.FusedGate fused(ai.djl.Device device) {
        return null;
    }

    /** Plain-Java scores: {@code x} row-major [rows, D] → row-major [rows, kvHeads] in (0,1). */
    float[] scoreRows(float[] x, int rows);

    /** Parameters under their official per-layer names (no layer prefix), in a stable order. */
    Map<String, GateTensor> tensors();

    /** Frees device copies of the parameters (the gate stays usable; they are re-made on demand). */
    @Override
    void close();
}
