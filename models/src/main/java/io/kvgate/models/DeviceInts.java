package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Int data bound for the device, gathered from many places and copied in ONE host-to-device transfer. A copy from
 * pageable host memory waits for all GPU work queued before it, so a re-layout that created its gather index, mask
 * owners and segment table array by array synchronised four times a layer (112 times per eviction of a 28-layer
 * model); staged here, an eviction waits once. Add every piece, {@link #upload}, then take {@link #slice}s.
 *
 * <p>The pieces are kept, not copied, until the upload writes them once into one direct buffer that libtorch reads
 * without a further copy: the last eviction of a 0.6B model's 32K prefill stages ~6 M ints, which a growing array,
 * its trimmed copy and DJL's own direct copy moved three more times on the host. For a GPU the buffer is the thread's,
 * reused (libtorch's copy from pageable memory has read it when the upload returns): a fresh 25 MB buffer's page
 * faults cost more than the copy into it. On a CPU the tensor aliases the buffer, so each upload gets its own.
 */
final class DeviceInts implements AutoCloseable {
    private final List<int[]> pieces = new ArrayList<>();
    private int size;
    private int[] pieceStart, pieceLength;  // every piece added, as uploaded (views' data included)
    private NDList parts;                   // the upload split into its pieces, made at the first slice; null before
    private java.util.Map<Integer, Integer> partAt;
    private ByteBuffer host; // what was uploaded; a CPU tensor aliases it
    private NDArray all;
    private RaggedViewBatch views;
    private RowGatherBatch gathers;

    /** Stages {@code values}, kept as they are (the caller hands over a new array and does not change it); returns their offset. */
    int add(int[] values) {
        if (all != null) throw new IllegalStateException("already uploaded");
        pieces.add(values);
        size += values.length;
        return size - values.length;
    }

    /** The ragged layouts' views whose int data travels with this upload, made for all their layers at once after it. */
    RaggedViewBatch views() {
        if (views == null) views = new RaggedViewBatch();
        return views;
    }

    /** The re-laid-out layers' K/V gathers planned against this staging, run for all of them at once after the upload. */
    RowGatherBatch gathers() {
        if (gathers == null) gathers = new RowGatherBatch();
        return gathers;
    }

    /** Every staged int, int32 on the device (after {@link #upload}): a batched gather's index. */
    NDArray all() {
        if (all == null) throw new IllegalStateException("not uploaded");
        return all;
    }

    /** Copies everything staged (the views' data included) to the manager's device (one transfer), then makes the views. */
    void upload(NDManager manager) {
        upload(manager, manager.getDevice().isGpu());
    }

    /**
     * {@link #upload}; {@code reuse}: write into the thread's upload buffer, which the next upload overwrites (right for a
     * GPU, whose tensor is a copy; on a CPU, where the tensor aliases the buffer, only for a caller that is done with
     * this upload's arrays before the next one: {@link StagingBenchmark}).
     */
    void upload(NDManager manager, boolean reuse) {
        boolean withViews = views != null && !views.isEmpty();
        if (withViews) views.stage(this);
        int n = Math.max(size, 1);
        host = reuse ? reusedBuffer(n * Integer.BYTES) : ByteBuffer.allocateDirect(n * Integer.BYTES).order(ByteOrder.nativeOrder());
        java.nio.IntBuffer ints = host.asIntBuffer();
        pieceStart = new int[pieces.size()];
        pieceLength = new int[pieces.size()];
        int at = 0;
        for (int i = 0; i < pieces.size(); i++) {
            ints.put(pieces.get(i));
            pieceStart[i] = at;
            at += pieceLength[i] = pieces.get(i).length;
        }
        pieces.clear();
        all = manager.create(host, new Shape(n), DataType.INT32);
        if (reuse) host = null; // the thread's: not this upload's to keep
        if (withViews) views.build(this, manager);
    }

    private static final ThreadLocal<ByteBuffer> REUSED = new ThreadLocal<>();

    /** The thread's upload buffer, exactly {@code bytes} long (a view of a larger one), grown when too small. */
    private static ByteBuffer reusedBuffer(int bytes) {
        ByteBuffer b = REUSED.get();
        if (b == null || b.capacity() < bytes) {
            b = ByteBuffer.allocateDirect(Math.max(bytes, b == null ? 0 : 2 * b.capacity())).order(ByteOrder.nativeOrder());
            REUSED.set(b);
        }
        return b.duplicate().clear().limit(bytes).slice().order(ByteOrder.nativeOrder());
    }

    /**
     * int32 [length] view of the staged values at {@code offset}, attached to {@code owner}; valid while this is open (on
     * a CPU the upload may alias host memory). A whole piece as added comes from one split of the upload into every
     * piece, made at the first slice: a chunk over an evicted 28-layer cache takes three pieces a layer, which were a
     * libtorch call each.
     */
    NDArray slice(int offset, int length, NDManager owner) {
        NDArray s = piece(offset, length);
        if (s == null) return range(offset, length, owner);
        s.attach(owner);
        return s;
    }

    /**
     * int32 [length] view of the staged values at {@code offset} (one narrow), attached to {@code owner}, for a caller that
     * takes a few slices of an upload: a re-layout's views take four of its ~90 pieces, and splitting it into all of them
     * (then freeing the rest) cost ~0.25 ms on the H100 machine.
     */
    NDArray range(int offset, int length, NDManager owner) {
        NDArray s = all.get(new NDIndex("{}:{}", offset, offset + length));
        s.attach(owner);
        return s;
    }

    /** The piece added at {@code offset} with {@code length} values, handed over (null if no such piece, or taken). */
    private NDArray piece(int offset, int length) {
        if (size == 0 || pieceStart == null) return null;
        if (parts == null) {
            long[] sizes = new long[pieceLength.length];
            partAt = new java.util.HashMap<>();
            for (int i = 0; i < sizes.length; i++) {
                sizes[i] = pieceLength[i];
                if (pieceLength[i] > 0 || !partAt.containsKey(pieceStart[i])) partAt.put(pieceStart[i], i); // not an empty one at the same offset
            }
            parts = JniUtils.split((PtNDArray) all, sizes, 0);
        }
        Integer i = partAt.get(offset);
        if (i == null || pieceLength[i] != length || parts.get(i) == null) return null;
        NDArray p = parts.get(i);
        parts.set(i, null);
        return p;
    }

    @Override
    public void close() {
        if (parts != null) for (NDArray p : parts) if (p != null) p.close();
        if (gathers != null) gathers.close();
        if (views != null) views.close();
        if (all != null) all.close();
    }
}
