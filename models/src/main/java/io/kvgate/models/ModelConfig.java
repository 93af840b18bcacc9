package io.kvgate.models;

import java.nio.file.Path;

/**
 * The numbers of a checkpoint's config.json that the forward pass needs, normalised across config
 * generations (transformers 5 {@code rope_parameters}/{@code layer_types} and the older keys) and
 * architectures (qwen2, qwen3, gemma3_text / gemma3 text tower).
 *
 * <p>Owned by the models module; other modules only read it.
 */
public final class ModelConfig {
    /** Architecture family the forward pass dispatches on. */
    public enum Family { QWEN2, QWEN3, GEMMA3 }

    // TODO(models helper): fields + parsing (ModelConfig.parse(Path configJson)).

    public static ModelConfig parse(Path configJson) {
        throw new UnsupportedOperationException("models: ModelConfig.parse not implemented yet");
    }

    public Family family() { throw new UnsupportedOperationException(); }
    public int vocabSize() { throw new UnsupportedOperationException(); }
    public int hiddenSize() { throw new UnsupportedOperationException(); }
    public int numLayers() { throw new UnsupportedOperationException(); }
    public int numHeads() { throw new UnsupportedOperationException(); }
    public int numKvHeads() { throw new UnsupportedOperationException(); }
    public int headDim() { throw new UnsupportedOperationException(); }
    /** Query heads per KV head (GQA group size G). */
    public int groupSize() { return numHeads() / numKvHeads(); }
    public int maxPositions() { throw new UnsupportedOperationException(); }
    /** True for Gemma3 sliding-window (local) layers. */
    public boolean isSlidingLayer(int layer) { throw new UnsupportedOperationException(); }
    /** Sliding window size in tokens, 0 when no layer slides. */
    public int slidingWindow() { throw new UnsupportedOperationException(); }
    /** Layers that carry gates and may be evicted: all layers, except Gemma3 sliding-window layers. */
    public int[] gatedLayers() { throw new UnsupportedOperationException(); }
    public int[] eosTokenIds() { throw new UnsupportedOperationException(); }
}
