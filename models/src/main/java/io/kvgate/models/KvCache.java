package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;

import java.util.function.IntPredicate;

/**
 * The per-sequence key/value cache. Each (layer, KV head) holds its own compacted, variable-length set of
 * entries: keys (RoPE already applied) and values of shape [n, headDim], plus each entry's original token
 * position. {@link #retain} really frees the evicted entries' memory (the layer is re-allocated at the kept
 * size), unlike masking.
 *
 * <p>Storage: each layer is one {@link LayerKv}, a single K and V array for all its heads whatever was evicted,
 * so the forward pass runs one batched attention chain per layer: [numKvHeads, capacity, headDim] while the heads
 * hold the same positions, a flat per-layer array with one segment per head plus a token-major tail once they
 * differ (see {@link LayerKv}). Appends write in place into spare capacity (doubling on overflow), so decoding
 * costs no copy of the cache per token. {@link #retain} calls are applied together when the layer is next read or at
 * {@link #flush}: with the fused module one {@code gather_rows} call for every re-laid-out layer ({@link RowGatherBatch}),
 * else one gather per K/V of a layer.
 *
 * <p>Owns native memory: close it.
 */
public final class KvCache implements AutoCloseable {
    private final NDManager manager;
    private final int numLayers, numKvHeads, headDim;
    private final DataType dtype;
    private final LayerKv[] layers;
    private int nextPosition;
    private final FusedAttention fused; // null: each re-laid-out layer gathers its own rows
    private NDArray diagonal;           // the layers' head diagonal, made once when a layer first needs it
    private DeviceInts chunkInts; // the int data prepareChunk staged for the current chunk (CPU arrays may alias it)

    KvCache(NDManager parent, int numLayers, int numKvHeads, int headDim, DataType dtype) {
        this(parent, numLayers, numKvHeads, headDim, dtype, null);
    }

    /** {@code fused}: the model's fused module, which gathers every layer of a re-layout in one call (null: none). */
    KvCache(NDManager parent, int numLayers, int numKvHeads, int headDim, DataType dtype, FusedAttention fused) {
        this.fused = fused;
        this.manager = parent.newSubManager();
        this.numLayers = numLayers;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.dtype = dtype;
        this.layers = new LayerKv[numLayers];
        for (int l = 0; l < numLayers; l++) layers[l] = new LayerKv(manager, numKvHeads, headDim, dtype, this::headDiagonal);
    }

    public int numLayers() { return numLayers; }

    /** The head diagonal every layer's appends use (LayerKv#headDiagonal), made once for all layers: four ops, not four a layer. */
    private NDArray headDiagonal() {
        if (diagonal == null) diagonal = LayerKv.headDiagonal(manager, numKvHeads, dtype);
        return diagonal;
    }
    public int numKvHeads() { return numKvHeads; }
    public int headDim() { return headDim; }
    public DataType dtype() { return dtype; }

    /** Entries held by one head. */
    public int length(int layer, int head) {
        return layer(layer, head).length(head);
    }

    /** Original token positions of the head's entries, in storage order (ascending). A copy. */
    public int[] positions(int layer, int head) {
        return layer(layer, head).positions(head);
    }

    /** Position the next appended token gets: the number of tokens ever fed, evicted or not. */
    public int nextPosition() { return nextPosition; }

    /** Keys [n, headDim] of one head, in storage order; owned by the cache, valid until the cache changes. */
    public NDArray keys(int layer, int head) {
        return layer(layer, head).headEntries(head, true);
    }

    /** Values [n, headDim] of one head, in storage order; owned by the cache, valid until the cache changes. */
    public NDArray values(int layer, int head) {
        return layer(layer, head).headEntries(head, false);
    }

    /** Keep only the entries at these storage indices (ascending, distinct) and free the rest. */
    public void retain(int layer, int head, int[] keepIndices) {
        layer(layer, head).retain(layer, head, keepIndices);
    }

    /** A new cache holding copies of only the entries whose position satisfies the filter (KVzip's restricted key set). */
    public KvCache subset(IntPredicate keepPosition) {
        KvCache out = new KvCache(manager.getParentManager(), numLayers, numKvHeads, headDim, dtype, fused);
        out.nextPosition = nextPosition;
        for (int l = 0; l < numLayers; l++) layers[l].copyInto(out.layers[l], keepPosition);
        return out;
    }

