package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.GateSet;
import io.kvgate.models.FusedSinkGates;
import io.kvgate.models.Model;

import java.nio.file.Path;

/**
 * Per-layer gates as the evaluator uses them: score a chunk of attention-input hidden states. A fitted
 * {@link GateSet} is adapted with {@link #of(GateSet)}; tests may supply any other scoring function.
 */
public interface LayerGates {
    /** Gated layers, ascending. */
    int[] layers();

    /** Scores [kvHeads, T] (float32, in (0,1)) for hidden states x [T, D]; attached to x's manager. */
    NDArray score(int layer, NDArray x);

    /**
     * Scores [n, kvHeads, T] of the n {@code layers}' hidden states xs [n, T, D] (row i is layer layers[i]'s), attached to
     * xs's manager. The default scores layer by layer; a {@link GateSet} scores all of them in one batched computation,
     * sink gates through {@code fused} (the model's fused module, or null) when there is one.
     */
    default NDArray scoreLayers(int[] layers, NDArray xs, FusedSinkGates fused) {
        return GateSet.scoreEach(layers, xs, this::score);
    }

    /**
     * The {@code layers}' gates bound for a whole-model chunk call of the model's fused module ({@code fused}), which
     * then scores the chunk's attention inputs itself (inputs in {@code inputType} on {@code device}, a model of
     * {@code numLayers}); null when these gates cannot be (the default), and the inputs are handed over instead.
     * Owned by the gates: not to be closed by the caller.
     */
    default FusedSinkGates.Bound bindFused(int[] layers, int numLayers, ai.djl.Device device, ai.djl.ndarray.types.DataType inputType,
                                           FusedSinkGates fused) {
        return null;
    }

    static LayerGates of(GateSet gates) {
        return new LayerGates() {
            @Override
            public int[] layers() {
                return gates.layers();
            }

            @Override
            public NDArray score(int layer, NDArray x) {
                return gates.score(layer, x);
            }

            @Override
            public NDArray scoreLayers(int[] layers, NDArray xs, FusedSinkGates fused) {
                return gates.scoreLayers(layers, xs, fused);
            }

            @Override
            public FusedSinkGates.Bound bindFused(int[] layers, int numLayers, ai.djl.Device device,
                                                  ai.djl.ndarray.types.DataType inputType, FusedSinkGates fused) {
                return gates.bindFused(layers, numLayers, device, inputType, fused);
            }
        };
    }

    /**
     * Loads a gate artifact for {@code model}, refusing one fitted for another model (its fingerprint). The
     * caller closes the artifact's gates when done.
     */
    static GateArtifact load(Path artifact, Model model) {
        return GateArtifact.load(artifact).requireModel(model.checkpoint().fingerprint());
    }
}
