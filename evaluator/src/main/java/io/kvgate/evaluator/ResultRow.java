package io.kvgate.evaluator;

import java.util.List;

/**
 * Aggregate of one task kind × policy × ratio (a row of results.csv).
 *
 * @param charMatch mean per-character match, NaN unless the task kind is repeat
 * @param kvFraction mean of kvBytes / kvBytesFull over the items (measured bytes)
 */
public record ResultRow(String task, String policy, double ratio, int n, double accuracy, double charMatch, double kl,
                        double kvBytes, double kvBytesFull, double kvFraction, double prefillMillis,
                        double decodeMillisPerToken) {
    public static final List<String> COLUMNS = List.of("task", "policy", "ratio", "n", "accuracy", "char_match", "kl",
            "kv_bytes", "kv_bytes_full", "kv_fraction", "prefill_ms", "decode_ms_per_token");

    static ResultRow of(String task, String policy, double ratio, List<ItemResult> items) {
        int n = items.size();
        double acc = 0, cm = 0, kl = 0, b = 0, bf = 0, frac = 0, pm = 0, dm = 0;
        for (ItemResult r : items) {
            acc += r.solved() ? 1 : 0;
            cm += r.charMatch();
            kl += r.kl();
            b += r.kvBytes();
            bf += r.kvBytesFull();
            frac += r.kvBytes() / (double) r.kvBytesFull();
            pm += r.prefillMillis();
            dm += r.decodeMillisPerToken();
        }
        return new ResultRow(task, policy, ratio, n, acc / n, task.equals("repeat") ? cm / n : Double.NaN, kl / n,
                b / n, bf / n, frac / n, pm / n, dm / n);
    }
}
