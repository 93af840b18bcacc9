package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Additive attention masks for one chunk of queries at positions p0..p0+T-1, built from the keys' own
 * positions (causal: k <= q; sliding window: q - k < window), so caches with evicted entries need nothing
 * special. Built on the device, once per distinct (key positions, window) per chunk: layers that hold the same
 * positions share it. Returns null when every key is visible (a decode step without a window).
 */
final class AttentionMasks {
    private record Entry(int window, int[] keyPositions, NDArray mask) {}
    private record PerHead(int window, int[][] keyPositions, NDArray mask) {}

    /**
     * Bytes of masks kept for reuse within a chunk. After eviction every layer holds different positions, so nothing
     * is reused, and keeping every layer's mask of a long chunk ran a 32K-token prefill out of GPU memory
     * (28 layers x [8 heads, 4096, ~12K] float32); past this the oldest masks are freed.
     */
    static final long KEEP_BYTES = 512L << 20;

    private final NDManager scope;
    private final int p0, t;
    private final List<Entry> built = new ArrayList<>();
    private final List<PerHead> builtPerHead = new ArrayList<>();
    private long keptBytes;

    AttentionMasks(NDManager scope, int p0, int t) {
        this.scope = scope;
        this.p0 = p0;
        this.t = t;
    }

    /**
     * Mask [T, nk] (float32, 0 or -inf) for keys at {@code keyPositions[0..nk)}, whose smallest and largest positions
     * are {@code minPos}, {@code maxPos} (any order), or null if every key is visible.
     */
    NDArray get(int[] keyPositions, int nk, int minPos, int maxPos, int window) {
        boolean allVisible = t == 1 && (window == 0 || nk == 0 || minPos > p0 - window) && (nk == 0 || maxPos <= p0);
        if (allVisible) return null;
        for (Entry e : built)
            if (e.window == window && e.keyPositions.length == nk && Arrays.equals(e.keyPositions, 0, nk, keyPositions, 0, nk)) return e.mask;
        int[] kp = Arrays.copyOf(keyPositions, nk);
        NDArray mask = additive(kp, new Shape(1, nk), window);
        built.add(new Entry(window, kp, mask));
        return mask;
    }

    /** Mask [H, 1, T, L] for per-head key positions [H][L] (padding slots at {@link LayerKv#PAD_POSITION} stay hidden). */
    NDArray perHead(int[][] keyPositions, int window) {
        for (PerHead e : builtPerHead)
            if (e.window == window && Arrays.deepEquals(e.keyPositions, keyPositions)) return e.mask;
        int h = keyPositions.length, l = keyPositions[0].length;
        int[] flat = new int[h * l];
        for (int i = 0; i < h; i++) System.arraycopy(keyPositions[i], 0, flat, i * l, l);
        NDArray mask = additive(flat, new Shape(h, 1, 1, l), window);
        builtPerHead.add(new PerHead(window, keyPositions, mask));
        return mask;
    }

    /**
     * 0 where a query may see a key (k <= q, and q - k < window when windowed), -inf elsewhere; queries on axis -2.
     * Its intermediates are freed at once, and older kept masks once the kept bytes pass {@link #KEEP_BYTES}: callers
     * use a mask before asking for the next one (on a GPU the frees are stream-ordered).
     */
    private NDArray additive(int[] keyPositions, Shape keyShape, int window) {
        NDArray mask;
        try (NDManager tmp = scope.newSubManager()) {
            NDArray keys = tmp.create(keyPositions, keyShape);
            NDArray queries = tmp.arange(p0, p0 + t, 1, DataType.INT32).reshape(t, 1);
            NDArray allowed = keys.lte(queries);
            if (window > 0) allowed = allowed.logicalAnd(queries.sub(keys).lt(window));
            Shape shape = allowed.getShape();
            mask = NDArrays.where(allowed, tmp.zeros(shape, DataType.FLOAT32), tmp.full(shape, Float.NEGATIVE_INFINITY, DataType.FLOAT32));
            mask.attach(scope);
        }
        long bytes = 4L * mask.size();
        while (keptBytes + bytes > KEEP_BYTES && (!built.isEmpty() || !builtPerHead.isEmpty())) {
            NDArray oldest = !built.isEmpty() ? built.remove(0).mask() : builtPerHead.remove(0).mask();
            keptBytes -= 4L * oldest.size();
            oldest.close();
        }
        keptBytes += bytes;
        return mask;
    }
}
