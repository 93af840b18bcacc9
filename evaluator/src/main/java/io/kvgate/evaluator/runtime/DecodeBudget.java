package io.kvgate.evaluator.runtime;

import io.kvgate.models.KvgateException;

/**
 * The cache budget while decoding: B entries per (layer, KV head) on average (B·L·H in all), given as a
 * ratio of the context's length or as a number of tokens per head.
 */
public record DecodeBudget(boolean ratioOfContext, double value) {
    public DecodeBudget {
        if (ratioOfContext && !(value > 0 && value <= 1))
            throw new KvgateException("decode budget ratio must be in (0,1], got " + value);
        if (!ratioOfContext && !(value >= 1))
            throw new KvgateException("decode budget must be >= 1 token per head, got " + value);
    }

    public static DecodeBudget ratio(double r) {
        return new DecodeBudget(true, r);
    }

    public static DecodeBudget tokensPerHead(int tokens) {
        return new DecodeBudget(false, tokens);
    }

    /** B for a context of {@code contextTokens} tokens. */
    public double entriesPerHead(int contextTokens) {
        return ratioOfContext ? value * contextTokens : value;
    }
}
