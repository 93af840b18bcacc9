package io.kvgate.evaluator.policy;

import io.kvgate.models.Model;

/**
 * What a scorer may know about the sequence it scores: the model, the whole context (the evaluator has it
 * before prefill; only oracle scorers such as KVzip read it) and where the context starts in the cache.
 *
 * @param contextStart position of {@code contextIds[0]} in the cache (0 for a fresh cache)
 */
public record SequenceInfo(Model model, int[] contextIds, int contextStart) {
    /** Position one past the context's last token. */
    public int contextEnd() {
        return contextStart + contextIds.length;
    }
}
