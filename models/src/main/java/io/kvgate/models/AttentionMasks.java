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

    /**
     * Bytes of masks kept for reuse within a chunk. After eviction every (layer, KV head) holds different positions, so
     * nothing is reused and keeping every mask of a long chunk ran a 32K-token prefill out of GPU memory
     * (28 layers x 8 heads x [4096, ~12K] float32); past this the oldest masks are freed.
     */
    static final long KEEP_BYTES = 512L << 20;

    private final NDManager scope;
    private final int p0, t;
    private final List<Entry> built = new ArrayList<>();
    private long keptBytes;

    AttentionMasks(NDManager scope, int p0, int t) {
        this.scope = scope;
        this.p0 = p0;
        this.t = t;
    }

    /** Mask [T, nk] (float32, 0 or -inf) for keys at {@code keyPositions[0..nk)} (ascending), or null if all visible. */
    NDArray get(int[] keyPositions, int nk, int window) {
        boolean allVisible = t == 1 && (window == 0 || nk == 0 || keyPositions[0] > p0 - window)
                && (nk == 0 || keyPositions[nk - 1] <= p0);
        if (allVisible) return null;
        for (Entry e : built)
            if (e.window == window && e.keyPositions.length == nk && Arrays.equals(e.keyPositions, 0, nk, keyPositions, 0, nk)) return e.mask;
        int[] kp = Arrays.copyOf(keyPositions, nk);
        NDArray mask;
        try (NDManager tmp = scope.newSubManager()) { // the [T, nk] intermediates go as soon as the mask is made
            NDArray keys = tmp.create(kp, new Shape(1, nk));
            NDArray queries = tmp.arange(p0, p0 + t, 1, DataType.INT32).reshape(t, 1);
            NDArray allowed = keys.lte(queries);
            if (window > 0) allowed = allowed.logicalAnd(queries.sub(keys).lt(window));
            Shape shape = new Shape(t, nk);
            mask = NDArrays.where(allowed, tmp.zeros(shape, DataType.FLOAT32), tmp.full(shape, Float.NEGATIVE_INFINITY, DataType.FLOAT32));
            mask.attach(scope);
        }
        // callers use a mask before asking for the next one, so older masks may be freed here (stream-ordered on a GPU)
        while (!built.isEmpty() && keptBytes + 4L * t * nk > KEEP_BYTES) {
            Entry oldest = built.remove(0);
            keptBytes -= 4L * oldest.mask.size();
            oldest.mask.close();
        }
        built.add(new Entry(window, kp, mask));
        keptBytes += 4L * t * nk;
        return mask;
    }
}
