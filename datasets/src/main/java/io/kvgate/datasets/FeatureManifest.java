package io.kvgate.datasets;

/**
 * What a feature directory holds (manifest.json). Fields may be added; these are the ones other modules read.
 *
 * @param modelFingerprint {@code Checkpoint.fingerprint()} of the model the features came from
 * @param modelType        config.json model_type
 * @param hiddenSize       D
 * @param kvHeads          H
 * @param groupSize        G (query heads per KV head)
 * @param gatedLayers      layers with features (Gemma3: global layers only)
 * @param tokens           rows per layer in all shards
 * @param heldOutTokens    of which held out
 */
public record FeatureManifest(String modelFingerprint, String modelType, int hiddenSize, int kvHeads, int groupSize,
                              int[] gatedLayers, long tokens, long heldOutTokens) {}
