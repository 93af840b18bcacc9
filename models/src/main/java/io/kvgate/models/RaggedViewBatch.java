package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import java.util.ArrayList;
import java.util.List;

/**
 * The device views of every ragged layer re-laid out in one staged step ({@link KvCache#flush}, a chunk's room):
 * ownership masks [H, 1, rows], segment tables [2, H + 1] and tail rows [H], made from the staged ints with a fixed
 * dozen ops for all layers together and split into every layer's views with three more, instead of ten ops a layer. On a
 * GPU every op is ~10 µs of host time: ~180 ops fewer per eviction of a 28-layer model. Layers {@link #add} their
 * data while planning; {@link DeviceInts#upload} stages it (each kind contiguous) and {@link #build}s the batch.
 *
 * <p>The masks are built on the device from where each head's filled rows start and end: the owner (plus one) changes
 * only at those boundaries, so the host stages one delta per boundary and a cumulative sum spreads it over the rows
 * (2·H ints a layer instead of one per row: ~3 M ints at the last eviction of a 0.6B model's 32K prefill).
 */
final class RaggedViewBatch implements AutoCloseable {
    private final List<int[]> tables = new ArrayList<>(), tails = new ArrayList<>();
    private final List<Integer> ownerStart = new ArrayList<>();
    private int heads, totalRows, boundaries, boundaryAt, tableAt, tailAt;
    private DataType dtype;
    private NDArray ownership, tableRows, tailRows; // [H, 1, Σ rows]; [n, 2, H + 1] int32; [n, H] int64
    private NDList[] split;                          // each layer's views of the three, made by one split each

    /**
     * Adds a layer's views: a storage of {@code rows} rows whose head h owns rows [table[h], tail[h]) (its kept entries;
     * the rest of its segment is spare until tokens are appended), its segment table (starts [H + 1], then the rows
     * each head kept [H + 1]) and its first tail row per head. Returns the layer's slot for {@link #take}.
     */
    int add(int heads, DataType dtype, int rows, int[] table, int[] tail) {
        if (!tables.isEmpty() && (heads != this.heads || dtype != this.dtype))
            throw new IllegalArgumentException("one batch holds layers of one head count and dtype");
        this.heads = heads;
        this.dtype = dtype;
        ownerStart.add(totalRows);
        totalRows += rows;
        tables.add(table);
        tails.add(tail);
        return tables.size() - 1;
    }

    boolean isEmpty() {
        return tables.isEmpty();
    }

    /** Stages every layer's data in {@code ints}, each kind contiguous (before the upload). */
    void stage(DeviceInts ints) {
        int[][] b = ownerBoundaries();
        boundaries = b[0].length;
        boundaryAt = ints.add(b[0]);
        ints.add(b[1]);
        tableAt = addAll(ints, tables);
        tailAt = addAll(ints, tails);
    }

    /**
     * Where the owner-plus-one of the batch's rows changes, ascending and distinct, and by how much: +(h + 1) where head
     * h's filled rows start, -(h + 1) where they end (summed where two boundaries meet; none past the last row).
     */
    int[][] ownerBoundaries() {
        int[] at = new int[2 * heads * tables.size()], delta = new int[at.length];
        int n = 0;
        for (int l = 0; l < tables.size(); l++) {
            int offset = ownerStart.get(l);
            int[] table = tables.get(l), end = tails.get(l);
            for (int h = 0; h < heads; h++) {
                if (end[h] <= table[h]) continue; // owns no row
                for (int[] e : new int[][] {{offset + table[h], h + 1}, {offset + end[h], -(h + 1)}}) {
                    if (e[0] >= totalRows) continue;
                    if (n > 0 && at[n - 1] == e[0]) delta[n - 1] += e[1];
                    else {
                        at[n] = e[0];
                        delta[n++] = e[1];
                    }
                }
            }
        }
        return new int[][] {java.util.Arrays.copyOf(at, n), java.util.Arrays.copyOf(delta, n)};
    }

    /** Stages the arrays one after another (contiguous: nothing else is staged in between); returns the first's offset. */
    private static int addAll(DeviceInts ints, List<int[]> arrays) {
        int first = -1;
        for (int[] a : arrays) {
            int at = ints.add(a);
            if (first < 0) first = at;
        }
        return first;
    }

    /** Makes the batched arrays from the uploaded {@code ints} (the table and tail rows are copies: they do not pin them). */
    void build(DeviceInts ints, NDManager manager) {
        int n = tables.size();
        try (NDManager scope = manager.newSubManager()) {
            NDArray ownerPlusOne = scope.zeros(new Shape(totalRows), DataType.FLOAT32); // exact: small integers
            if (boundaries > 0) {
                NDArray at = ints.range(boundaryAt, boundaries, scope), delta = ints.range(boundaryAt + boundaries, boundaries, scope);
                ownerPlusOne.set(new NDIndex("{}", at), delta.toType(DataType.FLOAT32, false));
                ownerPlusOne = ownerPlusOne.cumSum(0);
            }
            NDArray headPlusOne = scope.arange(1, heads + 1).toType(DataType.FLOAT32, false).reshape(heads, 1, 1);
            // log(1) = 0 on the head's rows, log(0) = -inf elsewhere
            ownership = ownerPlusOne.reshape(1, 1, totalRows).eq(headPlusOne).toType(dtype, false).log();
            tableRows = ints.range(tableAt, n * 2 * (heads + 1), scope).reshape(n, 2, heads + 1).duplicate();
            tailRows = ints.range(tailAt, n * heads, scope).reshape(n, heads).toType(DataType.INT64, true);
            for (NDArray a : new NDArray[] {ownership, tableRows, tailRows}) a.attach(manager);
        }
        if (n > 1) { // every layer's views in three ops (split_with_sizes), not three ops a layer in take
            long[] rows = new long[n], twos = new long[n], heads = new long[n];
            for (int l = 0; l < n; l++) {
                rows[l] = (l + 1 < n ? ownerStart.get(l + 1) : totalRows) - ownerStart.get(l);
                twos[l] = 2;
                heads[l] = this.heads;
            }
            try (NDArray tables = tableRows.reshape(2L * n, this.heads + 1); NDArray tails = tailRows.reshape((long) n * this.heads)) {
                split = new NDList[] {JniUtils.split((PtNDArray) ownership, rows, 2), JniUtils.split((PtNDArray) tables, twos, 0),
                        JniUtils.split((PtNDArray) tails, heads, 0)};
            }
        }
    }

    /** The views of the layer at {@code slot}, attached to {@code owner}: ownership mask, segment table, tail rows. */
    NDArray[] take(int slot, NDManager owner) {
        NDArray[] views;
        if (split == null) { // a batch of one: the mask itself
            views = new NDArray[] {ownership, tableRows.get(0), tailRows.get(0)};
            ownership = null; // handed over
        } else {
            views = new NDArray[] {split[0].get(slot), split[1].get(slot), split[2].get(slot)};
            for (NDList views3 : split) views3.set(slot, null); // handed over
        }
        for (NDArray a : views) a.attach(owner);
        return views;
    }

    /** Frees the batch's own handles; the layers' slices keep what they view. */
    @Override
    public void close() {
        if (split != null) for (NDList views : split) for (NDArray a : views) if (a != null) a.close(); // the views no layer took
        for (NDArray a : new NDArray[] {ownership, tableRows, tailRows}) if (a != null) a.close();
    }
}
