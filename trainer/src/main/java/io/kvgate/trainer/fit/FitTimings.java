package io.kvgate.trainer.fit;

import io.kvgate.models.util.TextTable;

import java.util.concurrent.atomic.LongAdder;
import java.util.function.Supplier;

/**
 * Where a fit's time goes, per stage, summed over layers (thread-safe: layers are fitted in parallel, so the sum of
 * a stage can exceed the wall time). Device stages end with a host read of their result, so their time includes
 * the device's queued work.
 */
public final class FitTimings {
    /** The stages of fitting one layer, in pipeline order. */
    public enum Stage {
        READ("read", "decode the layer's shards (Parquet) and check every row"),
        ROWS("rows", "logit targets, held-out rows, the sink gate's row sample"),
        NORMAL_EQUATIONS("normal equations", "AᵀA, Aᵀz of training and held-out rows (float64)"),
        SOLVES("solves / λ grid", "ridge solve per λ, held-out MSE"),
        SINK_INIT("sink init", "principal directions, key features, closed-form query bias"),
        SINK_STEPS("sink steps", "minibatch Adam steps and validation losses"),
        METRICS("held-out metrics", "scores of the held-out rows, MSE/BCE/agreement/Spearman"),
        WRITE("write", "artifacts (safetensors + manifest)");

        public final String label, what;

        Stage(String label, String what) {
            this.label = label;
            this.what = what;
        }
    }

    private final LongAdder[] nanos = new LongAdder[Stage.values().length];

    public FitTimings() {
        for (int i = 0; i < nanos.length; i++) nanos[i] = new LongAdder();
    }

    public void add(Stage s, long ns) {
        nanos[s.ordinal()].add(ns);
    }

    public <T> T time(Stage s, Supplier<T> work) {
        long t0 = System.nanoTime();
        try {
            return work.get();
        } finally {
            add(s, System.nanoTime() - t0);
        }
    }

    public void time(Stage s, Runnable work) {
        long t0 = System.nanoTime();
        try {
            work.run();
        } finally {
            add(s, System.nanoTime() - t0);
        }
    }

    public double seconds(Stage s) {
        return nanos[s.ordinal()].sum() / 1e9;
    }

    /** A table of every stage that took time, with the whole command's wall time below it. */
    public String table(double wallSeconds, int threads) {
        TextTable t = new TextTable("stage", "seconds", "what");
        double sum = 0;
        for (Stage s : Stage.values()) {
            double v = seconds(s);
            sum += v;
            t.row(s.label, String.format("%.2f", v), s.what);
        }
        t.row("all stages", String.format("%.2f", sum), "summed over layers (" + threads + " fitted at once)");
        t.row("wall", String.format("%.2f", wallSeconds), "fit + write, end to end");
        return t.toString();
    }
}
