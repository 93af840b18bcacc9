package io.kvgate.models.util;

import java.util.Arrays;

/** Summaries of repeated timings, as kvgate's benchmarks print them. */
public final class Timings {
    private Timings() {}

    /** The fastest of {@code times}. */
    public static double best(double[] times) {
        return Arrays.stream(times).min().orElseThrow();
    }

    /** The median of {@code times} (the upper one of an even count); {@code times} is not changed. */
    public static double median(double[] times) {
        double[] s = times.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
