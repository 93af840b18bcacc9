package io.kvgate.evaluator.policy;

import io.kvgate.models.KvgateException;

import java.util.Arrays;
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
        for (int l = 0; l < layers; l++) if (scores[l] != null) keep[l] = new int[scores[l].length][];
        switch (this) {
            case GLOBAL -> {
                int heads = countHeads(scores);
                choose(scores, protect, keep, 0, layers, -1, Math.round(entriesPerHead * heads));
            }
            case PER_LAYER -> {
                for (int l = 0; l < layers; l++)
                    if (scores[l] != null) choose(scores, protect, keep, l, l + 1, -1, Math.round(entriesPerHead * scores[l].length));
            }
            case PER_HEAD -> {
                for (int l = 0; l < layers; l++)
                    if (scores[l] != null)
                        for (int h = 0; h < scores[l].length; h++) choose(scores, protect, keep, l, l + 1, h, Math.round(entriesPerHead));
            }
        }
        return keep;
    }

    private static int countHeads(float[][][] scores) {
        int n = 0;
        for (float[][] layer : scores) if (layer != null) n += layer.length;
        return n;
    }

    /**
     * Fills {@code keep} for layers [l0, l1) (one head if {@code head >= 0}): the protected entries and the best
     * candidates, {@code total} entries in all, protected ones included. Ties at the threshold go to lower (layer,
     * head, index). Linear passes, heads (or ranges) in parallel for large inputs (an eviction of a 32K-token context
     * selects over millions of entries): the candidates' keys into one compact array, the threshold (a radix select
     * over it), each head's count above and at the threshold, then each head's kept indices with its share of the ties.
     */
    private static void choose(float[][][] scores, boolean[][][] protect, int[][][] keep,
                               int l0, int l1, int head, long total) {
        java.util.List<int[]> pairs = new java.util.ArrayList<>();
        for (int l = l0; l < l1; l++) {
            if (scores[l] == null) continue;
            for (int h = 0; h < scores[l].length; h++) if (head < 0 || h == head) pairs.add(new int[] {l, h});
        }
        int n = pairs.size();
        float[][] s = new float[n][];
        boolean[][] p = new boolean[n][];
        long entries = 0;
        for (int i = 0; i < n; i++) {
            s[i] = scores[pairs.get(i)[0]][pairs.get(i)[1]];
            p[i] = protect[pairs.get(i)[0]][pairs.get(i)[1]];
            entries += s[i].length;
        }
        // the candidates (unprotected entries) as keys, head after head: a compact array the radix select reads twice
        int[] start = new int[n + 1];
        float[] candidates;
        if (Parallel.groups(n, entries) == 1) { // one thread: fill and count in one pass
            candidates = new float[(int) entries];
            for (int i = 0; i < n; i++) start[i + 1] = candidateKeys(s[i], p[i], candidates, start[i]);
        } else { // counts first, so that every head knows where its keys go
            Parallel.forEach(n, entries, i -> start[i + 1] = countUnprotected(p[i]));
            for (int i = 0; i < n; i++) start[i + 1] += start[i];
            float[] c = candidates = new float[start[n]];
            Parallel.forEach(n, entries, i -> candidateKeys(s[i], p[i], c, start[i]));
        }
        int all = start[n];
        long slots = Math.min(all, Math.max(0, total - (entries - all)));
        // nothing to choose: a threshold above every key keeps the protected entries only
        float threshold = slots == 0 ? Float.POSITIVE_INFINITY : FloatSelect.kthSmallest(candidates, all, (int) (all - slots));
        long[] above = new long[n], ties = new long[n];
        Parallel.forEach(n, entries, i -> {
            above[i] = countAbove(candidates, start[i], start[i + 1], threshold);
            ties[i] = countEqual(candidates, start[i], start[i + 1], threshold);
        });
        long tiesLeft = slots - Arrays.stream(above).sum();
        long[] tieQuota = new long[n];
        for (int i = 0; i < n; i++) {
            tieQuota[i] = Math.max(0, Math.min(ties[i], tiesLeft));
            tiesLeft -= tieQuota[i];
        }
        int longest = Arrays.stream(s).mapToInt(a -> a.length).max().orElse(0);
        Parallel.forEachGroup(n, Parallel.groups(n, entries), (g, from, to) -> {
            int[] buffer = new int[longest]; // one per group: a fresh array per head was megabytes of garbage per eviction
            for (int i = from; i < to; i++)
                keep[pairs.get(i)[0]][pairs.get(i)[1]] = kept(p[i], candidates, start[i], threshold, tieQuota[i], buffer);
        });
    }

    // The passes' loops as static methods over plain arrays (the JIT optimises these better than lambda bodies).

    private static int countUnprotected(boolean[] p) {
        int c = 0;
        for (boolean x : p) if (!x) c++;
        return c;
    }

    /** Writes the head's candidates' keys from {@code at}; returns where they end. */
    private static int candidateKeys(float[] s, boolean[] p, float[] out, int at) {
        for (int e = 0; e < s.length; e++) if (!p[e]) out[at++] = key(s[e]);
        return at;
    }

    // two simple counting loops run faster than one with two branches (measured: 35 vs 45 ms over 3.1 M candidates)
    private static long countAbove(float[] c, int from, int to, float threshold) {
        long n = 0;
        for (int i = from; i < to; i++) if (c[i] > threshold) n++;
        return n;
    }

    private static long countEqual(float[] c, int from, int to, float threshold) {
        long n = 0;
        for (int i = from; i < to; i++) if (c[i] == threshold) n++;
        return n;
    }

    /**
     * A head's kept indices: protected entries, candidates above the threshold, and its first {@code ties} at it. Every
     * candidate's index is written and the count advanced by the comparison, without a branch on it: whether a score
     * is above the threshold is a coin toss the branch predictor loses (1K-token eviction, 229K entries: 2.2 → 1.6 ms).
     */
    private static int[] kept(boolean[] p, float[] candidates, int at, float threshold, long ties, int[] buffer) {
        int kept = 0;
        for (int e = 0; e < p.length; e++) {
            if (p[e]) buffer[kept++] = e;
            else {
                float k = candidates[at++];
                buffer[kept] = e;
                int take = k > threshold ? 1 : 0;
                if (k == threshold && ties > 0) { // rare: only the threshold's own value
                    ties--;
                    take = 1;
                }
                kept += take;
            }
        }
        return Arrays.copyOf(buffer, kept);
    }

    /** NaN (no score) sorts lowest. */
    private static float key(float s) {
        return Float.isNaN(s) ? Float.NEGATIVE_INFINITY : s;
    }
}
