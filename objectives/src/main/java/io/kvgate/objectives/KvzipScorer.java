package io.kvgate.objectives;

import io.kvgate.models.KvCache;
import io.kvgate.models.Model;

/**
 * KVzip's query-agnostic importance scores (the teacher): after the context is prefilled into a cache,
 * a reconstruction pass (repeat prompt + the context, teacher-forced) attends to the cache without
 * extending it; score[l][h][i] = max over the GQA group's query heads and all repeat positions of the
 * attention probability on cached entry i.
 */
public final class KvzipScorer {
    // TODO(objectives): implementation.

    public KvzipScorer(RepeatPrompt prompt, int chunkSize) {}

    /**
     * Scores every cached entry of {@code cache} (which holds exactly the prefilled context {@code contextIds}).
     * The cache is left unchanged.
     */
    public KvzipScores score(Model model, KvCache cache, int[] contextIds) {
        throw new UnsupportedOperationException();
    }
}
