package io.kvgate.models;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;

import java.util.Arrays;

/**
 * Int data bound for the device, gathered from many places and copied in ONE host-to-device transfer. A copy from
 * pageable host memory waits for all GPU work queued before it, so a re-layout that created its gather index, mask
 * owners and segment table array by array synchronised four times a layer (112 times per eviction of a 28-layer
 * model); staged here, an eviction waits once. Add every piece, {@link #upload}, then take {@link #slice}s.
 */
final class DeviceInts implements AutoCloseable {
    private int[] data = new int[256];
    private int size;
    private NDArray all;
    private RaggedViewBatch views;

    /** Stages {@code values}; returns their offset. */
    int add(int[] values) {
        if (all != null) throw new IllegalStateException("already uploaded");
        if (size + values.length > data.length) data = Arrays.copyOf(data, Math.max(data.length * 2, size + values.length));
        System.arraycopy(values, 0, data, size, values.length);
        size += values.length;
        return size - values.length;
    }

    /** The ragged layouts' views whose int data travels with this upload, made for all their layers at once after it. */
    RaggedViewBatch views() {
        if (views == null) views = new RaggedViewBatch();
        return views;
    }

    /** Copies everything staged (the views' data included) to the manager's device (one transfer), then makes the views. */
    void upload(NDManager manager) {
        boolean withViews = views != null && !views.isEmpty();
        if (withViews) views.stage(this);
        all = manager.create(Arrays.copyOf(data, Math.max(size, 1)));
        if (withViews) views.build(this, manager);
    }

    /** int32 [length] view of the staged values at {@code offset}, attached to {@code owner}; valid while this is open (on a CPU the upload may alias host memory). */
    NDArray slice(int offset, int length, NDManager owner) {
        NDArray s = all.get(new NDIndex("{}:{}", offset, offset + length));
        s.attach(owner);
        return s;
    }

    @Override
    public void close() {
        if (views != null) views.close();
        if (all != null) all.close();
    }
}
