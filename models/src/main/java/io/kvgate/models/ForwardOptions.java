package io.kvgate.models;

/**
 * How a forward pass runs.
 *
 * @param observer     receives per-layer tensors, or null (nothing extra computed or copied)
 * @param extendCache  false = the new tokens attend to the cache and to themselves but are not stored
 *                     (KVzip's reconstruction pass); the cache is left exactly as it was
 * @param logits       which positions get logits computed
 * @param keepHidden   also return the final-norm hidden states of all T tokens
 */
public record ForwardOptions(ForwardObserver observer, boolean extendCache, Logits logits, boolean keepHidden) {
    public enum Logits { ALL, LAST, NONE }

    public static ForwardOptions defaults() {
        return new ForwardOptions(null, true, Logits.LAST, false);
    }

    public ForwardOptions withObserver(ForwardObserver o) {
        return new ForwardOptions(o, extendCache, logits, keepHidden);
    }

    public ForwardOptions withExtendCache(boolean extend) {
        return new ForwardOptions(observer, extend, logits, keepHidden);
    }

    public ForwardOptions withLogits(Logits l) {
        return new ForwardOptions(observer, extendCache, l, keepHidden);
    }

    public ForwardOptions withKeepHidden(boolean keep) {
        return new ForwardOptions(observer, extendCache, logits, keep);
    }
}
