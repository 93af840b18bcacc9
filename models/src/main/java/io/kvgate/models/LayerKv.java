package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;

import java.util.Arrays;

/**
 * One layer's keys (RoPE applied) and values for all its KV heads, held in ONE storage whatever was evicted, so
 * that the forward pass runs one batched attention chain per layer (a chain per head cost 3× the JNI calls of a
 * decode step on a GPU, BENCHMARKS.md). Two layouts:
 * <ul>
 *   <li><b>shared</b> (every head holds the same positions: no eviction yet, or uniform evictions such as
 *   sinks + window): k/v [numKvHeads, capacity, headDim], head h's i-th entry at [h, i];</li>
 *   <li><b>ragged</b> (heads keep different entries): k/v [rows, 1, headDim], one segment of rows per head, head
 *   after head: the entries it kept at the last re-layout, the tokens appended since (every head gets every token),
 *   then spare rows; every segment has room for the same number of appended tokens ({@code tailCap}). So each
 *   head's entries are one contiguous run in position order: a decode step writes one row per head at its own
 *   index, and a varlen FlashAttention reads every segment as one sequence (segment starts as cu_seqlens, filled
 *   lengths as seqused, {@link #decodeSlot}). Attention through plain ops reads the whole storage once, with
 *   {@link #ownership} (0 on a head's own filled rows, -inf elsewhere) keeping each head to its entries; the
 *   storage's transposed/flat views are made once per re-layout, so a decode step issues no more libtorch ops than
 *   on the shared layout. No padding: memory is the entries kept plus the spare rows.</li>
 * </ul>
 * {@link #retain} is lazy: the host-side positions change at once, the storage on the next {@link #flush}, which
 * gathers every head's kept rows in one op per K/V and re-allocates at the kept size (memory really freed). A flush
 * whose heads kept identical positions returns the layer to the shared layout. Appends write in place into spare
 * capacity (doubling for the shared layout, +1/8 per ragged segment), never copying the cache per token.
 */
final class LayerKv {
    private final NDManager manager;
    private final int numKvHeads, headDim;
    private final DataType dtype;

    private NDArray k, v;           // shared: [H, capacity, D]; ragged: [rowCapacity, 1, D]; null before the first append
    private boolean ragged;
    // shared layout
    private int len;                // filled entries per head
    private int[] pos = new int[0]; // their positions (length = capacity)
    // ragged layout
    private int[] segmentStart;     // [H + 1]: head h's segment is rows [segmentStart[h], segmentStart[h + 1])
    private int[][] segmentPos;     // positions each head kept at the last re-layout, ascending: its segment's first rows
    private int tailLen;            // tokens appended since the last re-layout: every head's rows after its kept ones
    private int tailCap;            // rows of every segment for appended tokens (filled or spare)
    private int[] tailPos = new int[0];
    private int[] rowPos;           // position of every row (length = rowCapacity; spare rows 0, hidden by the mask)
    private int minPos;             // smallest position held (window masks)
    private NDArray ownership;      // [H, 1, rowCapacity] additive mask in the compute dtype
    private NDArray keysT, valueRows; // ragged views of k [D, rowCapacity] and v [rowCapacity, D]
    private NDArray segmentTable;   // int32 [2, H + 1] on the device: segment starts; rows each head kept (decode steps)
    private NDArray tailRows;       // int64 [H] on the device: each head's first row after its kept ones
    private final java.util.function.Supplier<NDArray> diagonal; // [H, 1, H]: 0 where the two heads are equal, -inf elsewhere (a new token's mask)
    // pending retain: rows (in the current storage) and positions each head keeps; null when none
    private int[][] pendingRows, pendingPos;
    private NDArray[] headKeys, headValues; // cached per-head copies for keys()/values(); null when stale
    private StagedChunk staged;     // the next append's rows (and segment view) on the device, staged by planChunk

    LayerKv(NDManager manager, int numKvHeads, int headDim, DataType dtype) {
        this(manager, numKvHeads, headDim, dtype, new java.util.function.Supplier<>() {
            private NDArray made;

            @Override
            public NDArray get() {
                if (made == null) made = headDiagonal(manager, numKvHeads, dtype);
                return made;
            }
        });
    }

    /** {@code diagonal}: the head diagonal ({@link #headDiagonal}) this layer shares with the other layers of its cache. */
    LayerKv(NDManager manager, int numKvHeads, int headDim, DataType dtype, java.util.function.Supplier<NDArray> diagonal) {
        this.manager = manager;
        this.numKvHeads = numKvHeads;
        this.headDim = headDim;
        this.dtype = dtype;
        this.diagonal = diagonal;
    }

    // ---- host-side view -----------------------------------------------------------------------------

    int length(int head) {
        if (pendingPos != null) return pendingPos[head].length;
        return ragged ? segmentPos[head].length + tailLen : len;
    }

    /** The head's positions, ascending (storage order). A copy. */
    int[] positions(int head) {
        if (pendingPos != null) return pendingPos[head].clone();
        if (!ragged) return Arrays.copyOf(pos, len);
        int[] seg = segmentPos[head];
        int[] out = Arrays.copyOf(seg, seg.length + tailLen);
        System.arraycopy(tailPos, 0, out, seg.length, tailLen);
        return out;
    }

