package io.kvgate.objectives;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;

import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * KVzip's restricted key set in the reconstruction pass of a long context's chunk: the pass itself attends to the
 * whole cache, but a score is the softmax over the sinks, the chunk's cached keys and the pass's own keys only
 * (official code {@code attention/score.py}, kvpress {@code KVzipPress.score_kvzip}). A softmax over a subset is the
 * full softmax renormalised over that subset, so the scores come from the pass's probabilities.
 */
final class KeySetColumns {
    /** Below this a row's mass on the key set counts as none (its scores are then 0, not NaN). */
    private static final float MIN_MASS = 1e-30f;

    private KeySetColumns() {}

    /**
     * The key set's columns among cached entries at {@code positions} (ascending), as [from, to) pairs of column
     * indices, ascending and disjoint.
     */
    static int[] ranges(int[] positions, IntPredicate keySet) {
        int[] out = new int[8];
        int n = 0;
        for (int j = 0; j < positions.length; ) {
            if (!keySet.test(positions[j])) { j++; continue; }
            int from = j;
            while (j < positions.length && keySet.test(positions[j])) j++;
            if (n + 2 > out.length) out = Arrays.copyOf(out, out.length * 2);
            out[n++] = from;
            out[n++] = j;
        }
        return Arrays.copyOf(out, n);
    }

    /**
     * {@code probs} [G, T, cached + own] (rows summing to 1 over all cached entries and the pass's own keys) →
     * [G, T, k]: the probabilities of the key set's k cached columns ({@code ranges}), renormalised over those
     * columns and the own keys. When the key set is every cached entry, that is {@code probs}' cached columns as is.
     */
    static NDArray restrictedProbs(NDArray probs, int[] ranges, int cached) {
        if (ranges.length == 2 && ranges[0] == 0 && ranges[1] == cached)
            return probs.get(new NDIndex(":, :, 0:{}", cached));
        NDList parts = new NDList();
        try (NDArray own = probs.get(new NDIndex(":, :, {}:", cached))) {
            for (int r = 0; r < ranges.length; r += 2) parts.add(probs.get(new NDIndex(":, :, {}:{}", ranges[r], ranges[r + 1])));
            NDArray kept = parts.size() == 1 ? parts.get(0).duplicate() : NDArrays.concat(parts, 2);
            try (NDArray keptMass = kept.sum(new int[] {2}, true); NDArray ownMass = own.sum(new int[] {2}, true);
                 NDArray mass = keptMass.add(ownMass); NDArray safe = mass.maximum(MIN_MASS)) {
                return kept.divi(safe);
            }
        } finally {
            parts.close();
        }
    }
}
