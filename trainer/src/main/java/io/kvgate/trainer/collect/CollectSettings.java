package io.kvgate.trainer.collect;

import io.kvgate.datasets.HiddenDtype;
import io.kvgate.models.KvgateException;

/**
 * How tokens are sampled and stored.
 *
 * @param sampleFraction fraction of each document's eligible positions kept (seeded, deterministic)
 * @param hiddenDtype    storage of hidden states
 * @param docsPerShard   documents per shard (the unit of resumption)
 * @param heldOutEvery   every this-many-th sampled token of a document is held out (same token in every layer)
 * @param seed           sampling seed
 * @param skipLeading    leading context positions never sampled (attention sinks: always kept, nothing to learn)
 */
public record CollectSettings(double sampleFraction, HiddenDtype hiddenDtype, int docsPerShard, int heldOutEvery,
                              long seed, int skipLeading) {
    public CollectSettings {
        if (!(sampleFraction > 0 && sampleFraction <= 1))
            throw new KvgateException("sample fraction must be in (0, 1], got " + sampleFraction);
        if (docsPerShard < 1) throw new KvgateException("documents per shard must be >= 1, got " + docsPerShard);
        if (heldOutEvery < 2) throw new KvgateException("held-out period must be >= 2, got " + heldOutEvery);
        if (skipLeading < 0) throw new KvgateException("skip-leading must be >= 0, got " + skipLeading);
    }

    /** Paper-like defaults: a quarter of the tokens, float16 storage, every 100th sampled token held out. */
    public static CollectSettings defaults() {
        return new CollectSettings(0.25, HiddenDtype.F16, 16, 100, 0, 4);
    }

    public CollectSettings withSampleFraction(double f) {
        return new CollectSettings(f, hiddenDtype, docsPerShard, heldOutEvery, seed, skipLeading);
    }

    public CollectSettings withHiddenDtype(HiddenDtype d) {
        return new CollectSettings(sampleFraction, d, docsPerShard, heldOutEvery, seed, skipLeading);
    }

    public CollectSettings withDocsPerShard(int n) {
        return new CollectSettings(sampleFraction, hiddenDtype, n, heldOutEvery, seed, skipLeading);
    }

    public CollectSettings withHeldOutEvery(int n) {
        return new CollectSettings(sampleFraction, hiddenDtype, docsPerShard, n, seed, skipLeading);
    }

    public CollectSettings withSeed(long s) {
        return new CollectSettings(sampleFraction, hiddenDtype, docsPerShard, heldOutEvery, s, skipLeading);
    }

    public String heldOutRule() {
        return "one in every " + heldOutEvery + " sampled tokens of each document (counter offset by the document index), "
                + "the same tokens in every layer";
    }
}