    long entries() {
        long n = 0;
        for (int h = 0; h < numKvHeads; h++) n += length(h);
        return n;
    }

    boolean isRagged() {
        flush();
        return ragged;
    }

    /** Row of the head's i-th entry in the flat view of the current storage. */
    private int row(int head, int i) {
        return ragged ? segmentStart[head] + i : head * capacity() + i;
    }

    /** Ragged layout: the head's first row after its kept entries (where its appended tokens start). */
    private int firstTailRow(int head) {
        return segmentStart[head] + segmentPos[head].length;
    }

    private int[] rows(int head) {
        int n = ragged ? segmentPos[head].length + tailLen : len;
        int[] r = new int[n];
        for (int i = 0; i < n; i++) r[i] = row(head, i);
        return r;
    }

    private int capacity() {
        return k == null ? 0 : (int) k.getShape().get(ragged ? 0 : 1);
    }

    // ---- eviction -------------------------------------------------------------------------------------

    /** Keeps only the head's entries at these storage indices (ascending, distinct); applied at the next flush. */
    void retain(int layer, int head, int[] keep) {
        int n = length(head);
        for (int i = 0; i < keep.length; i++) {
            if (keep[i] < 0 || keep[i] >= n || (i > 0 && keep[i] <= keep[i - 1]))
                throw new IllegalArgumentException("retain(" + layer + ", " + head + "): indices must be ascending, distinct and in [0, "
                        + n + "), found " + keep[i] + " at " + i);
        }
        if (keep.length == n) return;
        if (pendingRows == null) {
            int[][] r = new int[numKvHeads][], p = new int[numKvHeads][];
            for (int h = 0; h < numKvHeads; h++) {
                r[h] = rows(h);
                p[h] = positions(h);
            }
            pendingRows = r;
            pendingPos = p;
        }
        pendingRows[head] = pick(pendingRows[head], keep);
        pendingPos[head] = pick(pendingPos[head], keep);
    }

    private static int[] pick(int[] from, int[] idx) {
        int[] out = new int[idx.length];
        for (int i = 0; i < idx.length; i++) out[i] = from[idx[i]];
        return out;
    }

    /** Applies pending retains: one gather per K/V into storage of the kept size. */
    void flush() {
        if (pendingRows != null) runStaged(ints -> planFlush(ints, 0));
    }

    /** Plans a re-layout against fresh staging, uploads its int data (one copy) and runs its device half. */
    private void runStaged(java.util.function.Function<DeviceInts, Runnable> plan) {
        try (DeviceInts ints = new DeviceInts()) {
            Runnable relayout = plan.apply(ints);
            ints.upload(manager);
            relayout.run();
        }
    }

    /**
     * The pending retains as a re-layout in two halves, so that many layers' int data crosses to the device in one
     * copy ({@link KvCache#flush}): stages the data in {@code ints} now and returns the device half, to run after
     * {@link DeviceInts#upload}. Null when nothing is pending.
     */
    Runnable planFlush(DeviceInts ints, int room) {
        if (pendingRows == null) return null;
        // room 0: exact size, an eviction frees what it removes; else spare rows for the tokens the caller appends next
        Runnable relayout = planRegather(pendingRows, pendingPos, room, ints);
        pendingRows = pendingPos = null;
        return relayout;
    }

    /**
     * Makes room for {@code tokens} appended tokens, planned like {@link #planFlush} (pending retains are applied with
     * that room, so an eviction and the growth it would cause are one gather): null when the layer has room already.
     */
    Runnable planReserve(DeviceInts ints, int tokens) {
        if (pendingRows != null) return planFlush(ints, tokens);
        if (!ragged || tailLen + tokens <= tailCap) return null;
        return planGrowth(tailLen + tokens, ints);
    }

    /**
     * Stages, for every head, the rows the next append of {@code t} tokens at {@code p0} writes to and, with
     * {@code segments}, the segment view of the layer after that append ({@link #segments}): a ragged layer's append and
     * segment attention otherwise each copy their ints from the host, and such a copy waits for all queued GPU work (four
     * waits a layer for every chunk after an eviction). Needs room for the tokens ({@link #planReserve} first).
     * Returns the device half (run after {@link DeviceInts#upload}); null for a shared layer.
     */
    Runnable planChunk(int t, int p0, boolean segments, DeviceInts ints) {
        flush();
        if (!ragged) return null;
        if (tailLen + t > tailCap) throw new IllegalStateException("planChunk without room: reserve " + t + " tokens first");
        int dstAt = ints.add(appendRows(t));
        SegmentLayout layout = segments ? segmentLayout(t) : null; // as after the append: the chunk is every head's last t rows
        int startsAt = segments ? ints.add(layout.starts()) : -1, usedAt = segments ? ints.add(layout.used()) : -1;
        return () -> {
            dropStaged();
            staged = new StagedChunk(t, p0, ints.slice(dstAt, numKvHeads * t, manager),
                    segments ? ints.slice(startsAt, numKvHeads + 1, manager) : null,
                    segments ? ints.slice(usedAt, numKvHeads, manager) : null, segments ? layout.longest() : 0);
        };
    }

