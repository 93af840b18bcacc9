package io.kvgate.evaluator.runtime;

import io.kvgate.evaluator.policy.Budget;
import io.kvgate.evaluator.policy.Parallel;
import io.kvgate.evaluator.policy.Protection;
import io.kvgate.models.KvCache;

/**
 * Applies a budget to a cache: protected entries stay, the best-scored candidates fill the remaining slots,
 * everything else is physically removed with {@link KvCache#retain} per (layer, KV head).
 */
final class Evictor {
    private final Budget budget;
    private final Protection protection;
    private final int contextStart;
    private final int[] layers;

    Evictor(Budget budget, Protection protection, int contextStart, int[] evictableLayers) {
        this.budget = budget;
        this.protection = protection;
        this.contextStart = contextStart;
        this.layers = evictableLayers;
    }

    /** Entries held by evictable layers, all heads. */
    long entries(KvCache cache) {
        long n = 0;
        for (int l : layers) for (int h = 0; h < cache.numKvHeads(); h++) n += cache.length(l, h);
        return n;
    }

    int heads(KvCache cache) {
        return layers.length * cache.numKvHeads();
    }

    /**
     * True when no evictable (layer, head) holds more than {@code entriesPerHead}: then no budget (global, per layer or
     * per head) removes anything, and scoring, protection and selection can be skipped (a prefill at ratio 1, or
     * early chunks, would otherwise sort every entry of the cache after every chunk).
     */
    boolean fits(KvCache cache, double entriesPerHead) {
        for (int l : layers) for (int h = 0; h < cache.numKvHeads(); h++) if (cache.length(l, h) > entriesPerHead) return false;
        return true;
    }

    /**
     * Evicts down to {@code entriesPerHead} on average (protected entries count in), the {@code recent} latest tokens
     * and positions [keepFrom, keepTo) (the query while its answer is decoded) protected; the re-laid-out layers get
     * {@code room} spare rows a head for the tokens appended before the next eviction. Layers the scores leave null
     * are left alone. Returns the entries removed.
     */
    long evict(KvCache cache, float[][][] scores, double entriesPerHead, int recent, int keepFrom, int keepTo, int room) {
        return apply(cache, select(cache, scores, entriesPerHead, recent, keepFrom, keepTo), room);
    }

    /** The host half of {@link #evict}: which entries each (layer, head) keeps (null layers: left alone). */
    int[][][] select(KvCache cache, float[][][] scores, double entriesPerHead, int recent) {
        return select(cache, scores, entriesPerHead, recent, 0, 0);
    }

    private int[][][] select(KvCache cache, float[][][] scores, double entriesPerHead, int recent, int keepFrom, int keepTo) {
        int end = cache.nextPosition();
        boolean[][][] protect = new boolean[scores.length][][];
        Parallel.forEach(scores.length, entries(cache), l -> {
            if (scores[l] == null) return;
            protect[l] = new boolean[scores[l].length][];
            for (int h = 0; h < scores[l].length; h++) {
                int[] pos = cache.positions(l, h);
                if (pos.length != scores[l][h].length)
                    throw new IllegalStateException("layer " + l + " head " + h + ": " + scores[l][h].length + " scores for " + pos.length + " entries");
                protect[l][h] = new boolean[pos.length];
                for (int i = 0; i < pos.length; i++) protect[l][h][i] = protection.isProtected(pos[i], contextStart, end, recent)
                        || (pos[i] >= keepFrom && pos[i] < keepTo);
            }
        });
        return budget.select(scores, protect, entriesPerHead);
    }

    /**
     * The storage half of {@link #evict}: retains the selected entries and re-lays the storage out (one upload for all
     * layers), with {@code room} spare rows a head for what is appended next (the next prefill chunk; 0 after the last),
     * so that append writes in place instead of re-laying every layer out again.
     */
    long apply(KvCache cache, int[][][] keep, int room) {
        long[] removed = new long[keep.length];
        Parallel.forEach(keep.length, entries(cache), l -> { // layers are independent until the flush
            if (keep[l] == null) return;
            for (int h = 0; h < keep[l].length; h++) {
                int held = cache.length(l, h);
                if (keep[l][h].length < held) {
                    cache.retain(l, h, keep[l][h]);
                    removed[l] += held - keep[l][h].length;
                }
            }
        });
        cache.flush(room);
        return java.util.Arrays.stream(removed).sum();
    }
}
