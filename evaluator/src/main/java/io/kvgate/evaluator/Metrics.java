package io.kvgate.evaluator;

/** The per-item quality measures of an evaluation. */
public final class Metrics {
    private Metrics() {}

    /** Solved: the decoded greedy continuation starts with the expected answer. */
    public static boolean exactPrefix(String output, String answer) {
        return output.startsWith(answer);
    }

    /** Share of the answer's characters reproduced at the same index (repeat tasks), in [0, 1]. */
    public static double charMatch(String output, String answer) {
        if (answer.isEmpty()) return 1;
        int same = 0;
        int n = Math.min(output.length(), answer.length());
        for (int i = 0; i < n; i++) if (output.charAt(i) == answer.charAt(i)) same++;
        return same / (double) answer.length();
    }

    /**
     * Fidelity: mean over positions of KL(full ‖ evicted) = Σ_v p(v) (log p(v) − log q(v)) between the
     * next-token distributions of the full cache ({@code fullLog}) and the evicted one ({@code evictedLog}),
     * both log-probabilities [positions][vocab]. In nats.
     */
    public static double klDivergence(float[][] fullLog, float[][] evictedLog) {
        if (fullLog.length != evictedLog.length) throw new IllegalArgumentException(fullLog.length + " vs " + evictedLog.length + " positions");
        double total = 0;
        for (int t = 0; t < fullLog.length; t++) {
            double kl = 0;
            float[] p = fullLog[t], q = evictedLog[t];
            for (int v = 0; v < p.length; v++) {
                double pv = Math.exp(p[v]);
                if (pv > 0) kl += pv * (p[v] - q[v]);
            }
            total += Math.max(0, kl); // rounding can leave a tiny negative for identical distributions
        }
        return fullLog.length == 0 ? 0 : total / fullLog.length;
    }
}
