package io.kvgate.models.util;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * A progress bar on stderr with a rate (e.g. tokens/s). Silent when {@link #setEnabled}(false) (tests,
 * {@code --quiet}) so long stages look the same everywhere without each one special-casing output.
 */
public final class Progress implements AutoCloseable {
    private static volatile boolean enabled = true;
    private final ProgressBar bar;

    private Progress(ProgressBar bar) {
        this.bar = bar;
    }

    public static void setEnabled(boolean on) {
        enabled = on;
    }

    /** Starts a bar for {@code total} units (-1 when unknown) named {@code task}, counting {@code unit}. */
    public static Progress start(String task, long total, String unit) {
        if (!enabled) return new Progress(null);
        ProgressBar bar = new ProgressBarBuilder()
                .setTaskName(task)
                .setInitialMax(total)
                .setUnit(" " + unit, 1)
                .showSpeed()
                .setStyle(ProgressBarStyle.ASCII)
                .setUpdateIntervalMillis(250)
                .continuousUpdate()
                .build();
        return new Progress(bar);
    }

    public void step(long n) {
        if (bar != null) bar.stepBy(n);
    }

    public void message(String extra) {
        if (bar != null) bar.setExtraMessage(" " + extra); // the bar prints it right after the rate
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
    }
}
