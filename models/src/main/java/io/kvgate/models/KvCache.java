package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;
import java.util.function.IntPredicate;

/**
 * The per-sequence key/value cache. Each (layer, KV head) holds its own compacted, variable-length set of
 * entries: keys (RoPE already applied) and values of shape [n, headDim], plus each entry's original token
 * position. {@link #retain} really frees the evicted entries' memory (the buffers are re-allocated at the
 * kept size), unlike masking.
 *
 * <p>Storage: while all heads of a layer hold the same positions (no eviction yet) they share one
 * {@link Block} of [numKvHeads, capacity, headDim], so attention runs over all heads in one batched
 * matmul; the first {@link #retain} on a layer splits it into one block per head. Appends write in place
 * into spare capacity (doubling on overflow), so decoding costs no copy of the cache per token.
 *
 * <p>Owns native memory: close it.
 */
public final class KvCache implements AutoCloseable {
    /** Heads [h0, h0 + nh) of one layer that share one list of positions. */
    static final class Block {
        final int h0, nh;
        NDArray k, v;      // [nh, capacity, headDim]
        int len;           // filled entries
        int[] pos;         // positions of the filled entries (length >= len), ascending
        NDArray[] headKeys, headValues; // cached per-head views for keys()/values(); null when stale

        Block(int h0, int nh) {
            this.h0 = h0;
            this.nh = nh;
        }

        int capacity() {
            return k == null ? 0 : (int) k.getShape().get(1);
        }
    }

    private final NDManager manager;
    private final int numLayers, numKvHeads, headDim;
    private final DataType dtype;
    private final Block[][] layers;
    private final boolean[] regroupPending; // a split layer whose heads may again hold identical positions
    private int nextPosition;

    KvCache(NDManager parent, int numLayers, int numKvHeads, int headDim, DataType dtype) {
        this.manager = parent.newSubManager();
        this.numLayers = numLayers;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.dtype = dtype;
        this.layers = new Block[numLayers][];
        this.regroupPending = new boolean[numLayers];
        for (int l = 0; l < numLayers; l++) layers[l] = new Block[] {new Block(0, numKvHeads)};
    }

    public int numLayers() { return numLayers; }
    public int numKvHeads() { return numKvHeads; }
    public int headDim() { return headDim; }
    public DataType dtype() { return dtype; }

    /** Entries held by one head. */
    public int length(int layer, int head) {
        return block(layer, head).len;
    }

    /** Original token positions of the head's entries, in storage order (ascending). A copy. */
    public int[] positions(int layer, int head) {
        Block b = block(layer, head);
        return b.pos == null ? new int[0] : Arrays.copyOf(b.pos, b.len);
    }

    /** Position the next appended token gets: the number of tokens ever fed, evicted or not. */
    public int nextPosition() { return nextPosition; }

    /** Keys [n, headDim] of one head, a view valid until the cache changes. */
    public NDArray keys(int layer, int head) {
        Block b = block(layer, head);
        if (b.headKeys == null) headViews(b);
        return b.headKeys[head - b.h0];
    }

    /** Values [n, headDim] of one head, a view valid until the cache changes. */
    public NDArray values(int layer, int head) {
        Block b = block(layer, head);
        if (b.headValues == null) headViews(b);
        return b.headValues[head - b.h0];
    }

    private void headViews(Block b) {
        b.headKeys = new NDArray[b.nh];
        b.headValues = new NDArray[b.nh];
        for (int i = 0; i < b.nh; i++) {
            if (b.k == null) {
                b.headKeys[i] = manager.zeros(new Shape(0, headDim), dtype);
                b.headValues[i] = manager.zeros(new Shape(0, headDim), dtype);
            } else {
                b.headKeys[i] = b.k.get(new NDIndex("{}, 0:{}", i, b.len));
                b.headValues[i] = b.v.get(new NDIndex("{}, 0:{}", i, b.len));
            }
        }
    }

    /** Keep only the entries at these storage indices (ascending, distinct) and free the rest. */
    public void retain(int layer, int head, int[] keepIndices) {
        Block b = block(layer, head);
        for (int i = 0; i < keepIndices.length; i++) {
            if (keepIndices[i] < 0 || keepIndices[i] >= b.len || (i > 0 && keepIndices[i] <= keepIndices[i - 1]))
                throw new IllegalArgumentException("retain(" + layer + ", " + head + "): indices must be ascending, distinct and in [0, "
                        + b.len + "), found " + keepIndices[i] + " at " + i);
        }
        if (keepIndices.length == b.len) return;
        if (b.nh > 1) b = splitLayer(layer)[head];
        compact(b, keepIndices);
        regroupPending[layer] = true;
    }

