package io.kvgate.evaluator.runtime;

import io.kvgate.models.Model;

/**
 * Where an evicting prefill's time goes, for benchmarks: the forward passes of the chunks, the scorer's answers
 * (on a GPU: reading scores back), the selection of the kept entries (host) and the re-layout of the storage.
 * Each phase ends by waiting for the device, so the phases add up to the wall time but the run is slower than an
 * unprofiled one (no overlap of host work with queued GPU work).
 */
public final class PrefillPhases {
    /** Times nothing and never waits for the device (every unprofiled prefill). */
    static final PrefillPhases NONE = new PrefillPhases(null);

    private final Model model;
    private long mark = System.nanoTime();
    private double forwardMs, scoresMs, selectMs, evictMs;
    private int evictions;

    public PrefillPhases(Model model) {
        this.model = model;
    }

    void forwardDone() {
        if (model != null) forwardMs += lap();
    }

    void scoresDone() {
        if (model != null) scoresMs += lap();
    }

    void selectionDone() {
        if (model != null) selectMs += lap();
    }

    /** After an eviction's re-layout (Evictor.apply flushes the cache, so it counts here, not in the next chunk). */
    void evictionDone() {
        if (model == null) return;
        evictMs += lap();
        evictions++;
    }

    private double lap() {
        model.awaitDevice();
        long now = System.nanoTime();
        double ms = (now - mark) / 1e6;
        mark = now;
        return ms;
    }

    public double forwardMillis() {
        return forwardMs;
    }

    public double scoresMillis() {
        return scoresMs;
    }

    public double selectMillis() {
        return selectMs;
    }

    /** The re-layout of the storage (pending retains applied). */
    public double evictMillis() {
        return evictMs;
    }

    public int evictions() {
        return evictions;
    }
}
