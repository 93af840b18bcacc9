package io.kvgate.gates;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * How well gate scores s match KVzip targets S over held-out (token, KV head) pairs.
 *
 * @param pairs     (token, head) pairs measured
 * @param mse       mean (s − S)²
 * @param bce       mean −[S log s + (1−S) log(1−s)] (s clipped to [1e-7, 1−1e-7]); its floor is the targets' entropy
 * @param agreement fraction of pairs where (s ≥ 0.05) equals (S ≥ 0.05), the paper's metric
 * @param spearman  Spearman rank correlation of s and S (average ranks for ties)
 * @param baseRate  fraction of targets ≥ 0.05
 * @param constantAgreement agreement of the best constant gate per KV head (each head's majority side of 0.05 on
 *                  these pairs; NaN when unknown, e.g. in older manifests): what a gate that learned nothing
 *                  scores, so read {@code agreement} against it, not against 0.5
 */
public record GateMetrics(long pairs, double mse, double bce, double agreement, double spearman, double baseRate,
                          double constantAgreement) {
    /** The score threshold of the agreement metric. */
    public static final double THRESHOLD = 0.05;

    /**
     * Collects (score, target) pairs; keeps them all (held-out sets are small) for the rank correlation. Pairs
     * come in head groups (one per KV head of a layer; pairs added one by one form one group) for the constant
     * gate's agreement.
     */
    public static final class Accumulator {
        private float[] s = new float[1024], t = new float[1024];
        private int n;
        private double se, bce;
        private long agree, above;
        private final List<long[]> headGroups = new ArrayList<>(); // {pairs, pairs ≥ 0.05} per head group
        private long[] ungrouped;

        public void add(float score, float target) {
            if (ungrouped == null) headGroups.add(ungrouped = new long[2]);
            ungrouped[0]++;
            if (target >= THRESHOLD) ungrouped[1]++;
            record(score, target);
        }

        private void record(float score, float target) {
            if (n == s.length) {
                s = Arrays.copyOf(s, n * 2);
                t = Arrays.copyOf(t, n * 2);
            }
            s[n] = score;
            t[n] = target;
            n++;
            double d = score - target;
            se += d * d;
            double c = Math.min(Math.max(score, 1e-7), 1 - 1e-7);
            bce -= target * Math.log(c) + (1 - target) * Math.log(1 - c);
            if ((score >= THRESHOLD) == (target >= THRESHOLD)) agree++;
            if (target >= THRESHOLD) above++;
        }

        /** Adds pairs that all belong to one group. */
        public void addAll(float[] scores, float[] targets, int count) {
            for (int i = 0; i < count; i++) add(scores[i], targets[i]);
        }

        /** Adds row-major [rows, heads] scores and targets: one head group per column. */
        public void addAll(float[] scores, float[] targets, int rows, int heads) {
            for (int h = 0; h < heads; h++) {
                long[] g = new long[2];
                headGroups.add(g);
                for (int r = 0; r < rows; r++) {
                    float target = targets[r * heads + h];
                    g[0]++;
                    if (target >= THRESHOLD) g[1]++;
                    record(scores[r * heads + h], target);
                }
            }
        }

        /** Adds another accumulator's pairs; its head groups stay separate groups (other layers' heads). */
        public void addAll(Accumulator other) {
            for (int i = 0; i < other.n; i++) record(other.s[i], other.t[i]);
            for (long[] g : other.headGroups) headGroups.add(g.clone());
        }

        public long count() {
            return n;
        }

        public GateMetrics result() {
            if (n == 0) return new GateMetrics(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
            long constant = 0;
            for (long[] g : headGroups) constant += Math.max(g[1], g[0] - g[1]);
            return new GateMetrics(n, se / n, bce / n, (double) agree / n, spearman(Arrays.copyOf(s, n), Arrays.copyOf(t, n)), (double) above / n,
                    (double) constant / n);
        }
    }

    /** Spearman's ρ: Pearson correlation of average ranks; NaN when either side is constant. */
    public static double spearman(float[] a, float[] b) {
        double[] ra = ranks(a), rb = ranks(b);
        int n = a.length;
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) {
            ma += ra[i];
            mb += rb[i];
        }
        ma /= n;
        mb /= n;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++) {
            double da = ra[i] - ma, db = rb[i] - mb;
            sab += da * db;
            saa += da * da;
            sbb += db * db;
        }
        return saa == 0 || sbb == 0 ? Double.NaN : sab / Math.sqrt(saa * sbb);
    }

    private static double[] ranks(float[] v) {
        int n = v.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, (x, y) -> Float.compare(v[x], v[y]));
        double[] r = new double[n];
        for (int i = 0; i < n; ) {
            int j = i;
            while (j + 1 < n && v[idx[j + 1]] == v[idx[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) r[idx[k]] = avg;
            i = j + 1;
        }
        return r;
    }
}
