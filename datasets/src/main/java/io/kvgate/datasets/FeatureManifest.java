package io.kvgate.datasets;

import io.kvgate.datasets.corpus.CorpusSummary;

import java.util.List;
import java.util.Map;

/**
 * What a feature directory holds ({@code manifest.json}, snake_case keys). Written by collection once every
 * shard is finished.
 *
 * @param formatVersion    {@link FeatureShardSchema#FORMAT_VERSION}
 * @param kvgateVersion    kvgate version that wrote it
 * @param modelFingerprint {@code Checkpoint.fingerprint()} of the model the features came from
 * @param modelType        config.json model_type
 * @param numLayers        layers of the model
 * @param hiddenSize       D
 * @param kvHeads          H
 * @param groupSize        G (query heads per KV head)
 * @param gatedLayers      layers with features (Gemma3: global layers only)
 * @param tokens           rows per layer in all shards (sampled tokens)
 * @param heldOutTokens    of which held out
 * @param hiddenDtype      storage of {@code x}: "f32" or "f16"
 * @param sampleFraction   fraction of each document's positions sampled
 * @param heldOutEvery     every this-many-th sampled token of a document is held out
 * @param heldOutRule      the held-out rule in words
 * @param seed             sampling seed
 * @param configKey        digest of model + corpus + shaping + sampling + scoring; every shard carries the same
 * @param scoring          how targets were made (scorer, chunk size, prompt, context wrapping)
 * @param corpus           corpus settings, documents used and skipped (with reasons)
 * @param shards           the shards, in order
 */
public record FeatureManifest(int formatVersion, String kvgateVersion, String modelFingerprint, String modelType,
                              int numLayers, int hiddenSize, int kvHeads, int groupSize, int[] gatedLayers,
                              long tokens, long heldOutTokens, String hiddenDtype, double sampleFraction,
                              int heldOutEvery, String heldOutRule, long seed, String configKey,
                              Map<String, String> scoring, CorpusSummary corpus, List<ShardInfo> shards) {
    public static final String FILE = "manifest.json";
    public static final String KVGATE_VERSION = io.kvgate.models.KvgateVersion.VERSION;

    /** The fields other modules read; the rest get neutral values (tests, hand-made feature sets). */
    public FeatureManifest(String modelFingerprint, String modelType, int hiddenSize, int kvHeads, int groupSize,
                           int[] gatedLayers, long tokens, long heldOutTokens) {
        this(FeatureShardSchema.FORMAT_VERSION, KVGATE_VERSION, modelFingerprint, modelType, 0, hiddenSize, kvHeads,
                groupSize, gatedLayers, tokens, heldOutTokens, HiddenDtype.F32.id(), 1.0, 100,
                "", 0, "", Map.of(), null, List.of());
    }

    /** Writes {@code dir/manifest.json} atomically. */
    public void writeTo(java.nio.file.Path dir) {
        Json.write(dir.resolve(FILE), this);
    }

    public HiddenDtype dtype() {
        return HiddenDtype.parse(hiddenDtype);
    }

    public ShardLayout layout() {
        return new ShardLayout(hiddenSize, kvHeads, gatedLayers, dtype());
    }

    /** For reports: says which layers carry no features (Gemma3 sliding-window layers keep their window, no gate). */
    public String unscoredLayersNote() {
        int unscored = numLayers - gatedLayers.length;
        return unscored <= 0 ? "" : String.format(" (gated layers %s only; %d sliding-window layers are not scored: they keep their window and carry no gate)",
                java.util.Arrays.toString(gatedLayers), unscored);
    }
}
