package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;

/**
 * Per-layer gates as the evaluator uses them: score a chunk of attention-input hidden states. The
 * gates module's {@code GateSet} has exactly this shape; the evaluator depends on nothing else of it.
 */
public interface LayerGates {
    /** Gated layers, ascending. */
    int[] layers();

    /** Scores [kvHeads, T] (float32, in (0,1)) for hidden states x [T, D]; attached to x's manager. */
    NDArray score(int layer, NDArray x);
}
