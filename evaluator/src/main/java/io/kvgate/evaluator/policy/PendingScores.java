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
 * Gate scores still on the device, [kvHeads, T] per scored chunk and layer, with the positions they belong to.
 * They are read back only when an eviction needs them, all in one copy: a host read waits for the device, and
 * reading scores nobody asks for (ratio 1, a decode interval within budget) costs the prefill that wait plus
 * O(context) host work.
 *
 * <p>The scores still pending when the context is done are {@linkplain #pinContext pinned}: every query starts
 * from them ({@link #rewindToContext}), so reading them back during one query must not close them. Device arrays
 * are never changed in place, so keeping the references is the whole snapshot. Pinned arrays are closed by
 * {@link #close} only; the others as soon as they are read or dropped.
 */
final class PendingScores implements AutoCloseable {
    private final NDManager manager;
    private final Runnable onHostRead;
    private final List<List<NDArray>> scores = new ArrayList<>();   // per layer, in scoring order
    private final List<List<int[]>> positions = new ArrayList<>();
    private final List<List<NDArray>> contextScores = new ArrayList<>();
    private final List<List<int[]>> contextPositions = new ArrayList<>();
    private final Set<NDArray> pinned = Collections.newSetFromMap(new IdentityHashMap<>());

    /** Scores will be attached to {@code manager}; {@code onHostRead} runs at every device-to-host read (a test hook). */
    PendingScores(int layers, NDManager manager, Runnable onHostRead) {
        this.manager = manager;
        this.onHostRead = onHostRead;
        for (int l = 0; l < layers; l++) {
            scores.add(new ArrayList<>());
            positions.add(new ArrayList<>());
            contextScores.add(new ArrayList<>());
            contextPositions.add(new ArrayList<>());
        }
    }

    /** Takes over {@code s} [kvHeads, T], the scores of {@code p} (T positions) in {@code layer}. */
    void add(int layer, NDArray s, int[] p) {
        s.attach(manager);
        scores.get(layer).add(s);
        positions.get(layer).add(p);
    }

    /** One device-to-host copy of every pending score, recorded in {@code book} by (layer, head, position). */
    void readInto(PositionBook book) {
        NDList flat = new NDList();
        for (List<NDArray> layer : scores) for (NDArray s : layer) flat.add(s.reshape(-1));
        if (flat.isEmpty()) return;
        float[] all;
        try (NDArray joined = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 0)) {
            all = Arrays32.toFloats(joined);
        } finally {
            flat.close(); // the reshaped views only; pinned scores stay valid
        }
        onHostRead.run();
        int o = 0;
        for (int l = 0; l < scores.size(); l++) {
            List<int[]> layerPositions = positions.get(l);
            for (int c = 0; c < layerPositions.size(); c++) {
                int[] p = layerPositions.get(c);
                int t = p.length, heads = (int) (scores.get(l).get(c).size() / t);
                boolean run = t > 0 && p[t - 1] - p[0] == t - 1; // a chunk's positions are consecutive
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
        for (List<NDArray> layer : scores) now.addAll(layer);
        for (NDArray a : pinned) if (!now.contains(a)) a.close(); // an earlier pin, already read: no longer needed
        pinned.clear();
        pinned.addAll(now);
        for (int l = 0; l < scores.size(); l++) {
            contextScores.get(l).clear();
            contextScores.get(l).addAll(scores.get(l));
            contextPositions.get(l).clear();
            contextPositions.get(l).addAll(positions.get(l));
        }
    }

    /** Drops what was scored after the context and puts the context's unread scores back. */
    void rewindToContext() {
        clear();
        for (int l = 0; l < scores.size(); l++) {
            scores.get(l).addAll(contextScores.get(l));
            positions.get(l).addAll(contextPositions.get(l));
        }
    }

    /** Forgets the pending scores, closing those no snapshot holds. */
    private void clear() {
        for (List<NDArray> layer : scores) {
            for (NDArray s : layer) if (!pinned.contains(s)) s.close();
            layer.clear();
        }
        positions.forEach(List::clear);
    }

    @Override
    public void close() {
        clear();
        pinned.forEach(NDArray::close);
        pinned.clear();
        contextScores.forEach(List::clear);
        contextPositions.forEach(List::clear);
    }
}
