package io.kvgate.evaluator.policy;

import io.kvgate.models.KvgateException;

import java.util.Locale;

/**
 * Where a keep budget applies (kvpress: the "how many, where" half of a policy). The budget is an average
 * number of entries per (layer, KV head); protected entries are always kept and count against it, and the
 * remaining slots go to the highest-scored candidates:
 * <ul>
 *   <li>{@link #GLOBAL}: one threshold over all layers × KV heads (non-uniform per head; the default);</li>
 *   <li>{@link #PER_LAYER}: one threshold per layer over its KV heads;</li>
 *   <li>{@link #PER_HEAD}: every head keeps the same number.</li>
 * </ul>
 */
public enum Budget {
    GLOBAL, PER_LAYER, PER_HEAD;

    public String id() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static Budget parse(String s) {
        for (Budget b : values()) if (b.id().equals(s) || b.name().equalsIgnoreCase(s)) return b;
        throw new KvgateException("unknown budget '" + s + "' (expected global, per-layer or per-head)");
    }

    /**
     * Chooses the entries to keep.
     *
     * @param scores         [layer][head][entry]; a null layer is not evictable and is ignored
     * @param protect        same shape; true = always kept
     * @param entriesPerHead budget: average entries per evictable (layer, head), protected ones included
     * @return [layer][head] ascending storage indices to keep (null for ignored layers); a head whose
     *         selection is everything it holds gets its full index range
     */
    public int[][][] select(float[][][] scores, boolean[][][] protect, double entriesPerHead) {
        int layers = scores.length;
        int[][][] keep = new int[layers][][];
        boolean[][][] chosen = new boolean[layers][][];
        for (int l = 0; l < layers; l++) {
            if (scores[l] == null) continue;
            chosen[l] = new boolean[scores[l].length][];
            for (int h = 0; h < scores[l].length; h++) chosen[l][h] = protect[l][h].clone();
        }
        switch (this) {
            case GLOBAL -> {
                int heads = countHeads(scores);
                choose(scores, protect, chosen, 0, layers, -1, Math.round(entriesPerHead * heads));
            }
            case PER_LAYER -> {
                for (int l = 0; l < layers; l++)
                    if (scores[l] != null) choose(scores, protect, chosen, l, l + 1, -1, Math.round(entriesPerHead * scores[l].length));
            }
            case PER_HEAD -> {
                for (int l = 0; l < layers; l++)
                    if (scores[l] != null)
                        for (int h = 0; h < scores[l].length; h++) choose(scores, protect, chosen, l, l + 1, h, Math.round(entriesPerHead));
            }
        }
        for (int l = 0; l < layers; l++) {
            if (chosen[l] == null) continue;
            keep[l] = new int[chosen[l].length][];
            for (int h = 0; h < chosen[l].length; h++) keep[l][h] = indicesOf(chosen[l][h]);
        }
        return keep;
    }

    private static int countHeads(float[][][] scores) {
        int n = 0;
        for (float[][] layer : scores) if (layer != null) n += layer.length;
        return n;
    }

    /**
     * Marks the best candidates in layers [l0, l1) (one head if {@code head >= 0}) so that the selection holds
     * {@code total} entries, protected ones included. Ties at the threshold go to lower (layer, head, index).
     */
    private static void choose(float[][][] scores, boolean[][][] protect, boolean[][][] chosen,
                               int l0, int l1, int head, long total) {
        long protectedCount = 0;
        int candidates = 0;
        for (int l = l0; l < l1; l++) {
            if (scores[l] == null) continue;
            for (int h = 0; h < scores[l].length; h++) {
                if (head >= 0 && h != head) continue;
                for (int i = 0; i < scores[l][h].length; i++) {
                    if (protect[l][h][i]) protectedCount++;
                    else candidates++;
                }
            }
        }
        long slots = Math.min(candidates, Math.max(0, total - protectedCount));
        if (slots == 0) return;
        float[] all = new float[candidates];
        int k = 0;
        for (int l = l0; l < l1; l++) {
            if (scores[l] == null) continue;
            for (int h = 0; h < scores[l].length; h++) {
                if (head >= 0 && h != head) continue;
                for (int i = 0; i < scores[l][h].length; i++) if (!protect[l][h][i]) all[k++] = key(scores[l][h][i]);
            }
        }
        float threshold = FloatSelect.kthSmallest(all, (int) (candidates - slots));
        long above = 0;
        for (float s : all) if (s > threshold) above++;
        long tiesLeft = slots - above;
        for (int l = l0; l < l1; l++) {
            if (scores[l] == null) continue;
            for (int h = 0; h < scores[l].length; h++) {
                if (head >= 0 && h != head) continue;
                for (int i = 0; i < scores[l][h].length; i++) {
                    if (protect[l][h][i]) continue;
                    float s = key(scores[l][h][i]);
                    if (s > threshold || (s == threshold && tiesLeft-- > 0)) chosen[l][h][i] = true;
                }
            }
        }
    }

    /** NaN (no score) sorts lowest. */
    private static float key(float s) {
        return Float.isNaN(s) ? Float.NEGATIVE_INFINITY : s;
    }

    private static int[] indicesOf(boolean[] mask) {
        int n = 0;
        for (boolean b : mask) if (b) n++;
        int[] idx = new int[n];
        int k = 0;
        for (int i = 0; i < mask.length; i++) if (mask[i]) idx[k++] = i;
        return idx;
    }
}
