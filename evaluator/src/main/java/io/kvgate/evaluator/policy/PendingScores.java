package io.kvgate.evaluator.policy;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;

import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Set;

/**
 * Gate scores still on the device, with the layers and positions they belong to: [kvHeads, T] of one layer, or
 * [n, kvHeads, T] of n layers scored in one batch (GateSet.scoreLayers). They are read back only when an eviction
 * needs them, all in one copy: a host read waits for the device, and reading scores nobody asks for (ratio 1, a decode
 * interval within budget) costs the prefill that wait plus O(context) host work.
 *
 * <p>The scores still pending when the context is done are {@linkplain #pinContext pinned}: every query starts
 * from them ({@link #rewindToContext}), so reading them back during one query must not close them. Device arrays
 * are never changed in place, so keeping the references is the whole snapshot. Pinned arrays are closed by
 * {@link #close} only; the others as soon as they are read or dropped.
 */
final class PendingScores implements AutoCloseable {
    /** Scores of {@code layers} (one row each, in order) for {@code positions}. */
    private record Entry(int[] layers, NDArray scores, int[] positions) {}

    private final NDManager manager;
    private final Runnable onHostRead;
    private final List<Entry> entries = new ArrayList<>();   // in scoring order
    private final List<Entry> context = new ArrayList<>();
    private final Set<NDArray> pinned = Collections.newSetFromMap(new IdentityHashMap<>());

    /** Scores will be attached to {@code manager}; {@code onHostRead} runs at every device-to-host read (a test hook). */
    PendingScores(NDManager manager, Runnable onHostRead) {
        this.manager = manager;
        this.onHostRead = onHostRead;
    }

    /** Takes over {@code s} [kvHeads, T], the scores of {@code p} (T positions) in {@code layer}. */
    void add(int layer, NDArray s, int[] p) {
        add(new int[] {layer}, s, p);
    }

    /** Takes over {@code s} [n, kvHeads, T] (or [kvHeads, T] when n = 1): the scores of {@code p} in the n {@code layers}. */
    void add(int[] layers, NDArray s, int[] p) {
        s.attach(manager);
        entries.add(new Entry(layers.clone(), s, p));
    }

    /** One device-to-host copy of every pending score, recorded in {@code book} by (layer, head, position). */
    void readInto(PositionBook book) {
        NDList flat = new NDList();
        for (Entry e : entries) flat.add(e.scores.reshape(-1));
        if (flat.isEmpty()) return;
        float[] all;
        try (NDArray joined = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 0)) {
            all = Arrays32.toFloats(joined);
        } finally {
            flat.close(); // the reshaped views only; pinned scores stay valid
        }
        onHostRead.run();
        int o = 0;
        for (Entry e : entries) {
            int[] p = e.positions;
            int t = p.length, heads = (int) (e.scores.size() / t / e.layers.length);
            boolean run = t > 0 && p[t - 1] - p[0] == t - 1; // a chunk's positions are consecutive
            for (int l : e.layers) {
                for (int h = 0; h < heads; h++) {
                    if (run) book.setRun(l, h, p[0], all, o + h * t, t);
                    else for (int i = 0; i < t; i++) book.set(l, h, p[i], all[o + h * t + i]);
                }
                o += heads * t;
            }
        }
        clear();
    }

    /** The context is in: what is pending now is part of the state every query starts from. */
    void pinContext() {
        Set<NDArray> now = Collections.newSetFromMap(new IdentityHashMap<>());
        for (Entry e : entries) now.add(e.scores);
        for (NDArray a : pinned) if (!now.contains(a)) a.close(); // an earlier pin, already read: no longer needed
        pinned.clear();
        pinned.addAll(now);
        context.clear();
        context.addAll(entries);
    }

    /** Drops what was scored after the context and puts the context's unread scores back. */
    void rewindToContext() {
        clear();
        entries.addAll(context);
    }

    /** Forgets the pending scores, closing those no snapshot holds. */
    private void clear() {
        for (Entry e : entries) if (!pinned.contains(e.scores)) e.scores.close();
        entries.clear();
    }

    @Override
    public void close() {
        clear();
        pinned.forEach(NDArray::close);
        pinned.clear();
        context.clear();
    }
}
