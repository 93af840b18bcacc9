package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.pytorch.engine.PtNDManager;
import ai.djl.pytorch.jni.IValue;

import static io.kvgate.models.FusedAttention.tensor;

/**
 * Fast KVzip's sink-attention gates of many layers in one call of the fused module's {@code sink_gate_scores}
 * (tools/make_fused_attention.py): the two projections, then, where the module has kvgate's operators on a GPU, one
 * kernel for everything after them (native/kvgate_sink_gate.cu) instead of ~17 elementwise passes and ~40 JNI calls.
 * The gate's math and parameter layout belong to {@code io.kvgate.gates.SinkGate}; this is only the call, made where the
 * module lives. {@link Model#fusedSinkGates()} hands it out when a fused module is loaded.
 */
public final class FusedSinkGates {
    /** {@code KVGATE_FUSED_GATES=off} (or {@code 0}, {@code false}; system property {@code kvgate.fusedGates}): gates use their own ops. */
    public static final String ENV = "KVGATE_FUSED_GATES";

    private final FusedAttention fused;

    FusedSinkGates(FusedAttention fused) {
        this.fused = fused;
    }

    /**
     * A module of its own from {@code KVGATE_FUSED_ATTENTION} on {@code manager}'s device (for callers without a model:
     * tests), or null when none is configured. Closing {@code manager} does not free it; it lives as long as the JVM.
     */
    public static FusedSinkGates fromEnvironment(ai.djl.ndarray.NDManager manager) {
        FusedAttention f = FusedAttention.fromEnvironment(manager, manager.getDevice());
        return f == null ? null : new FusedSinkGates(f);
    }

    /**
     * Scores [n, kvHeads, T] (float32) of the attention inputs xs [n, T, D] with n gates' parameters: projections
     * wq [n, D, H·G·d′] and wk [n, D, H·d′] (xs is cast to their dtype), float32 q_bias (H·G·d′ a gate), q_norm and k_norm
     * (d′), sinkKeys [n, H, d′, S] (a column per sink key) and bias (H·G), each in any shape with those elements.
     * Attached to xs's manager.
     */
    public NDArray scores(NDArray xs, NDArray wq, NDArray qBias, NDArray wk, NDArray qNorm, NDArray kNorm, NDArray sinkKeys,
                          NDArray bias, int kvHeads, double eps) {
        return fused.run("sink_gate_scores", (PtNDManager) xs.getManager(), tensor(xs), tensor(wq), tensor(qBias), tensor(wk),
                tensor(qNorm), tensor(kNorm), tensor(sinkKeys), tensor(bias), IValue.from((long) kvHeads), IValue.from(eps)).get(0);
    }

    /**
     * The same n gates' parameters bound for a whole-model chunk call ({@code prefill}, {@code prefill_more},
     * {@code prefill_segments}), which
     * then scores the attention inputs of {@code layers} (ascending, of a model with {@code numLayers}) itself, in the
     * same call as {@link #scores} would: no stacked inputs handed back, no second call with its arguments' marshalling
     * (host time that a 1K prefill on a GPU pays in full). The arrays stay the caller's; close the binding before them.
     */
    public Bound bind(int[] layers, int numLayers, NDArray wq, NDArray qBias, NDArray wk, NDArray qNorm, NDArray kNorm,
                      NDArray sinkKeys, NDArray bias, int kvHeads, double eps) {
        boolean all = layers.length == numLayers;
        NDArray rows = wq.getManager().create(all ? new long[0] : java.util.Arrays.stream(layers).asLongStream().toArray());
        IValue params = IValue.listFrom((ai.djl.pytorch.engine.PtNDArray) wq, (ai.djl.pytorch.engine.PtNDArray) qBias,
                (ai.djl.pytorch.engine.PtNDArray) wk, (ai.djl.pytorch.engine.PtNDArray) qNorm, (ai.djl.pytorch.engine.PtNDArray) kNorm,
                (ai.djl.pytorch.engine.PtNDArray) sinkKeys, (ai.djl.pytorch.engine.PtNDArray) bias);
        return new Bound(layers.clone(), params, rows, kvHeads, eps);
    }

    /**
     * Gates bound for a whole-model chunk call ({@link #bind}): their layers, parameters as one list passed to every
     * call, the layers' rows among the model's (empty: all layers), the KV heads and the norms' epsilon.
     */
    public record Bound(int[] layers, IValue params, NDArray rows, int kvHeads, double eps) implements AutoCloseable {
        @Override
        public void close() {
            params.close();
            rows.close();
        }
    }
}
