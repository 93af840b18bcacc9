package io.kvgate.objectives;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
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
 * t−1. Its pass attends to the whole cache (its tokens at the positions after the cache, as in the official
 * code), but its scores' softmax runs over a restricted key set — the sink tokens, chunk t's own cached keys
 * and the pass's own keys ({@link KeySetColumns}, ALGORITHM.md §1).
 *
 * <p>By default the scores are the official code's raw scores. {@code successorPooling = true} (kvgate's
 * {@code kvzip-pooled} variant, {@link SuccessorPooling}) also gives each entry its successor's score: the
 * reconstruction skips the first token of spans it cannot predict, which retrieval needs.
 */
public final class KvzipScorer {
    /** Leading context tokens kept in every chunk's key set (attention sinks / system prompt). */
    public static final int DEFAULT_SINK_TOKENS = 4;

    /** Float32 elements of one CPU pass call's attention matrix (16 MiB), see {@link #passChunk}. */
    static final long CPU_SCORES_BUDGET = 4L << 20;
    /** Fewest tokens per pass call, so per-call overheads stay small even over very large key sets. */
    static final int MIN_PASS_CHUNK = 32;

    private final RepeatPrompt prompt;
    private final int chunkSize;
    private final int sinkTokens;
    private final boolean successorPooling;

    public KvzipScorer(RepeatPrompt prompt, int chunkSize) {
        this(prompt, chunkSize, DEFAULT_SINK_TOKENS, false);
    }

    public KvzipScorer(RepeatPrompt prompt, int chunkSize, int sinkTokens, boolean successorPooling) {
        if (chunkSize < 1) throw new KvgateException("scoring chunk size must be >= 1, got " + chunkSize);
        if (sinkTokens < 0) throw new KvgateException("scoring sink tokens must be >= 0, got " + sinkTokens);
        this.prompt = prompt;
        this.chunkSize = chunkSize;
        this.sinkTokens = sinkTokens;
        this.successorPooling = successorPooling;
    }

