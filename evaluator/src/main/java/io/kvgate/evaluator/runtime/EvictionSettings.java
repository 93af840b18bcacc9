package io.kvgate.evaluator.runtime;

import io.kvgate.evaluator.policy.Protection;
import io.kvgate.models.KvgateException;

/**
 * How a policy is applied to one sequence (ALGORITHM.md §4).
 *
 * @param ratio          share r of the context's KV pairs kept, in (0, 1]
 * @param protection     sinks, system prefix and local window, never evicted
 * @param prefillChunk   tokens per prefill chunk; eviction may run after each
 * @param decodeBudget   budget while the query and answer are appended; null = keep r of the context
 * @param decodeInterval tokens between two decode-time scorings (paper: 128)
 * @param decodeRecent   most recent tokens protected while decoding (paper: 128)
 * @param protectQuery   keep the query's own tokens while its answer is decoded (they are the instruction being
 *                       followed, like a system prompt). Measured on the tiny model: a 288-character repeat decoded
 *                       past a 300-token budget stays exact with it and breaks at character 231 without it, when the
 *                       repeat request is evicted.
 */
public record EvictionSettings(double ratio, Protection protection, int prefillChunk, DecodeBudget decodeBudget,
                               int decodeInterval, int decodeRecent, boolean protectQuery) {
    public static final int DEFAULT_PREFILL_CHUNK = 2048;
    public static final int PAPER_DECODE_INTERVAL = 128;

    public EvictionSettings {
        checkRatio(ratio);
        if (prefillChunk < 1) throw new KvgateException("prefill chunk must be >= 1 token, got " + prefillChunk);
        if (decodeInterval < 1) throw new KvgateException("decode interval must be >= 1 token, got " + decodeInterval);
        if (decodeRecent < 0) throw new KvgateException("decode recent window must be >= 0, got " + decodeRecent);
    }

    /** Ratio r with the paper's protection and decoding settings. */
    public static EvictionSettings paper(double ratio) {
        return new EvictionSettings(ratio, Protection.paper(), DEFAULT_PREFILL_CHUNK, null,
                PAPER_DECODE_INTERVAL, PAPER_DECODE_INTERVAL, true);
    }

    public static void checkRatio(double ratio) {
        if (!(ratio > 0 && ratio <= 1)) throw new KvgateException("ratio " + ratio + " is outside (0,1] (the share of KV pairs kept)");
    }

    public EvictionSettings withRatio(double r) {
        return new EvictionSettings(r, protection, prefillChunk, decodeBudget, decodeInterval, decodeRecent, protectQuery);
    }

    public EvictionSettings withProtection(Protection p) {
        return new EvictionSettings(ratio, p, prefillChunk, decodeBudget, decodeInterval, decodeRecent, protectQuery);
    }

    public EvictionSettings withPrefillChunk(int chunk) {
        return new EvictionSettings(ratio, protection, chunk, decodeBudget, decodeInterval, decodeRecent, protectQuery);
    }

    /** Decode-time scoring interval and protected recent tokens (paper: 128 and 128). */
    public EvictionSettings withDecodeInterval(int interval, int recent) {
        return new EvictionSettings(ratio, protection, prefillChunk, decodeBudget, interval, recent, protectQuery);
    }

    public EvictionSettings withProtectQuery(boolean protect) {
        return new EvictionSettings(ratio, protection, prefillChunk, decodeBudget, decodeInterval, decodeRecent, protect);
    }

    public EvictionSettings withDecodeBudget(DecodeBudget b) {
        return new EvictionSettings(ratio, protection, prefillChunk, b, decodeInterval, decodeRecent, protectQuery);
    }

    /** B entries per head while decoding a context of n tokens. */
    public double decodeEntriesPerHead(int contextTokens) {
        return (decodeBudget == null ? DecodeBudget.ratio(ratio) : decodeBudget).entriesPerHead(contextTokens);
    }
}
