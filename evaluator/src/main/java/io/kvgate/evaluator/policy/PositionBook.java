package io.kvgate.evaluator.policy;

import io.kvgate.models.KvCache;

import java.util.Arrays;

/**
 * Scores kept by token position per (layer, KV head), for scorers whose score is fixed or accumulated per
 * token: looking them up for the cache's current entries survives eviction (positions are preserved).
 * Unknown positions read as NaN. A snapshot taken when the context is done lets every query start from it.
 * Snapshots are copy-on-write by row: taking or restoring one copies references only (a query usually writes
 * few rows, or none, and a deep copy of the context's scores would cost O(context) per query).
 */
final class PositionBook {
    private final float[][][] byPosition; // [layer][head][position], null layer = not scored
    private final boolean[][] shared;     // [layer][head]: the row also belongs to the snapshot; copied before a write
    private float[][][] snapshot;

    /** A book over every gated layer of the model. */
    static PositionBook forModel(io.kvgate.models.ModelConfig config) {
        return new PositionBook(config.numLayers(), config.numKvHeads(), config.gatedLayers());
    }

    PositionBook(int layers, int heads, int[] scoredLayers) {
        byPosition = new float[layers][][];
        shared = new boolean[layers][];
        for (int l : scoredLayers) {
            byPosition[l] = new float[heads][];
            shared[l] = new boolean[heads];
            for (int h = 0; h < heads; h++) byPosition[l][h] = nanArray(256);
        }
    }

    boolean scored(int layer) {
        return byPosition[layer] != null;
    }

    void set(int layer, int head, int position, float value) {
        row(layer, head, position)[position] = value;
    }

    /** Sets positions first..first+n-1 to {@code values[from..from+n)} (one copy instead of n element writes). */
    void setRun(int layer, int head, int first, float[] values, int from, int n) {
        if (n == 0) return;
        System.arraycopy(values, from, row(layer, head, first + n - 1), first, n);
    }

    void add(int layer, int head, int position, float value) {
        float[] r = row(layer, head, position);
        r[position] = Float.isNaN(r[position]) ? value : r[position] + value;
    }

    float get(int layer, int head, int position) {
        float[] r = byPosition[layer][head];
        return position < r.length ? r[position] : Float.NaN;
    }

    /**
     * Scores of the cache's entries, [layer][head][entry]; null for layers not scored. Layers in parallel when large (it
     * reads only): ~3 M entries at the last eviction of a 0.6B model's 32K prefill, host time while the GPU waits.
     */
    float[][][] lookup(KvCache cache) {
        float[][][] out = new float[byPosition.length][][];
        Parallel.forEach(byPosition.length, cache.totalEntries(), l -> {
            if (byPosition[l] == null) return;
            out[l] = new float[byPosition[l].length][];
            for (int h = 0; h < byPosition[l].length; h++) {
                int[] pos = cache.positions(l, h);
                float[] s = new float[pos.length];
                for (int i = 0; i < pos.length; i++) s[i] = get(l, h, pos[i]);
                out[l][h] = s;
            }
        });
        return out;
    }

    /** Remembers the current scores as the state {@link #restore} returns to. */
    void snapshot() {
        snapshot = new float[byPosition.length][][];
        for (int l = 0; l < byPosition.length; l++) if (byPosition[l] != null) snapshot[l] = byPosition[l].clone();
        shareAll();
    }

    /** Back to the last snapshot (no-op without one). */
    void restore() {
        if (snapshot == null) return;
        for (int l = 0; l < byPosition.length; l++)
            if (byPosition[l] != null) System.arraycopy(snapshot[l], 0, byPosition[l], 0, byPosition[l].length);
        shareAll();
    }

    private void shareAll() {
        for (boolean[] layer : shared) if (layer != null) Arrays.fill(layer, true);
    }

    /** The row to write {@code position} into: grown when too short, our own copy when the snapshot shares it. */
    private float[] row(int layer, int head, int position) {
        float[] r = byPosition[layer][head];
        if (position >= r.length || shared[layer][head]) {
            float[] own;
            if (position < r.length) own = r.clone();
            else { // doubled; only the new part needs its NaNs
                own = Arrays.copyOf(r, Math.max(position + 1, r.length * 2));
                Arrays.fill(own, r.length, own.length, Float.NaN);
            }
            byPosition[layer][head] = r = own;
            shared[layer][head] = false;
        }
        return r;
    }

    private static float[] nanArray(int n) {
        float[] a = new float[n];
        Arrays.fill(a, Float.NaN);
        return a;
    }
}
