package io.kvgate.trainer.collect;

/**
 * Produces the features of one context: the attention-input hidden states of the gated layers at the
 * sampled positions, and the KVzip targets there. The model-backed source is {@link ModelFeatureSource};
 * tests use synthetic ones.
 */
public interface FeatureSource {
    /** The model the features describe (recorded in the manifest and checked on resume). */
    SourceInfo info();

    /**
     * Runs one context. Hidden rows go to {@code hidden} as they are produced (so they can be encoded to
     * the storage dtype at once); the targets are returned.
     *
     * @param contextIds the wrapped context
     * @param sampled    positions to keep, ascending
     * @return targets[gatedLayerIndex][sampleIndex * kvHeads + head], in [0, 1]
     */
    float[][] run(int[] contextIds, int[] sampled, HiddenSink hidden);

    /** Receives hidden rows of one layer: {@code rows} is [sampleIndices.length, hidden] row-major float32. */
    @FunctionalInterface
    interface HiddenSink {
        void accept(int layerIndex, int[] sampleIndices, float[] rows);
    }

    /**
     * @param fingerprint  checkpoint fingerprint
     * @param modelType    config.json model_type
     * @param numLayers    all layers
     * @param hiddenSize   D
     * @param kvHeads      H
     * @param groupSize    G
     * @param gatedLayers  layers with features; {@code layerIndex} in the calls above indexes this array
     * @param scoring      how targets are made, for the manifest and the config key
     */
    record SourceInfo(String fingerprint, String modelType, int numLayers, int hiddenSize, int kvHeads, int groupSize,
                      int[] gatedLayers, java.util.Map<String, String> scoring) {}
}