    /** Rows an append of {@code t} tokens writes, head-major as the new keys/values: head h's t rows after its filled ones. */
    private int[] appendRows(int t) {
        int[] dst = new int[numKvHeads * t];
        for (int h = 0; h < numKvHeads; h++)
            for (int i = 0; i < t; i++) dst[h * t + i] = firstAppendRow(h) + i;
        return dst;
    }

    /** Ragged layout: the row head h's next appended token goes to (after its kept and appended entries). */
    private int firstAppendRow(int head) {
        return firstTailRow(head) + tailLen;
    }

    /** What {@link #planChunk} staged: the append's rows; the segment view's starts and used rows (null: not staged). */
    private record StagedChunk(int t, int p0, NDArray dst, NDArray segmentStarts, NDArray segmentUsed, int longest) {}

    void dropStaged() {
        if (staged == null) return;
        for (NDArray a : new NDArray[] {staged.dst(), staged.segmentStarts(), staged.segmentUsed()}) if (a != null) a.close();
        staged = null;
    }

    /**
     * A re-layout of this layer's own storage in two halves: stages in {@code ints} the gather of head h's
     * {@code rows[h]} (positions {@code positions[h]}) with {@code room} spare rows a ragged segment for appended
     * tokens, and returns the device half (run it after {@link DeviceInts#upload}), which frees the old storage.
     */
    private Runnable planRegather(int[][] rows, int[][] positions, int room, DeviceInts ints) {
        Gather g = planGather(rows, positions, ints, room);
        return () -> {
            NDArray[] old = storageArrays();
            NDArray[] batched = g.gatherSlot() < 0 ? null : ints.gathers().take(g.gatherSlot());
            if (batched != null || ragged) { // gathered already, or [rows, 1, D]: gathered as it is, with no reshape after
                assign(k, v, batched, g, ints);
            } else {
                try (NDArray flatK = rowsView(k, g); NDArray flatV = rowsView(v, g)) {
                    assign(flatK, flatV, null, g, ints);
                }
            }
            for (NDArray a : old) if (a != null) a.close();
        };
    }

    /** Sliding-window layers: drops entries no future query can see once they are a quarter of some head's. */
    void dropInvisible(int layer, int minVisible) {
        flush();
        int[] dead = new int[numKvHeads];
        boolean worth = false;
        for (int h = 0; h < numKvHeads; h++) {
            dead[h] = countBelow(h, minVisible);
            worth |= dead[h] > 0 && dead[h] * 4 >= length(h);
        }
        if (!worth) return;
        for (int h = 0; h < numKvHeads; h++) retain(layer, h, java.util.stream.IntStream.range(dead[h], length(h)).toArray());
        flush();
    }

    /** How many of the head's entries have a position below {@code limit} (they come first: positions ascend). */
    private int countBelow(int head, int limit) {
        int[] p = ragged ? segmentPos[head] : pos;
        int n = ragged ? p.length : len, c = 0;
        while (c < n && p[c] < limit) c++;
        if (ragged && c == n) for (int i = 0; i < tailLen && tailPos[i] < limit; i++) c++;
        return c;
    }

    /** A [rows, D] view of a storage array (shared storage viewed as [H * capacity, D]). */
    private NDArray rowsView(NDArray a) {
        return a.reshape(-1, headDim);
    }

    /** A storage array viewed as rows in the row shape of {@code g}'s result ([rows, 1, D] when ragged: no reshape after the gather). */
    private NDArray rowsView(NDArray a, Gather g) {
        return g.start() != null ? a.reshape(-1, 1, headDim) : rowsView(a);
    }

    /**
     * A re-layout's host half: head h will hold {@code srcRows[h]} of a source of rows (positions {@code srcPos[h]}, arrays
     * the layer takes over: callers pass fresh ones);
     * shared layout when all heads hold the same positions, ragged otherwise, each segment with {@code room} spare rows
     * (they copy row 0: finite values, which the ownership mask hides from plain-op attention, where a masked -inf
     * score plus a NaN would not be hidden). The gather index and the ragged views' int data are staged in {@code ints}.
     */
    private Gather planGather(int[][] srcRows, int[][] srcPos, DeviceInts ints, int room) {
        boolean same = true;
        for (int h = 1; h < numKvHeads && same; h++) same = Arrays.equals(srcPos[h], srcPos[0]);
        if (same) room = 0; // the shared layout grows by doubling instead
        int[] start = new int[numKvHeads + 1];
        for (int h = 0; h < numKvHeads; h++) start[h + 1] = start[h] + srcRows[h].length + room;
        int rows = start[numKvHeads];
        int[] idx = new int[rows]; // spare rows: index 0
        for (int h = 0; h < numKvHeads; h++) System.arraycopy(srcRows[h], 0, idx, start[h], srcRows[h].length);
        int indexAt = rows == 0 ? -1 : ints.add(idx);
        // the gather itself joins the staging's batch (one module call for every layer; the layer's own ops without one)
        int gatherSlot = rows == 0 || k == null || k.size() == 0 ? -1 : ints.gathers().add(k, v, indexAt, rows);
        if (same) return new Gather(rows, indexAt, gatherSlot, srcPos, null, -1, 0);
        return new Gather(rows, indexAt, gatherSlot, srcPos, start, stageRaggedViews(ints, rows, start, srcPos), room);
    }

