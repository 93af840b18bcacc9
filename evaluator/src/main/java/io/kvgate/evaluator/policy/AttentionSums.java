package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.index.NDIndex;
import io.kvgate.models.ForwardObserver;
import io.kvgate.models.KvCache;

/**
 * An observer that adds, for every key, the attention it receives from a range of query rows, summed over
 * the GQA group's query heads, into a {@link PositionBook} (the raw material of SnapKV and H2O).
 */
final class AttentionSums implements ForwardObserver {
    /** Which query positions count, given the pass's positions; null = skip the pass. */
    interface RowRange {
        int[] rows(int[] passPositions);
    }

    private final KvCache cache;
    private final PositionBook book;
    private final RowRange range;
    private final int[][] passPositions;

    AttentionSums(KvCache cache, PositionBook book, RowRange range) {
        this.cache = cache;
        this.book = book;
        this.range = range;
        this.passPositions = new int[cache.numLayers()][];
    }

    @Override
    public void attentionInput(int layer, NDArray x, int[] positions) {
        passPositions[layer] = positions;
    }

    @Override
    public boolean wantsAttentionProbs(int layer) {
        return book.scored(layer) && (passPositions[layer] == null || range.rows(passPositions[layer]) != null);
    }

    @Override
    public void attentionProbs(int layer, int kvHead, NDArray probs) {
        int[] pass = passPositions[layer];
        int t = (int) probs.getShape().get(1);
        int keys = (int) probs.getShape().get(2);
        int[] rows = pass == null ? new int[] {0, t} : range.rows(pass);
        if (rows == null || rows[0] >= rows[1]) return;
        float[] sums;
        try (NDArray selected = probs.get(new NDIndex(":, {}:{}, :", rows[0], rows[1]))) {
            sums = Arrays32.toFloats(selected.sum(new int[] {0, 1}));
        }
        int cached = keys - t;
        int[] cachedPositions = cache.positions(layer, kvHead); // may already hold the new tokens at its end
        for (int j = 0; j < keys; j++) {
            int p = j < cached ? cachedPositions[j] : (pass != null ? pass[j - cached] : cache.nextPosition() - t + (j - cached));
            book.add(layer, kvHead, p, sums[j]);
        }
    }
}