    /**
     * After evictions that kept the same positions in every head of a layer (streaming, sinks + window, uniform
     * position filters), puts the heads back into one shared block so attention is batched again. Checked once
     * per retain burst, when the forward pass next reads the layer.
     */
    private void regroupIfUniform(int layer) {
        regroupPending[layer] = false;
        Block[] bs = layers[layer];
        if (bs.length == 1) return;
        int len = bs[0].len;
        for (Block b : bs)
            if (b.k == null || b.len != len || !Arrays.equals(b.pos, 0, len, bs[0].pos, 0, len)) return;
        Block shared = new Block(0, numKvHeads);
        shared.len = len;
        shared.pos = Arrays.copyOf(bs[0].pos, len);
        NDIndex filled = new NDIndex(":, 0:{}", len);
        ai.djl.ndarray.NDList ks = new ai.djl.ndarray.NDList(), vs = new ai.djl.ndarray.NDList();
        for (Block b : bs) {
            ks.add(b.k.get(filled));
            vs.add(b.v.get(filled));
        }
        shared.k = ai.djl.ndarray.NDArrays.concat(ks, 0);
        shared.v = ai.djl.ndarray.NDArrays.concat(vs, 0);
        shared.k.attach(manager);
        shared.v.attach(manager);
        ks.close();
        vs.close();
        for (Block b : bs) free(b);
        layers[layer] = new Block[] {shared};
    }

    /** Splits a shared block into one exact-size block per head (heads may then diverge). */
    private Block[] splitLayer(int layer) {
        Block shared = layers[layer][0];
        Block[] split = new Block[numKvHeads];
        for (int h = 0; h < numKvHeads; h++) {
            Block b = new Block(h, 1);
            b.len = shared.len;
            b.pos = Arrays.copyOf(shared.pos, shared.len);
            b.k = copyInto(shared.k.get(new NDIndex("{}:{}, 0:{}", h, h + 1, shared.len)));
            b.v = copyInto(shared.v.get(new NDIndex("{}:{}, 0:{}", h, h + 1, shared.len)));
            split[h] = b;
        }
        free(shared);
        layers[layer] = split;
        return split;
    }

    /** Re-allocates a block holding only the given entries (real memory release). */
    private void compact(Block b, int[] keep) {
        int[] newPos = new int[keep.length];
        for (int i = 0; i < keep.length; i++) newPos[i] = b.pos[keep[i]];
        NDArray k, v;
        if (keep.length == 0) {
            k = manager.zeros(new Shape(b.nh, 0, headDim), dtype);
            v = manager.zeros(new Shape(b.nh, 0, headDim), dtype);
        } else {
            try (NDArray idx = manager.create(Arrays.stream(keep).asLongStream().toArray())) {
                k = copyInto(b.k.get(new NDIndex(":, {}", idx)));
                v = copyInto(b.v.get(new NDIndex(":, {}", idx)));
            }
        }
        free(b);
        b.k = k;
        b.v = v;
        b.len = keep.length;
        b.pos = newPos;
    }

    /** A contiguous copy owned by this cache (the source, a view or temporary, is closed). */
    private NDArray copyInto(NDArray src) {
        NDArray c = src.duplicate();
        c.attach(manager);
        src.close();
        return c;
    }

    private void free(Block b) {
        if (b.k != null) b.k.close();
        if (b.v != null) b.v.close();
        b.k = b.v = null;
        staleViews(b);
    }

    private void staleViews(Block b) {
        if (b.headKeys != null) for (NDArray a : b.headKeys) a.close();
        if (b.headValues != null) for (NDArray a : b.headValues) a.close();
        b.headKeys = b.headValues = null;
    }

    /** A new cache holding copies of only the entries whose position satisfies the filter (KVzip's restricted key set). */
    public KvCache subset(IntPredicate keepPosition) {
        KvCache out = new KvCache(manager.getParentManager(), numLayers, numKvHeads, headDim, dtype);
        out.nextPosition = nextPosition;
        for (int l = 0; l < numLayers; l++) {
            Block[] src = layers[l];
            Block[] dst = new Block[src.length];
            for (int i = 0; i < src.length; i++) {
                Block s = src[i];
                Block d = new Block(s.h0, s.nh);
                dst[i] = d;
                if (s.k == null) continue;
                int[] keep = java.util.stream.IntStream.range(0, s.len).filter(j -> keepPosition.test(s.pos[j])).toArray();
                d.len = keep.length;
                d.pos = new int[keep.length];
                for (int j = 0; j < keep.length; j++) d.pos[j] = s.pos[keep[j]];
                if (keep.length == 0) {
                    d.k = out.manager.zeros(new Shape(s.nh, 0, headDim), dtype);
                    d.v = out.manager.zeros(new Shape(s.nh, 0, headDim), dtype);
                } else {
                    try (NDArray idx = out.manager.create(Arrays.stream(keep).asLongStream().toArray())) {
                        d.k = out.copyInto(s.k.get(new NDIndex(":, {}", idx)));
                        d.v = out.copyInto(s.v.get(new NDIndex(":, {}", idx)));
                    }
                }
            }
            out.layers[l] = dst;
        }
        return out;
    }