    /**
     * A planned re-layout: rows to gather (at {@code indexAt} in the staged ints; {@code gatherSlot} in the staging's
     * {@link RowGatherBatch}, -1 for none), each head's positions; ragged: segment starts, the slot of its views in the
     * staging's {@link RaggedViewBatch} and the spare rows each segment gets for appended tokens.
     */
    private record Gather(int rows, int indexAt, int gatherSlot, int[][] positions, int[] start, int viewSlot, int room) {}

    /**
     * Makes this layer hold a planned gather of a source of rows ([rows, D], or ragged [rows, 1, D]): one op per K/V,
     * exact-size storage; or its rows gathered already ({@code batched}, [rows, 1, D], taken over). The source is not closed.
     */
    private void assign(NDArray srcK, NDArray srcV, NDArray[] batched, Gather g, DeviceInts ints) {
        staleViews();
        dropStaged(); // planned against the old layout
        int total = g.rows();
        int[][] srcPos = g.positions();
        NDArray gk, gv;
        if (batched != null) { // gathered with every other layer of the staging, [rows, 1, D]
            gk = batched[0];
            gv = batched[1];
        } else if (total == 0 || srcK.getShape().get(0) == 0) { // nothing to gather: zeroed rows (spare ones of an empty layer)
            gk = manager.zeros(new Shape(total, headDim), dtype);
            gv = manager.zeros(new Shape(total, headDim), dtype);
        } else {
            try (NDManager scope = manager.newSubManager()) {
                NDArray index = ints.slice(g.indexAt(), total, scope);
                gk = srcK.get(new NDIndex("{}", index));
                gv = srcV.get(new NDIndex("{}", index));
                gk.attach(manager);
                gv.attach(manager);
            }
        }
        ragged = g.start() != null;
        ownership = keysT = valueRows = segmentTable = tailRows = null;
        if (!ragged) {
            len = srcPos[0].length;
            pos = srcPos[0]; // a planned gather's positions are fresh arrays: taken over, not copied
            k = reshapeOwned(gk, new Shape(numKvHeads, len, headDim));
            v = reshapeOwned(gv, new Shape(numKvHeads, len, headDim));
            segmentStart = null;
            segmentPos = null;
            rowPos = null;
        } else {
            k = reshapeOwned(gk, new Shape(total, 1, headDim));
            v = reshapeOwned(gv, new Shape(total, 1, headDim));
            segmentStart = g.start();
            segmentPos = new int[numKvHeads][];
            rowPos = new int[total];
            minPos = Integer.MAX_VALUE;
            for (int h = 0; h < numKvHeads; h++) {
                segmentPos[h] = srcPos[h];
                System.arraycopy(srcPos[h], 0, rowPos, segmentStart[h], srcPos[h].length);
                if (srcPos[h].length > 0) minPos = Math.min(minPos, srcPos[h][0]);
            }
            tailLen = 0;
            tailCap = g.room();
            tailPos = new int[tailCap];
            raggedViews(ints, g.viewSlot());
        }
    }

    private NDArray reshapeOwned(NDArray a, Shape shape) {
        if (a.getShape().equals(shape)) return a; // attached to the manager already
        NDArray r = a.reshape(shape);
        r.attach(manager);
        a.close();
        return r;
    }

    /**
     * Stages the int data of the ragged views for a storage of {@code rows} rows whose head h has its segment at
     * {@code start[h]} and {@code segPos[h]} kept entries: the segment table (starts; rows each head kept) and each head's
     * first tail row, where its filled rows end (the ownership mask is built from them on the device). Returns the
     * layer's slot in the staging's {@link RaggedViewBatch}, which makes the views of all layers staged with it at once.
     */
    private int stageRaggedViews(DeviceInts ints, int rows, int[] start, int[][] segPos) {
        int[] table = new int[2 * (numKvHeads + 1)];
        int[] tails = new int[numKvHeads];
        for (int h = 0; h < numKvHeads; h++) {
            tails[h] = start[h] + segPos[h].length;
            table[h] = start[h];
            table[numKvHeads + 1 + h] = segPos[h].length;
        }
        table[numKvHeads] = start[numKvHeads];
        return ints.views().add(numKvHeads, dtype, rows, table, tails);
    }

    /**
     * Ragged layout: the ownership mask [H, 1, rows] (0 where a filled row belongs to the head, -inf elsewhere: log of
     * the owner match, built on the device), the segment table and tail rows a decode step reads, for the current
     * storage: the layer's slices of the views {@link RaggedViewBatch} made for every layer of the staging.
     */
    private void raggedViews(DeviceInts ints, int slot) {
        NDArray[] views = ints.views().take(slot, manager);
        ownership = views[0];
        segmentTable = views[1];
        tailRows = views[2];
    }

    private NDArray diagonal() {
        return diagonal.get();
    }

