package io.kvgate.trainer.collect;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;
import io.kvgate.models.ModelConfig;
import io.kvgate.objectives.KvzipScorer;
import io.kvgate.objectives.KvzipScores;
import io.kvgate.objectives.RepeatPrompt;

import java.io.IOException;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Features from a frozen model: one prefill with an observer that copies the sampled rows of each gated
 * layer's attention input (gathered on the device, so only sampled rows cross to the host), then KVzip
 * scoring of the resulting cache; the targets are the scores at the sampled positions.
 *
 * <p>Built from a checkpoint, the weights load on the first {@link #run} only, so a collection whose
 * shards are all complete never loads them. Close it to free a model it loaded.
 */
public final class ModelFeatureSource implements FeatureSource, AutoCloseable {
    private final Checkpoint checkpoint;
    private final Supplier<Model> loader;
    private final boolean ownsModel;
    private Model model;
    private final RepeatPrompt prompt;
    private final KvzipScorer scorer;
    private final int chunkSize;
    private final SourceInfo info;
    private final int[] layerIndex; // model layer -> index in gatedLayers, or -1

    /** Features from a loaded model (not closed by this source). */
    public ModelFeatureSource(Model model, RepeatPrompt prompt, int chunkSize, Map<String, String> scoringNotes) {
        this(model.checkpoint(), () -> model, false, prompt, chunkSize, scoringNotes);
    }

    /** Features from a checkpoint whose weights load on {@code device} in {@code dtype} when first needed. */
    public ModelFeatureSource(Checkpoint checkpoint, Device device, DataType dtype, RepeatPrompt prompt, int chunkSize,
                              Map<String, String> scoringNotes) {
        this(checkpoint, () -> Model.load(checkpoint, device, dtype), true, prompt, chunkSize, scoringNotes);
    }

    private ModelFeatureSource(Checkpoint checkpoint, Supplier<Model> loader, boolean ownsModel, RepeatPrompt prompt,
                               int chunkSize, Map<String, String> scoringNotes) {
        this.checkpoint = checkpoint;
        this.loader = loader;
        this.ownsModel = ownsModel;
        this.prompt = prompt;
        this.chunkSize = chunkSize;
        this.scorer = new KvzipScorer(prompt, chunkSize);
        ModelConfig c = checkpoint.config();
        int[] gated = c.gatedLayers();
        layerIndex = new int[c.numLayers()];
        Arrays.fill(layerIndex, -1);
        for (int i = 0; i < gated.length; i++) layerIndex[gated[i]] = i;
        Map<String, String> scoring = new LinkedHashMap<>();
        scoring.put("scorer", "kvzip");
        scoring.put("chunk_size", String.valueOf(chunkSize));
        scoring.put("sink_tokens", String.valueOf(KvzipScorer.DEFAULT_SINK_TOKENS));
        scoring.put("successor_pooling", String.valueOf(scorer.successorPooling()));
        scoring.put("request_ids", Arrays.toString(prompt.request()));
        scoring.put("continuation_ids", Arrays.toString(prompt.continuationPrefix()) + " ... " + Arrays.toString(prompt.continuationSuffix()));
        scoring.put("wrapper_ids", Arrays.toString(prompt.wrapperIds()));
        if (gated.length < c.numLayers())
            scoring.put("unscored_layers", (c.numLayers() - gated.length) + " sliding-window layers keep their window and carry no gate");
        scoring.putAll(scoringNotes);
        info = new SourceInfo(checkpoint.fingerprint(), modelType(checkpoint), c.numLayers(), c.hiddenSize(),
                c.numKvHeads(), c.groupSize(), gated, scoring);
    }

    @Override
    public SourceInfo info() {
        return info;
    }

    /** Longest context whose scoring pass stays within the model's positions. */
    public int maxContext() {
        return maxContext(checkpoint.config().maxPositions(), prompt, chunkSize);
    }

    /** Whether the weights have been loaded (false until the first document runs). */
    public boolean modelLoaded() {
        return model != null;
    }

    @Override
    public void close() {
        if (ownsModel && model != null) model.close();
        model = null;
    }

    /**
     * Longest context a model with {@code maxPositions} can score with this prompt and chunk size: the
     * prefill takes n positions, then the repeat pass runs at n .. n + request + min(n, chunk).
     */
    public static int maxContext(int maxPositions, RepeatPrompt prompt, int chunkSize) {
        int request = requestLength(prompt);
        int whole = (maxPositions - request) / 2; // one chunk: 2n + request <= max
        return Math.max(0, whole <= chunkSize ? whole : maxPositions - request - chunkSize);
    }

    private static int requestLength(RepeatPrompt prompt) {
        return Math.max(prompt.request().length,
                prompt.continuationPrefix().length + RepeatPrompt.QUOTED_TOKENS + prompt.continuationSuffix().length);
    }

    @Override
    public float[][] run(int[] contextIds, int[] sampled, HiddenSink hidden) {
        int n = contextIds.length;
        int needed = n + requestLength(prompt) + Math.min(n, chunkSize);
        if (needed > checkpoint.config().maxPositions())
            throw new KvgateException("a " + n + "-token context needs " + needed + " positions for KVzip scoring, the model has "
                    + checkpoint.config().maxPositions() + "; lower --max-tokens to at most " + maxContext());
        if (model == null) model = loader.get();
        ForwardObserver capture = new ForwardObserver() {
            @Override
            public void attentionInput(int layer, NDArray x, int[] positions) {
                int li = layer < layerIndex.length ? layerIndex[layer] : -1;
                if (li < 0 || positions.length == 0) return;
                // sampled positions that fall in this call (prefill may be chunked)
                int from = lowerBound(sampled, positions[0]);
                int to = lowerBound(sampled, positions[positions.length - 1] + 1);
                if (from == to) return;
                int[] sampleIdx = new int[to - from];
                long[] rowsIdx = new long[to - from];
                for (int j = from; j < to; j++) {
                    int local = Arrays.binarySearch(positions, sampled[j]);
                    if (local < 0) throw new IllegalStateException("layer " + layer + ": position " + sampled[j] + " missing from the forward pass");
                    sampleIdx[j - from] = j;
                    rowsIdx[j - from] = local;
                }
                float[] rows;
                try (NDArray idx = x.getManager().create(rowsIdx);
                     NDArray picked = x.get(new NDIndex("{}", idx));
                     NDArray f32 = picked.toType(DataType.FLOAT32, false)) {
                    rows = f32.toFloatArray();
                }
                hidden.accept(li, sampleIdx, rows);
            }
        };
        int[] gated = info.gatedLayers();
        int heads = info.kvHeads();
        float[][] targets = new float[gated.length][sampled.length * heads];
        try (NDManager scope = model.manager().newSubManager(); KvCache cache = model.newCache()) {
            model.forward(scope, cache, contextIds, ForwardOptions.defaults().withObserver(capture).withLogits(ForwardOptions.Logits.NONE));
            KvzipScores scores = scorer.score(model, cache, contextIds);
            for (int li = 0; li < gated.length; li++) {
                int l = gated[li];
                for (int h = 0; h < heads; h++) {
                    int[] pos = cache.positions(l, h);
                    float[] s = scores.scores()[l][h];
                    for (int j = 0; j < sampled.length; j++) {
                        int e = Arrays.binarySearch(pos, sampled[j]);
                        if (e < 0) throw new IllegalStateException("layer " + l + " head " + h + ": no cache entry for position " + sampled[j]);
                        targets[li][j * heads + h] = s[e];
                    }
                }
            }
        }
        return targets;
    }

    private static int lowerBound(int[] a, int key) {
        int i = Arrays.binarySearch(a, key);
        if (i >= 0) {
            while (i > 0 && a[i - 1] == key) i--;
            return i;
        }
        return -i - 1;
    }

    private static String modelType(Checkpoint checkpoint) {
        try {
            var node = new ObjectMapper().readTree(checkpoint.dir().resolve("config.json").toFile());
            var t = node.get("model_type");
            return t == null ? checkpoint.config().family().name().toLowerCase() : t.asText();
        } catch (IOException e) {
            return checkpoint.config().family().name().toLowerCase();
        }
    }
}