    /**
     * Bytes of key and value storage held right now (allocated capacity, not a computed estimate), plus, for layers
     * whose heads hold different entries, their ownership mask (numKvHeads values per stored row, ~3 % of K/V).
     */
    public long bytes() {
        flush();
        long total = 0;
        for (LayerKv layer : layers) total += layer.bytes();
        return total;
    }

    /**
     * Applies every layer's pending retains now (otherwise each layer's are applied when it is next read), with the
     * index data of all layers crossing to the device in one copy: an eviction's re-layout waits for the GPU once.
     */
    public void flush() {
        flush(0);
    }

    /**
     * {@link #flush}, giving every re-laid-out segment {@code room} spare rows for the tokens appended next (the next
     * prefill chunk): their append then writes in place instead of re-laying the layer out a second time.
     */
    public void flush(int room) {
        if (room < 0) throw new IllegalArgumentException("room must be >= 0, found " + room);
        runStaged((l, ints) -> layers[l].planFlush(ints, room));
    }

    /**
     * Before a chunk of {@code t} tokens at position {@code p0} goes through the layers: makes room for it in every
     * layer (pending retains and growth, one upload for all layers), then stages where every ragged layer writes it and,
     * for the layers {@code segmentLayer} names, the segment view its attention reads (starts and used rows). Without this each
     * layer copied its own index arrays from the host during the chunk, and each such copy waited for the GPU.
     */
    void prepareChunk(int t, int p0, java.util.function.IntPredicate segmentLayer) {
        reserve(t);
        endChunk();
        chunkInts = new DeviceInts(); // the layers hold views of it until the chunk has passed (endChunk)
        if (!stage(chunkInts, (l, ints) -> layers[l].planChunk(t, p0, segmentLayer.test(l), ints))) {
            chunkInts.close();
            chunkInts = null;
        }
    }

    /** After the chunk prepared by {@link #prepareChunk} has passed: frees its staged int data (and any a layer left). */
    void endChunk() {
        if (chunkInts == null) return;
        for (LayerKv layer : layers) layer.dropStaged();
        chunkInts.close();
        chunkInts = null;
    }

    /**
     * Room for {@code tokens} more tokens in every layer (pending retains applied with that room, ragged segments
     * grown), every layer's re-layout staged in one upload: a decode step's growth after an eviction otherwise
     * re-laid each layer out on its own, one host copy (and GPU wait) a layer.
     */
    void reserve(int tokens) {
        runStaged((l, ints) -> layers[l].planReserve(ints, tokens));
    }

    /** Plans every layer against one staging buffer, uploads it once (if any layer planned work) and runs the plans. */
    private void runStaged(LayerPlan plan) {
        try (DeviceInts ints = new DeviceInts()) {
            stage(ints, plan);
        }
    }

    /** {@link #runStaged} into {@code ints}, left open; false when no layer planned anything (nothing uploaded). */
    private boolean stage(DeviceInts ints, LayerPlan plan) {
        Runnable[] planned = new Runnable[numLayers];
        boolean any = false;
        for (int l = 0; l < numLayers; l++) any |= (planned[l] = plan.plan(l, ints)) != null;
        if (!any) return false;
        ints.upload(manager);
        if (fused != null) ints.gathers().run(fused, ints.all(), headDim, manager);
        for (Runnable r : planned) if (r != null) r.run();
        return true;
    }

    /** A layer's host half of a staged step: stages its int data, returns its device half (null: nothing to do). */
    private interface LayerPlan {
        Runnable plan(int layer, DeviceInts ints);
    }

    /** Total entries over all layers and heads. */
    public long totalEntries() {
        long n = 0;
        for (LayerKv layer : layers) n += layer.entries();
        return n;
    }

    // ---- used by the forward pass -------------------------------------------------------------------

    /** One layer's storage, with pending retains applied. */
    LayerKv layer(int layer) {
        LayerKv kv = layers[layer];
        kv.flush();
        return kv;
    }

    private LayerKv layer(int layer, int head) {
        if (head < 0 || head >= numKvHeads) throw new IndexOutOfBoundsException("KV head " + head);
        return layers[layer];
    }

    /** Marks {@code count} more tokens as fed (after every layer appended them). */
    void advance(int count) {
        nextPosition += count;
    }

    /**
     * Sliding-window layers: frees entries no future query can see (position <= nextPosition - window),
     * once they are at least a quarter of a head's entries, so trimming stays amortised.
     */
    void dropInvisible(int layer, int window) {
        layers[layer].dropInvisible(layer, nextPosition - window + 1);
    }

    @Override
    public void close() {
        endChunk();
        manager.close();
    }
}