    /**
     * [H, 1, H] in {@code dtype}: 0 where the two heads are equal, -inf elsewhere: the ownership mask's columns of a new
     * token's H rows, one per head in head order; what a decode step writes (DecodeGraph) and appends repeat.
     */
    static NDArray headDiagonal(NDManager manager, int heads, DataType dtype) {
        // made on the device (log of the identity): a host array's copy would wait for all queued GPU work, once for
        // every layer of every new cache (8 % of an 8K evicting prefill's host time on the GPU machine, session 13)
        try (NDManager scope = manager.newSubManager(); NDArray eye = scope.eye(heads)) {
            NDArray d = eye.toType(dtype, false).log().reshape(heads, 1, heads);
            d.attach(manager);
            return d;
        }
    }

    // ---- forward pass ---------------------------------------------------------------------------------

    /** Appends the new tokens' keys/values [H, T, D] at positions p0.. to every head, in place. */
    void append(NDArray newK, NDArray newV, int p0) {
        append(newK, newV, p0, false);
    }

    /**
     * {@link #append}; with {@code adoptable} (the arrays are contiguous, share no storage and are the caller's to give
     * away: the fused module's decoder_in output) a first chunk of ≥ 16 tokens becomes the storage itself, at exactly
     * its size as an allocation would be: no zeroed allocation and copy per K/V (six libtorch calls a layer, each
     * ~10-15 µs of host time in a GPU prefill).
     */
    void append(NDArray newK, NDArray newV, int p0, boolean adoptable) {
        flush();
        staleViews();
        int t = (int) newK.getShape().get(1);
        if (adoptable && k == null && t >= 16) {
            newK.attach(manager);
            newV.attach(manager);
            k = newK;
            v = newV;
            ragged = false;
            len = t;
            pos = new int[t];
            for (int i = 0; i < t; i++) pos[i] = p0 + i;
            return;
        }
        if (!ragged) {
            ensureSharedCapacity(len + t);
            NDIndex dst = new NDIndex(":, {}:{}", len, len + t);
            k.set(dst, newK);
            v.set(dst, newV);
            for (int i = 0; i < t; i++) pos[len + i] = p0 + i;
            len += t;
            return;
        }
        ensureTailCapacity(tailLen + t);
        boolean useStaged = staged != null && staged.t() == t && staged.p0() == p0;
        if (!useStaged) dropStaged();
        try (NDManager scope = manager.newSubManager()) {
            NDArray index = useStaged ? staged.dst() : scope.create(appendRows(t)); // staged: no host copy (and GPU wait) per layer
            NDIndex rows = new NDIndex("{}", index);
            NDArray kr = newK.reshape(numKvHeads * t, 1, headDim), vr = newV.reshape(numKvHeads * t, 1, headDim);
            kr.attach(scope);
            vr.attach(scope);
            k.set(rows, kr);
            v.set(rows, vr);
            ownership.set(new NDIndex(":, :, {}", index), ownerColumns(scope, t)); // the new rows become visible to their heads
        }
        recordRaggedAppend(p0, t);
        if (useStaged && staged.segmentStarts() == null) dropStaged(); // else segments() takes the rest
    }

    /** Ragged layout: the host's positions of t tokens at p0.. written after every head's filled rows (appendRows' rows). */
    private void recordRaggedAppend(int p0, int t) {
        for (int h = 0; h < numKvHeads; h++)
            for (int i = 0; i < t; i++) rowPos[firstAppendRow(h) + i] = p0 + i;
        for (int i = 0; i < t; i++) tailPos[tailLen + i] = p0 + i;
        tailLen += t;
        if (minPos == Integer.MAX_VALUE) minPos = p0;
    }

    /** Ownership-mask columns [H, 1, H * t] of t new tokens' rows in head-major order: 0 for the row's head only. */
    private NDArray ownerColumns(NDManager scope, int t) {
        if (t == 1) return diagonal();
        NDArray r = diagonal().reshape(numKvHeads, 1, numKvHeads, 1).repeat(3, t).reshape(numKvHeads, 1, (long) numKvHeads * t);
        r.attach(scope);
        return r;
    }

    private void ensureSharedCapacity(int needed) {
        int cap = capacity();
        if (needed <= cap) return;
        int newCap = grownCapacity(needed - len);
        reallocate(new Shape(numKvHeads, newCap, headDim), len > 0 ? new NDIndex(":, 0:{}", len) : null);
        pos = Arrays.copyOf(pos, newCap);
    }

    /** Replaces K/V by zeroed storage of {@code shape} that keeps the {@code filled} entries (null: none). */
    private void reallocate(Shape shape, NDIndex filled) {
        NDArray nk = manager.zeros(shape, dtype);
        NDArray nv = manager.zeros(shape, dtype);
        if (filled != null) {
            try (NDArray ok = k.get(filled); NDArray ov = v.get(filled)) {
                nk.set(filled, ok);
                nv.set(filled, ov);
            }
        }
        freeStorage();
        k = nk;
        v = nv;
    }

    /**
     * Ragged layout: room for {@code neededTokens} appended tokens in every segment. Segments grow by an eighth of the
     * layer's entries per head (at least 16 tokens): spare rows stay under ~12 % of what is kept (doubling would let
     * them reach 100 % of an evicted cache), and each growth, which copies the layer, still comes after many appends.
     */
    private void ensureTailCapacity(int neededTokens) {
        if (neededTokens > tailCap) runStaged(ints -> planGrowth(neededTokens, ints));
    }

