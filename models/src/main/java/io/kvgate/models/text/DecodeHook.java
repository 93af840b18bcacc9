package io.kvgate.models.text;

import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;

/**
 * Lets a caller act on the cache while {@link Generator} runs (the evaluator evicts during decoding through it).
 * Both methods have defaults, so a hook implements only what it needs.
 */
public interface DecodeHook {
    /** Passed into every forward that extends the cache during generation (prompt chunks and decode steps); null = none. */
    default ForwardObserver observer() {
        return null;
    }

    /**
     * Called after each forward that extended the cache: once after the prompt (with {@code generatedSoFar} empty),
     * then after every generated token has been fed. The hook may evict from {@code cache} here. The last token
     * of a generation that reached {@code maxNewTokens} is never fed, so no call follows it.
     */
    default void afterStep(KvCache cache, int[] generatedSoFar) {}
}
