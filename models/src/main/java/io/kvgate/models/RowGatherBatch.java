package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.pytorch.engine.PtNDManager;

import java.util.ArrayList;
import java.util.List;

/**
 * The K/V gathers of every layer re-laid out in one staged step ({@link KvCache#flush}, a chunk's room), run as one
 * call of the fused module's {@code gather_rows} instead of a slice of the staged index and two gathers a layer: on a
 * GPU every op is ~10-30 µs of host time, ~85 ops per eviction of a 28-layer model. Layers {@link #add} their source
 * storage and staged index while planning; after {@link DeviceInts#upload}, {@link #run} gathers all of them and each
 * layer {@link #take}s its rows. Without a fused module nothing runs and each layer gathers its own.
 */
final class RowGatherBatch implements AutoCloseable {
    private final List<NDArray> keys = new ArrayList<>(), values = new ArrayList<>();
    private final List<int[]> spans = new ArrayList<>(); // {offset in the staged ints, rows}
    private NDList gathered;                              // [k, v] per slot, [rows, 1, D]; null until run

    /**
     * Adds a layer's gather: rows {@code ints[indexAt .. indexAt + rows)} of its storage {@code k}/{@code v} viewed as
     * rows ([H, capacity, D] or [rows, 1, D], both read as [·, 1, D]). Returns the layer's slot for {@link #take}.
     */
    int add(NDArray k, NDArray v, int indexAt, int rows) {
        keys.add(k);
        values.add(v);
        spans.add(new int[] {indexAt, rows});
        return spans.size() - 1;
    }

    /** Gathers every added layer's rows in one call of {@code module} from the uploaded {@code index} (all staged ints). */
    void run(FusedAttention module, NDArray index, int headDim, NDManager manager) {
        if (spans.isEmpty()) return;
        int[] offsets = new int[spans.size()], counts = new int[spans.size()];
        for (int i = 0; i < offsets.length; i++) {
            offsets[i] = spans.get(i)[0];
            counts[i] = spans.get(i)[1];
        }
        gathered = module.gatherRows(keys.toArray(new NDArray[0]), values.toArray(new NDArray[0]), index, offsets, counts,
                headDim, (PtNDManager) manager);
    }

    /** The layer's gathered keys and values [rows, 1, D] (handed over), or null when nothing ran (no module). */
    NDArray[] take(int slot) {
        if (gathered == null) return null;
        NDArray[] kv = {gathered.get(2 * slot), gathered.get(2 * slot + 1)};
        gathered.set(2 * slot, null);
        gathered.set(2 * slot + 1, null);
        return kv;
    }

    /** Frees what no layer took. */
    @Override
    public void close() {
        if (gathered != null) for (NDArray a : gathered) if (a != null) a.close();
    }
}