    /** Rows a ragged segment grows by for appended tokens: an eighth of the head's entries, at least 16. */
    private static int growthRows(int entriesPerHead) {
        return Math.max(16, entriesPerHead / 8);
    }

    /**
     * Plans moving every head's filled rows (kept and appended: the tail joins the kept rows) into segments with room
     * for at least {@code neededTokens} tokens counted from the old tail's start: the same gather as an eviction's,
     * with spare rows.
     */
    private Runnable planGrowth(int neededTokens, DeviceInts ints) {
        int kept = 0;
        for (int[] p : segmentPos) kept += p.length;
        int newTailCap = Math.max(neededTokens, tailCap + growthRows(kept / numKvHeads + tailCap));
        int[][] rows = new int[numKvHeads][], positions = new int[numKvHeads][];
        for (int h = 0; h < numKvHeads; h++) {
            rows[h] = rows(h);
            positions[h] = positions(h);
        }
        return planRegather(rows, positions, newTailCap - tailLen, ints); // the tail joins the kept rows
    }

    /**
     * Where a decode step that writes in place (one captured CUDA graph, {@link DecodeGraph}) puts its token: the whole
     * storage, with room for one more token made first, and the index the token goes to. Shared layout: the column.
     * Ragged layout: the count of tokens appended since the re-layout, so head h's row is {@code tailRows[h] +
     * writeIndex} (its ownership-mask column is set to the head diagonal). The arrays stay the same objects until the
     * layer re-allocates (growth, eviction), which is how a captured step knows it is stale. Follow the step with
     * {@link #appendedInPlace}.
     */
    DecodeSlot decodeSlot() {
        flush();
        staleViews();
        if (k == null) throw new IllegalStateException("a decode step needs a prefilled layer");
        if (!ragged) {
            ensureSharedCapacity(len + 1);
            return new DecodeSlot(k, v, null, null, null, null, len, capacity());
        }
        ensureTailCapacity(tailLen + 1);
        int[] firstRows = new int[numKvHeads];
        int longest = 0;
        for (int h = 0; h < numKvHeads; h++) {
            firstRows[h] = firstTailRow(h);
            longest = Math.max(longest, segmentStart[h + 1] - segmentStart[h]);
        }
        return new DecodeSlot(k, v, ownership, segmentTable, tailRows, firstRows, tailLen, longest);
    }

    /**
     * @param ownership    ragged layout's mask [H, 1, rows], null for the shared layout
     * @param segmentTable ragged: int32 [2, H + 1], segment starts (FlashAttention's cu_seqlens_k) and the rows each
     *                     head kept (its filled length is that plus writeIndex + 1); null for the shared layout
     * @param tailRows     ragged: int64 [H], each head's first row after its kept ones; null for the shared layout
     * @param firstRows    ragged: tailRows on the host; null for the shared layout
     * @param writeIndex   shared: the column the token goes to; ragged: its offset from tailRows
     * @param capacity     shared: columns; ragged: the longest segment's rows
     */
    record DecodeSlot(NDArray keys, NDArray values, NDArray ownership, NDArray segmentTable, NDArray tailRows,
                      int[] firstRows, int writeIndex, int capacity) {}

    /**
     * Shared layout whose last position is {@code p0 - 1} (every head holds the same positions, all before the chunk:
     * unevicted, or evicted alike in every head, e.g. down to the protected sinks and window; either way a chunk's
     * bottom-right causal attention over the rows needs no mask, since RoPE already placed each key): the storage k, v [H, capacity, D] that a whole-model chunk
     * ({@link FusedDecoderLayers#prefillMore}) writes rows {@code length..} of in place, or, when it needs more
     * room ({@link #grownCapacity}), copies into storage it makes ({@link #adoptGrown}). Null when the layer is
     * empty, ragged or ends elsewhere (the chunk then goes layer by layer). Follow the chunk with
     * {@link #appendedInPlace(int, int)}.
     */
    NDArray[] sharedStorage(int p0) {
        flush();
        if (k == null || ragged || len == 0 || pos[len - 1] != p0 - 1) return null;
        staleViews();
        return new NDArray[] {k, v};
    }

    /** Shared layout: the capacity storage needs for {@code t} more tokens (doubling), or the current one if it has room. */
    int grownCapacity(int t) {
        int cap = capacity(), needed = len + t;
        return needed <= cap ? cap : Math.max(needed, Math.max(16, cap * 2));
    }

    /** Shared layout: takes over grown storage [H, capacity, D] holding the filled rows (the old storage is freed). */
    void adoptGrown(NDArray newK, NDArray newV) {
        if (ragged || newK.getShape().get(1) < len) throw new IllegalStateException("grown storage " + newK.getShape() + " for " + len + " entries");
        freeStorage();
        newK.attach(manager);
        newV.attach(manager);
        k = newK;
        v = newV;
        pos = Arrays.copyOf(pos, capacity());
    }

    /**
     * Ragged layout with the chunk of {@code t} tokens at {@code p0} staged by {@link #planChunk} (its append's rows and
     * the segment view after it): what a whole-model chunk call ({@link FusedDecoderLayers#prefillSegments}) writes and
     * reads in place; null otherwise (the chunk then goes layer by layer). Follow the chunk with
     * {@link #appendedStagedInPlace}.
     */
    RaggedChunk stagedChunk(int t, int p0) {
        flush();
        if (!ragged || staged == null || staged.t() != t || staged.p0() != p0 || staged.segmentStarts() == null
                || tailLen + t > tailCap) return null;
        return new RaggedChunk(k, v, ownership, staged.dst(), staged.segmentStarts(), staged.segmentUsed(), staged.longest(), diagonal());
    }

