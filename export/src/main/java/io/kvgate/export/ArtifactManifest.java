package io.kvgate.export;

import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateType;

import java.util.Map;

/**
 * manifest.json of a gate artifact: everything needed to rebuild the gates and to know what they are for.
 *
 * @param formatVersion   {@link GateArtifact#FORMAT_VERSION} when written
 * @param kvgateVersion   the kvgate version that wrote it
 * @param gateType        sink or linear
 * @param hyperParameters gate sizes and fitting settings (sink: {@code dim}, {@code sinks} are required)
 * @param gatedLayers     layers with a gate, ascending
 * @param hiddenSize      D
 * @param kvHeads         H
 * @param groupSize       G, query heads per KV head
 * @param modelFingerprint the model's {@code Checkpoint.fingerprint()}; loading for another model is refused
 * @param modelType       config.json model_type (informative)
 * @param corpus          what it was fitted on
 * @param layerMetrics    held-out metrics per gated layer
 * @param overall         held-out metrics over all layers' (token, head) pairs together
 */
public record ArtifactManifest(int formatVersion, String kvgateVersion, GateType gateType, Map<String, Object> hyperParameters,
                               int[] gatedLayers, int hiddenSize, int kvHeads, int groupSize,
                               String modelFingerprint, String modelType, CorpusSummary corpus,
                               Map<Integer, GateMetrics> layerMetrics, GateMetrics overall) {}
