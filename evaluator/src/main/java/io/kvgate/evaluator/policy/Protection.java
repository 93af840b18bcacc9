package io.kvgate.evaluator.policy;

import io.kvgate.models.KvgateException;

/**
 * Entries no policy may evict (ALGORITHM.md §4): the first {@code sinkTokens} tokens (attention sinks), a
 * declared system prefix of the context, and the local window (the most recent tokens).
 *
 * @param sinkTokens     leading tokens of the sequence always kept (paper: 4)
 * @param systemPrefix   leading context tokens declared as system prompt, always kept (0 = none)
 * @param windowTokens   fixed local window in tokens, or -1 to use the paper's rule ({@link #windowFor})
 * @param windowFraction the paper's rule: this fraction of the context below 16K tokens (0.02)
 * @param maxWindow      the paper's rule: the window for contexts of 16K tokens and more (4096)
 */
public record Protection(int sinkTokens, int systemPrefix, int windowTokens, double windowFraction, int maxWindow) {
    public static final int LONG_CONTEXT = 16_384;

    public Protection {
        if (sinkTokens < 0) throw new KvgateException("sink tokens must be >= 0, got " + sinkTokens);
        if (systemPrefix < 0) throw new KvgateException("system prefix must be >= 0 tokens, got " + systemPrefix);
        if (windowTokens < -1) throw new KvgateException("window must be >= 0 tokens (or -1 for the paper's 2% rule), got " + windowTokens);
        if (!(windowFraction >= 0 && windowFraction < 1)) throw new KvgateException("window fraction must be in [0,1), got " + windowFraction);
    }

    /** The paper's defaults: 4 sinks, no system prefix, window 2 % of the context below 16K tokens, else 4096. */
    public static Protection paper() {
        return new Protection(4, 0, -1, 0.02, 4096);
    }

    /** 4 sinks and a fixed window of {@code window} tokens (for tiny contexts, where 2 % is a handful of tokens). */
    public static Protection withWindow(int window) {
        return new Protection(4, 0, window, 0.02, 4096);
    }

    public Protection withSystemPrefix(int tokens) {
        return new Protection(sinkTokens, tokens, windowTokens, windowFraction, maxWindow);
    }

    /** The local window w for a context of n tokens. */
    public int windowFor(int contextTokens) {
        if (windowTokens >= 0) return windowTokens;
        if (contextTokens >= LONG_CONTEXT) return maxWindow;
        return (int) Math.ceil(windowFraction * contextTokens);
    }

    /**
     * Whether position {@code p} is protected while the sequence holds positions [0, end) and the context
     * started at {@code contextStart}; {@code recent} tokens before {@code end} form the window.
     */
    public boolean isProtected(int p, int contextStart, int end, int recent) {
        return p < sinkTokens || (p >= contextStart && p < contextStart + systemPrefix) || p >= end - recent;
    }

    /**
     * The share of the candidates (tokens outside the window) kept at ratio r of n tokens:
     * r′ = (r·n − w)/(n − w), clamped to [0, 1] (ALGORITHM.md §4). For reports; the budget itself is applied
     * as r·n entries per head with protected entries counted in, which is the same rule.
     */
    public static double candidateShare(double ratio, int n, int window) {
        if (n <= window) return 1;
        return Math.max(0, Math.min(1, (ratio * n - window) / (n - window)));
    }
}