    /**
     * A staged chunk of a ragged layer: storage k/v [rows, 1, D] and ownership mask [H, 1, rows] to write in place, the
     * rows the chunk's tokens go to (int32, head-major), the segment view after the append (starts, used rows, the
     * longest segment's entries) and the head diagonal (a new row's ownership column).
     */
    record RaggedChunk(NDArray keys, NDArray values, NDArray ownership, NDArray rows, NDArray starts, NDArray used,
                       int longest, NDArray diagonal) {}

    /** Host-side bookkeeping for the staged chunk ({@link #stagedChunk}) a whole-model call wrote at positions p0.. */
    void appendedStagedInPlace(int p0, int t) {
        staleViews();
        recordRaggedAppend(p0, t);
        dropStaged();
    }

    /** Shared layout: host-side bookkeeping for the {@code t} tokens at positions p0.. a chunk wrote after the filled ones. */
    void appendedInPlace(int p0, int t) {
        if (ragged || len + t > capacity()) throw new IllegalStateException("no shared room for " + t + " tokens written in place");
        for (int i = 0; i < t; i++) pos[len + i] = p0 + i;
        len += t;
    }

    /** Host-side bookkeeping for the token a decode step wrote at {@link #decodeSlot}'s index (position {@code p}). */
    void appendedInPlace(int p) {
        if (!ragged) {
            pos[len++] = p;
            return;
        }
        recordRaggedAppend(p, 1);
    }

    /** Shared layout: keys/values [H, len, D] (views attached to {@code scope}) and their positions. */
    Shared shared(NDManager scope) {
        NDIndex filled = new NDIndex(":, 0:{}", len);
        NDArray ks = len == 0 ? manager.zeros(new Shape(numKvHeads, 0, headDim), dtype) : k.get(filled);
        NDArray vs = len == 0 ? manager.zeros(new Shape(numKvHeads, 0, headDim), dtype) : v.get(filled);
        ks.attach(scope);
        vs.attach(scope);
        return new Shared(ks, vs, pos, len);
    }

    record Shared(NDArray keys, NDArray values, int[] positions, int length) {}

    /**
     * Ragged layout, the whole storage at once (owned by the layer, valid until it changes): keys transposed
     * [D, rows], values [rows, D], the ownership mask [H, 1, rows] (spare rows are -inf for every head), every row's
     * position and the smallest position held.
     */
    Flat flat() {
        if (keysT == null) { // made on first use: the fused module's paths (segment chunks, decode graphs) never read them
            int rows = capacity();
            try (NDArray keyRows = k.reshape(rows, headDim)) { // a view: closed, or it would pin replaced storage
                keysT = keyRows.transpose(1, 0);
            }
            valueRows = v.reshape(rows, headDim);
        }
        return new Flat(keysT, valueRows, ownership, rowPos, capacity(), minPos);
    }

    record Flat(NDArray keysT, NDArray values, NDArray ownership, int[] rowPositions, int rows, int minPosition) {}

    /**
     * Ragged layout gathered per head (one gather per K/V): keys/values [H, L, D] where each head's entries end at
     * column L, left-padded by {@code pad[h]} copies of row 0 whose position is {@link #PAD_POSITION} (hidden by the
     * causal mask). For long query chunks, where the flat layout's H× score FLOPs would dominate.
     */
    Padded padded(NDManager scope) {
        int longest = 0;
        for (int h = 0; h < numKvHeads; h++) longest = Math.max(longest, length(h));
        long[] idx = new long[numKvHeads * longest];
        int[][] keyPos = new int[numKvHeads][longest];
        int[] pad = new int[numKvHeads];
        for (int h = 0; h < numKvHeads; h++) {
            int n = length(h);
            pad[h] = longest - n;
            Arrays.fill(keyPos[h], 0, pad[h], PAD_POSITION);
            int[] p = positions(h);
            System.arraycopy(p, 0, keyPos[h], pad[h], n);
            for (int i = 0; i < n; i++) idx[h * longest + pad[h] + i] = row(h, i);
        }
        NDArray ks, vs;
        try (NDArray index = scope.create(idx); NDArray kr = rowsView(k); NDArray vr = rowsView(v)) {
            ks = gatherRows(kr, index, longest, scope);
            vs = gatherRows(vr, index, longest, scope);
        }
        return new Padded(ks, vs, keyPos, pad, longest);
    }

