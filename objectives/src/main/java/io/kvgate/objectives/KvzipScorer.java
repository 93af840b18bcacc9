package io.kvgate.objectives;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.ForwardOptions;
import io.kvgate.models.KvCache;
import io.kvgate.models.KvgateException;
import io.kvgate.models.Model;

import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * KVzip's query-agnostic importance scores (the teacher): after the context is prefilled into a cache,
 * a reconstruction pass (repeat prompt + the context, teacher-forced) attends to the cache without
 * extending it; score[l][h][i] = max over the GQA group's query heads and all repeat positions of the
 * attention probability on cached entry i.
 *
 * <p>Long contexts go in chunks: chunk t is repeated after a request quoting the last 8 tokens of chunk
 * t−1, and its softmax runs over a restricted key set — the sink tokens, chunk t's own cached keys and
 * the pass's own keys — so the cost stays ≈ 2× prefill and memory stays flat (ALGORITHM.md §1).
 *
 * <p>By default each entry then also takes its successor's score ({@link SuccessorPooling}: the reconstruction
 * skips the first token of spans it cannot predict, which retrieval needs); {@code successorPooling = false}
 * gives the official code's raw scores.
 */
public final class KvzipScorer {
    /** Leading context tokens kept in every chunk's key set (attention sinks / system prompt). */
    public static final int DEFAULT_SINK_TOKENS = 4;

    private final RepeatPrompt prompt;
    private final int chunkSize;
    private final int sinkTokens;
    private final boolean successorPooling;

    public KvzipScorer(RepeatPrompt prompt, int chunkSize) {
        this(prompt, chunkSize, DEFAULT_SINK_TOKENS, true);
    }

    public KvzipScorer(RepeatPrompt prompt, int chunkSize, int sinkTokens, boolean successorPooling) {
        if (chunkSize < 1) throw new KvgateException("scoring chunk size must be >= 1, got " + chunkSize);
        if (sinkTokens < 0) throw new KvgateException("scoring sink tokens must be >= 0, got " + sinkTokens);
        this.prompt = prompt;
        this.chunkSize = chunkSize;
        this.sinkTokens = sinkTokens;
        this.successorPooling = successorPooling;
    }

    /** Whether scores are pooled over each entry's successor ({@link SuccessorPooling}). */
    public boolean successorPooling() {
        return successorPooling;
    }

    /**
     * Scores every cached entry of {@code cache}, which must end with the prefilled context
     * {@code contextIds} (entries before it, if any, count as sinks). The cache is left unchanged.
     */
    public KvzipScores score(Model model, KvCache cache, int[] contextIds) {
        int n = contextIds.length;
        int start = cache.nextPosition() - n; // position of contextIds[0]
        if (n == 0) throw new KvgateException("KVzip scoring needs a non-empty context");
        if (start < 0) throw new KvgateException("KVzip scoring: the cache holds " + cache.nextPosition()
                + " positions, fewer than the " + n + "-token context");
        int[] layers = model.config().gatedLayers();
        float[][][] scores = new float[model.config().numLayers()][][];
        int[][][] positions = new int[scores.length][][];
        for (int l : layers) {
            int heads = cache.numKvHeads();
            scores[l] = new float[heads][];
            positions[l] = new int[heads][];
            for (int h = 0; h < heads; h++) {
                positions[l][h] = cache.positions(l, h);
                scores[l][h] = new float[positions[l][h].length];
            }
        }

        // The repeated text excludes the wrapper tokens around the context (they stay in the key set).
        int from = 0, to = n;
        while (from < to && prompt.isWrapper(contextIds[from])) from++;
        while (to > from && prompt.isWrapper(contextIds[to - 1])) to--;
        if (from == to) throw new KvgateException("KVzip scoring: the context holds only wrapper tokens");
        int chunks = (to - from + chunkSize - 1) / chunkSize;

        for (int c = 0; c < chunks; c++) {
            int s = from + c * chunkSize;
            int e = Math.min(to, s + chunkSize);
            int[] target = Arrays.copyOfRange(contextIds, s, e);
            int[] quoted = c == 0 ? null : Arrays.copyOfRange(contextIds, Math.max(from, s - RepeatPrompt.QUOTED_TOKENS), s);
            int[] input = prompt.passInput(quoted, target);
            // Key set: the whole context for a single chunk; otherwise sinks + this chunk's keys (the first
            // chunk also takes the leading wrappers, the last one the trailing wrappers). The pass runs on a
            // copy of that key set, which it extends chunk by chunk and then drops: the caller's cache is
            // never touched, and the pass's [G·t, keys] attention matrices stay prefill-chunk sized.
            int keyFrom = start + (c == 0 ? 0 : s);
            int keyTo = start + (c == chunks - 1 ? n : e);
            int sinkEnd = start + sinkTokens;
            IntPredicate keySet = chunks == 1 ? p -> true : p -> p < sinkEnd || (p >= keyFrom && p < keyTo);
            try (KvCache pass = cache.subset(keySet)) {
                runPass(model, pass, input, layers, scores, positions);
            }
        }
        if (successorPooling) SuccessorPooling.apply(scores, positions);
        return new KvzipScores(scores, layers.clone());
    }

    /**
     * One reconstruction pass appended to {@code keys} (a throw-away copy); folds the max probabilities on
     * entries of the scored context into {@code scores} (entries of the pass itself are not in
     * {@code positions}, so they are skipped).
     */
    private static void runPass(Model model, KvCache keys, int[] input, int[] layers,
                                float[][][] scores, int[][][] positions) {
        boolean[] wanted = new boolean[scores.length];
        for (int l : layers) wanted[l] = true;
        ForwardObserver maxProbs = new ForwardObserver() {
            @Override
            public boolean wantsAttentionProbs(int layer) {
                return wanted[layer];
            }

            @Override
            public void attentionProbs(int layer, int kvHead, NDArray probs) {
                // columns: the pass cache's entries before this forward chunk, then the chunk's own keys
                long cached = probs.getShape().get(2) - probs.getShape().get(1);
                if (cached <= 0) return;
                float[] m;
                // max over the chunk's rows, then over the group: two reductions, no copy of the slice
                try (NDArray overRows = probs.max(new int[] {1});
                     NDArray overGroup = overRows.max(new int[] {0});
                     NDArray f32 = overGroup.toType(DataType.FLOAT32, false)) {
                    m = f32.toFloatArray(); // [cached + t]; the first `cached` columns are the key set's entries
                }
                int[] keyPositions = keys.positions(layer, kvHead);
                int[] target = positions[layer][kvHead];
                float[] out = scores[layer][kvHead];
                for (int j = 0; j < cached; j++) {
                    int idx = Arrays.binarySearch(target, keyPositions[j]);
                    if (idx >= 0 && m[j] > out[idx]) out[idx] = m[j];
                }
            }
        };
        ForwardOptions options = ForwardOptions.defaults()
                .withObserver(maxProbs)
                .withLogits(ForwardOptions.Logits.NONE);
        try (NDManager scope = model.manager().newSubManager()) {
            model.forward(scope, keys, input, options);
        }
    }
}