    /** Bytes of key and value storage held right now (allocated capacity, not a computed estimate). */
    public long bytes() {
        long total = 0;
        for (Block[] layer : layers)
            for (Block b : layer)
                if (b.k != null) total += b.k.getShape().size() * b.k.getDataType().getNumOfBytes()
                        + b.v.getShape().size() * b.v.getDataType().getNumOfBytes();
        return total;
    }

    /** Total entries over all layers and heads. */
    public long totalEntries() {
        long n = 0;
        for (Block[] layer : layers) for (Block b : layer) n += (long) b.len * b.nh;
        return n;
    }

    // ---- used by the forward pass -------------------------------------------------------------------

    Block[] blocks(int layer) {
        if (regroupPending[layer]) regroupIfUniform(layer);
        return layers[layer];
    }

    private Block block(int layer, int head) {
        Block[] bs = layers[layer];
        if (head < 0 || head >= numKvHeads) throw new IndexOutOfBoundsException("KV head " + head);
        return bs.length == 1 ? bs[0] : bs[head];
    }

    /** Appends the new tokens' keys/values [numKvHeads, T, headDim] at positions p0.. to every head of a layer, in place. */
    void append(int layer, NDArray newK, NDArray newV, int p0) {
        int t = (int) newK.getShape().get(1);
        for (Block b : layers[layer]) {
            ensureCapacity(b, b.len + t);
            NDIndex dst = new NDIndex(":, {}:{}", b.len, b.len + t);
            if (b.nh == numKvHeads) {
                b.k.set(dst, newK);
                b.v.set(dst, newV);
            } else {
                try (NDArray k = newK.get(new NDIndex("{}:{}", b.h0, b.h0 + b.nh)); NDArray v = newV.get(new NDIndex("{}:{}", b.h0, b.h0 + b.nh))) {
                    b.k.set(dst, k);
                    b.v.set(dst, v);
                }
            }
            for (int i = 0; i < t; i++) b.pos[b.len + i] = p0 + i;
            b.len += t;
            staleViews(b);
        }
    }

    private void ensureCapacity(Block b, int needed) {
        int cap = b.capacity();
        if (needed <= cap) return;
        int newCap = Math.max(needed, Math.max(16, cap * 2));
        NDArray k = manager.zeros(new Shape(b.nh, newCap, headDim), dtype);
        NDArray v = manager.zeros(new Shape(b.nh, newCap, headDim), dtype);
        int[] pos = new int[newCap];
        if (b.len > 0) {
            NDIndex filled = new NDIndex(":, 0:{}", b.len);
            try (NDArray ok = b.k.get(filled); NDArray ov = b.v.get(filled)) {
                k.set(filled, ok);
                v.set(filled, ov);
            }
            System.arraycopy(b.pos, 0, pos, 0, b.len);
        }
        free(b);
        b.k = k;
        b.v = v;
        b.pos = pos;
    }

    /** Marks {@code count} more tokens as fed (after every layer appended them). */
    void advance(int count) {
        nextPosition += count;
    }

    /**
     * Sliding-window layers: frees entries no future query can see (position <= nextPosition - window),
     * once they are at least a quarter of the block, so trimming stays amortised.
     */
    void dropInvisible(int layer, int window) {
        int minVisible = nextPosition - window + 1;
        for (Block b : layers[layer]) {
            int dead = 0;
            while (dead < b.len && b.pos[dead] < minVisible) dead++;
            if (dead == 0 || dead * 4 < b.len) continue;
            compact(b, java.util.stream.IntStream.range(dead, b.len).toArray());
        }
    }

    /** Key-block views [nh, len, headDim] for attention, attached to {@code scope}. */
    static NDArray[] kvViews(Block b, NDManager scope) {
        NDIndex filled = new NDIndex(":, 0:{}", b.len);
        NDArray k = b.k.get(filled), v = b.v.get(filled);
        k.attach(scope);
        v.attach(scope);
        return new NDArray[] {k, v};
    }

    @Override
    public void close() {
        manager.close();
    }
}