    /**
     * Ragged layout as per-head sequences of a variable-length attention read in place (no gather, no padding, no mask):
     * head h's entries, in position order (so a chunk just appended is its last entries), are rows
     * {@code starts[h] .. starts[h] + used[h]} of the [rows, D] storage views ({@code starts} [H + 1], {@code used} [H],
     * int32; the rows after a head's used ones are spare), and the longest run. Everything is attached to {@code scope}.
     */
    Segments segments(NDManager scope) {
        flush();
        NDArray keyRows = rowsView(k), valueRows = rowsView(v);
        keyRows.attach(scope);
        valueRows.attach(scope);
        if (staged != null && staged.segmentStarts() != null && tailLen > 0 && tailPos[tailLen - 1] == staged.p0() + staged.t() - 1) {
            // planned with this append: the layout is unchanged since
            Segments s = new Segments(keyRows, valueRows, staged.segmentStarts(), staged.segmentUsed(), staged.longest());
            s.starts().attach(scope);
            s.used().attach(scope);
            staged.dst().close();
            staged = null;
            return s;
        }
        dropStaged();
        SegmentLayout layout = segmentLayout(0);
        return new Segments(keyRows, valueRows, scope.create(layout.starts()), scope.create(layout.used()), layout.longest());
    }

    record Segments(NDArray keyRows, NDArray valueRows, NDArray starts, NDArray used, int longest) {}

    /** Where each head's segment starts [H + 1] (the last: all rows), its entries [H], the most entries of a head. */
    private record SegmentLayout(int[] starts, int[] used, int longest) {}

    /** The segment view's host data with {@code appended} more tokens in every head (their rows follow its filled ones). */
    private SegmentLayout segmentLayout(int appended) {
        int[] used = new int[numKvHeads];
        int longest = 0;
        for (int h = 0; h < numKvHeads; h++) {
            used[h] = length(h) + appended;
            longest = Math.max(longest, used[h]);
        }
        return new SegmentLayout(segmentStart.clone(), used, longest);
    }

    /** Position given to padding slots: after every query, so the causal mask hides them. */
    static final int PAD_POSITION = Integer.MAX_VALUE;

    private NDArray gatherRows(NDArray storage, NDArray index, int longest, NDManager scope) {
        try (NDArray g = storage.get(new NDIndex("{}", index))) {
            NDArray r = g.reshape(numKvHeads, longest, headDim);
            r.attach(scope);
            return r;
        }
    }

    record Padded(NDArray keys, NDArray values, int[][] keyPositions, int[] pad, int length) {}

    // ---- copies, views, memory -----------------------------------------------------------------------

    /** Copies the entries whose position passes the filter into {@code target} (an empty layer of another cache). */
    void copyInto(LayerKv target, java.util.function.IntPredicate keepPosition) {
        flush();
        int[][] keepRows = new int[numKvHeads][], keepPos = new int[numKvHeads][];
        for (int h = 0; h < numKvHeads; h++) {
            int[] p = positions(h), r = k == null ? new int[0] : rows(h);
            int[] keep = java.util.stream.IntStream.range(0, p.length).filter(i -> keepPosition.test(p[i])).toArray();
            keepRows[h] = pick(r, keep);
            keepPos[h] = pick(p, keep);
        }
        if (k == null) return;
        int kept = 0;
        for (int[] p : keepPos) kept += p.length;
        // every copy is extended next (a generation's query and steps, KVzip's repeat prompt): room for that now
        // spares the re-layout its first append would make
        int room = growthRows(kept / numKvHeads);
        try (DeviceInts ints = new DeviceInts()) {
            Gather g = target.planGather(keepRows, keepPos, ints, room);
            ints.upload(target.manager);
            try (NDArray flatK = rowsView(k, g); NDArray flatV = rowsView(v, g)) {
                target.assign(flatK, flatV, null, g, ints); // the source is another layer's: not batched
            }
        }
    }

    /** Keys (or values) [n, D] of one head, a copy owned by the cache, valid until the layer changes. */
    NDArray headEntries(int head, boolean keys) {
        flush();
        if (headKeys == null) {
            headKeys = new NDArray[numKvHeads];
            headValues = new NDArray[numKvHeads];
        }
        NDArray[] cached = keys ? headKeys : headValues;
        if (cached[head] == null) {
            int[] r = k == null ? new int[0] : rows(head);
            if (r.length == 0) cached[head] = manager.zeros(new Shape(0, headDim), dtype);
            else {
                try (NDArray f = rowsView(keys ? k : v); NDArray index = manager.create(Arrays.stream(r).asLongStream().toArray())) {
                    cached[head] = f.get(new NDIndex("{}", index));
                    cached[head].attach(manager);
                }
            }
        }
        return cached[head];
    }

    /** Bytes held: K/V storage (allocated capacity) plus the ragged layout's ownership mask. */
    long bytes() {
        flush();
        long b = 0;
        for (NDArray a : new NDArray[] {k, v, ownership})
            if (a != null) b += a.getShape().size() * a.getDataType().getNumOfBytes();
        return b;
    }

    private void staleViews() {
        if (headKeys != null) for (NDArray a : headKeys) if (a != null) a.close();
        if (headValues != null) for (NDArray a : headValues) if (a != null) a.close();
        headKeys = headValues = null;
    }

    /** The storage and everything made from it per re-layout (null where absent). */
    private NDArray[] storageArrays() {
        return new NDArray[] {k, v, ownership, keysT, valueRows, segmentTable, tailRows};
    }

    private void freeStorage() {
        for (NDArray a : storageArrays()) if (a != null) a.close();
        k = v = ownership = keysT = valueRows = segmentTable = tailRows = null;
        staleViews();
        dropStaged();
    }
}
