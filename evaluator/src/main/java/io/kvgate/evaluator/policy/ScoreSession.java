package io.kvgate.evaluator.policy;

import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;

/**
 * One sequence being scored. The runtime attaches {@link #observer} to every forward pass that extends the
 * sequence's cache (prefill chunks, query and decoded tokens), then asks for {@link #scores} when it evicts.
 */
public interface ScoreSession extends AutoCloseable {
    /** Listener for a forward pass over {@code cache}, or null when the scorer needs none. */
    default ForwardObserver observer(KvCache cache) {
        return null;
    }

    /**
     * True when scores mean something before the whole context is in, so eviction can run after every prefill
     * chunk (gates, H2O, key norm, streaming, random). Scorers that need the whole context (KVzip, SnapKV in
     * the query-agnostic setting) return false and are asked once, at {@link Stage#CONTEXT_DONE}.
     */
    default boolean scoresPartialContext() {
        return true;
    }

    /**
     * Scores of the cache's current entries, [layer][kvHead][entry] in storage order; a null layer is never
     * evicted (e.g. Gemma3 sliding-window layers). NaN or entries the scorer knows nothing about sort lowest.
     */
    float[][][] scores(KvCache cache, Stage stage);

    /**
     * Every decode interval when nothing will be evicted: bring what was observed since the last interval up to
     * date without producing scores, so each token is processed once and buffers do not grow (gates score their
     * buffered hidden states on the device; nothing is read back). Scorers whose {@link #scores} only looks up
     * or computes from the cache (H2O and SnapKV accumulate in their observers) need nothing: not asking them
     * changes nothing they learn.
     */
    default void scoreBuffered() {}

    /** The context is in and evicted; what was learned so far is the state every query starts from. */
    default void contextDone(KvCache cache) {}

    /** A new query follows the context: forget everything observed after {@link #contextDone}. */
    default void rewindToContext() {}

    @Override
    default void close() {}
}
