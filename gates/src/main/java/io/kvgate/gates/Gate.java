package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

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
     * RMSNorm; float32 or float16), on x's device: {@link #scoreBatch} with n = 1. The result belongs to x's manager;
     * intermediates are freed.
     */
    default NDArray score(NDArray x) {
        if (x.getShape().dimension() != 2 || x.getShape().get(1) != hiddenSize())
            throw new IllegalArgumentException("layer " + layer() + " gate expects [T, " + hiddenSize() + "], got " + x.getShape());
        ai.djl.ndarray.NDManager owner = x.getManager();
        try (ai.djl.ndarray.NDManager scope = owner.newSubManager()) {
            NDArray xs = x.expandDims(0);
            xs.attach(scope);
            NDArray batch = scoreBatch(xs, deviceParams(x.getDevice()));
            batch.attach(scope);
            NDArray score = batch.squeeze(0);
            score.attach(owner);
            return score;
        }
    }

    /** This gate's parameters as arrays on {@code device}, made once and owned by the gate: {@link #scoreBatch}'s operands. */
    java.util.List<NDArray> deviceParams(ai.djl.Device device);

    /**
     * Scores [n, kvHeads, T] (float32) for hidden states {@code xs} [n, T, D] with parameters {@code w}: this gate's
     * {@link #deviceParams} (then n = 1), or n gates' of this type and shape {@linkplain #stack stacked}, which scores n
     * layers in one batched computation (a fixed ~6-20 ops for all layers instead of per layer: on a GPU each op costs
     * host time, BENCHMARKS.md). The result belongs to xs's manager; intermediates are freed.
     */
    NDArray scoreBatch(NDArray xs, java.util.List<NDArray> w);

    /**
     * Indices into {@link #deviceParams} of the projection weights multiplied with the inputs: {@link GateSet} casts these
     * to a half-precision input's dtype (unless {@link GateSet#PRECISION_ENV}{@code =float32}).
     */
    int[] projectionParams();

    /**
     * What a gate's projections multiply: {@code xs} itself when the projection weight {@code w} is in xs's half
     * precision ({@link GateSet} made it so: tensor cores, no float32 copy of the inputs), else xs as float32.
     */
    static NDArray projectionInput(NDArray xs, NDArray w) {
        boolean inInputPrecision = w.getDataType() == xs.getDataType();
        return inInputPrecision || xs.getDataType() == DataType.FLOAT32 ? xs
                : xs.toType(DataType.FLOAT32, false);
    }

    /** {@code x @ w} (x from {@link #projectionInput}) as float32. */
    static NDArray project(NDArray x, NDArray w) {
        NDArray p = x.matMul(w);
        return p.getDataType() == DataType.FLOAT32 ? p : p.toType(DataType.FLOAT32, false);
    }

    /** Stacks gates' {@link #deviceParams} (this type, equal shapes) along a new leading axis into {@code m}. */
    java.util.List<NDArray> stack(java.util.List<java.util.List<NDArray>> perGate, ai.djl.ndarray.NDManager m);

    /** Plain-Java scores: {@code x} row-major [rows, D] → row-major [rows, kvHeads] in (0,1). */
    float[] scoreRows(float[] x, int rows);

    /** Parameters under their official per-layer names (no layer prefix), in a stable order. */
    Map<String, GateTensor> tensors();

    /** Frees device copies of the parameters (the gate stays usable; they are re-made on demand). */
    @Override
    void close();
}
