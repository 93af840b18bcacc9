package io.kvgate.evaluator;

import java.util.List;
import java.util.Optional;

/**
 * Everything an evaluation produced: per-item results, their aggregates and the problems met (skipped
 * tasks, with the reason), plus a description of the setup for the report.
 */
public record EvalResults(List<ResultRow> rows, List<ItemResult> items, List<String> problems, Setup setup) {
    /** How the run was configured, for results.json and report.md. */
    public record Setup(String model, String fingerprint, String gates, List<String> policies, List<Double> ratios,
                        String budget, String window, int prefillChunk, long seconds) {}

    public Optional<ResultRow> row(String task, String policy, double ratio) {
        return rows.stream().filter(r -> r.task().equals(task) && r.policy().equals(policy) && r.ratio() == ratio).findFirst();
    }

    public List<String> taskKinds() {
        return rows.stream().map(ResultRow::task).distinct().toList();
    }
}