    /** The same scorer with successor pooling on or off. */
    public KvzipScorer withSuccessorPooling(boolean on) {
        return new KvzipScorer(prompt, chunkSize, sinkTokens, on);
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
            // The pass attends to the whole cache (official code and kvpress: the forward is ordinary attention
            // over every cached entry, its tokens at the positions after the cache, for every chunk); only the
            // scores' softmax is restricted to the key set: the whole context for a single chunk,
            // otherwise sinks + this chunk's keys (the first chunk also takes the leading wrappers, the last one
            // the trailing wrappers) + the pass's own keys. The pass extends a throw-away copy of the cache: the
            // caller's cache is never touched.
            int keyFrom = start + (c == 0 ? 0 : s);
            int keyTo = start + (c == chunks - 1 ? n : e);
            int sinkEnd = start + sinkTokens;
            IntPredicate keySet = chunks == 1 ? p -> true : p -> p < sinkEnd || (p >= keyFrom && p < keyTo);
            try (KvCache pass = cache.subset(p -> true)) {
                runPass(model, pass, input, layers, keySet, scores, positions);
            }
        }
        if (successorPooling) SuccessorPooling.apply(scores, positions);
        return new KvzipScores(scores, layers.clone());
    }

    /**
     * One reconstruction pass appended to {@code keys} (a throw-away copy of the cache); folds the scores of the
     * key set's entries ({@code keySet}, by position) into {@code scores}: their attention probabilities
     * renormalised over the key set and the pass's own entries. The pass's own entries are not scored.
     */
    private static void runPass(Model model, KvCache keys, int[] input, int[] layers, IntPredicate keySet,
                                float[][][] scores, int[][][] positions) {
        // per (layer, head): the key set's column ranges among the cached entries, and each column's score slot
        int[][][] slots = new int[scores.length][][];
        int[][][] ranges = new int[scores.length][][];
        int cached = 0;
        for (int l : layers) {
            slots[l] = new int[keys.numKvHeads()][];
            ranges[l] = new int[keys.numKvHeads()][];
            for (int h = 0; h < slots[l].length; h++) {
                int[] keyPositions = keys.positions(l, h);
                slots[l][h] = new int[keyPositions.length];
                for (int j = 0; j < keyPositions.length; j++)
                    slots[l][h][j] = Arrays.binarySearch(positions[l][h], keyPositions[j]);
                ranges[l][h] = KeySetColumns.ranges(keyPositions, keySet);
                cached = Math.max(cached, keyPositions.length);
            }
        }
        ForwardObserver maxProbs = new ForwardObserver() {
            @Override
            public boolean wantsAttentionProbs(int layer) {
                return slots[layer] != null;
            }

            @Override
            public void attentionProbs(int layer, int kvHead, NDArray probs) {
                // columns: the cached entries, the pass's entries before this forward chunk, the chunk's own keys
                int[] slot = slots[layer][kvHead];
                int[] range = ranges[layer][kvHead];
                if (range.length == 0) return;
                long passRow0 = probs.getShape().get(2) - probs.getShape().get(1) - slot.length;
                float[] m;
                try (NDArray keyColumns = KeySetColumns.restrictedProbs(probs, range, slot.length);
                     NDArray best = maxOverScoringRows(keyColumns, passRow0);
                     NDArray f32 = best.toType(DataType.FLOAT32, false)) {
                    m = f32.toFloatArray();
                }
                float[] out = scores[layer][kvHead];
                int k = 0;
                for (int r = 0; r < range.length; r += 2)
                    for (int j = range[r]; j < range[r + 1]; j++, k++)
                        if (slot[j] >= 0 && m[k] > out[slot[j]]) out[slot[j]] = m[k];
            }
        };
        ForwardOptions options = ForwardOptions.defaults()
                .withObserver(maxProbs)
                .withLogits(ForwardOptions.Logits.NONE);
        try (NDManager scope = model.manager().newSubManager()) {
            model.forward(scope, keys, input, options, passChunk(model, input.length, cached + input.length));
        }
    }

    /**
     * Which pass rows count towards a key's score, and how they combine — the one place that decides it:
     * the max over the GQA group's query heads and every row of the pass (repeat prompt and repeated context
     * alike). {@code probs}: [G, T, keys] for pass rows {@code passRow0 ..< passRow0 + T}; returns [keys].
     */
    static NDArray maxOverScoringRows(NDArray probs, long passRow0) {
        Shape s = probs.getShape();
        try (NDArray rows = probs.reshape(s.get(0) * s.get(1), s.get(2))) {
            return maxOverRows(rows);
        }
    }

    /**
     * Column max of [R, k] by halving with element-wise maxima (the two halves overlap by a row when R is odd;
     * max is idempotent, so that is exact). libtorch's max(dim) also computes the argmax and took 2–5× longer.
     */
    static NDArray maxOverRows(NDArray rows) {
        NDArray current = rows;
        long r = rows.getShape().get(0);
        while (r > 1) {
            long half = (r + 1) / 2;
            NDArray next;
            try (NDArray low = current.get(new NDIndex("0:{}", half)); NDArray high = current.get(new NDIndex("{}:{}", r - half, r))) {
                next = low.maximum(high);
            }
            if (current != rows) current.close();
            current = next;
            r = half;
        }
        NDArray column = current.reshape(rows.getShape().get(1));
        if (current != rows) current.close();
        return column;
    }

    /**
     * Tokens per forward call of a pass over {@code input} tokens and {@code keys} keys at most. On the CPU its
     * float32 attention matrices [query heads, t, keys] stay within {@link #CPU_SCORES_BUDGET}: glibc serves
     * blocks of 32 MiB and more from fresh mmap pages, zero-filled page by page on every op, and 512-token calls
     * over 3K keys spent most of their time there (BENCHMARKS.md, "KVzip scoring cost"). GPU allocators cache
     * their blocks: there the pass uses the prefill chunk. The calls are then evened out (no short last call:
     * every call's rectangle of attention scores is as small as it can be).
     */
    static int passChunk(Model model, int input, int keys) {
        long perQuery = (long) model.config().numHeads() * keys;
        int most = model.device().isGpu() ? model.prefillChunk()
                : (int) Math.max(MIN_PASS_CHUNK, Math.min(model.prefillChunk(), CPU_SCORES_BUDGET / perQuery));
        int calls = (input + most - 1) / most;
        return (input + calls - 1) / calls;
    }
}
