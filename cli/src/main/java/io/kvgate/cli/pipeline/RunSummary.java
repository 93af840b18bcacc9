package io.kvgate.cli.pipeline;

import io.kvgate.cli.config.ExperimentConfig;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.TextTable;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The report printed at the end of {@code kvgate run} (and saved as summary.md), read back from the experiment
 * directory so it is the same whether stages ran now or were skipped: stage outcomes, held-out gate metrics per
 * gate type, accuracy per policy × ratio, KV memory per policy × ratio, and where the plot is.
 */
public final class RunSummary {
    /** One row of eval/results.csv (the evaluator's format). */
    record ResultRow(String task, String policy, double ratio, int n, double accuracy, double kvFraction, double kvBytesFull) {}

    private final Path runDir;
    private final ExperimentConfig cfg;
    private final List<ResultRow> results;

    private RunSummary(Path runDir, ExperimentConfig cfg, List<ResultRow> results) {
        this.runDir = runDir;
        this.cfg = cfg;
        this.results = results;
    }

    public static RunSummary read(Path runDir, ExperimentConfig cfg) {
        return new RunSummary(runDir, cfg, readResults(runDir.resolve("eval").resolve("results.csv")));
    }

    public String render(List<StageOutcome> outcomes) {
        StringBuilder sb = new StringBuilder();
        sb.append("\n## kvgate run ").append(cfg.name()).append("\n\n");
        TextTable stages = new TextTable("stage", "status", "seconds");
        for (StageOutcome o : outcomes) {
            stages.row(o.stage(), o.status().name().toLowerCase(), o.status() == StageOutcome.Status.SKIPPED ? "-" : String.format("%.1f", o.seconds()));
        }
        sb.append(stages).append('\n');
        sb.append(GateSummary.table(runDir, cfg.gates().types()));
        if (!results.isEmpty()) {
            sb.append("\nAccuracy (exact-prefix, all tasks; rows: policy, columns: KV ratio kept)\n\n");
            sb.append(pivot(r -> r.accuracy() * 100, "%.1f")).append('\n');
            double full = results.stream().mapToDouble(r -> r.kvBytesFull() * r.n()).sum() / results.stream().mapToInt(ResultRow::n).sum();
            sb.append(String.format("KV cache held after prefill, measured, as a share of the full cache (%.0f KiB per context on average)%n%n",
                    full / 1024));
            sb.append(pivot(ResultRow::kvFraction, "%.2f")).append('\n');
        }
        Path plot = runDir.resolve("eval").resolve("accuracy.png");
        if (Files.exists(plot)) sb.append("Plot: ").append(plot).append('\n');
        sb.append("Experiment: ").append(runDir).append('\n');
        return sb.toString();
    }

    private interface Metric {
        double of(ResultRow r);
    }

    /** Rows: policy; columns: ratio; cells: the n-weighted mean over tasks of {@code metric}. */
    private TextTable pivot(Metric metric, String format) {
        TreeSet<Double> ratios = new TreeSet<>();
        Map<String, Map<Double, double[]>> cells = new LinkedHashMap<>();
        for (ResultRow r : results) {
            ratios.add(r.ratio());
            double[] acc = cells.computeIfAbsent(r.policy(), k -> new LinkedHashMap<>()).computeIfAbsent(r.ratio(), k -> new double[2]);
            acc[0] += metric.of(r) * r.n();
            acc[1] += r.n();
        }
        List<String> header = new ArrayList<>(List.of("policy"));
        for (double ratio : ratios) header.add(trim(ratio));
        TextTable t = new TextTable(header.toArray(String[]::new));
        for (Map.Entry<String, Map<Double, double[]>> e : cells.entrySet()) {
            List<Object> row = new ArrayList<>(List.of(e.getKey()));
            for (double ratio : ratios) {
                double[] acc = e.getValue().get(ratio);
                row.add(acc == null || acc[1] == 0 ? "" : String.format(format, acc[0] / acc[1]));
            }
            t.row(row.toArray());
        }
        return t;
    }

    private static List<ResultRow> readResults(Path csv) {
        List<ResultRow> rows = new ArrayList<>();
        if (!Files.isRegularFile(csv)) return rows;
        try {
            List<String> lines = Files.readAllLines(csv);
            if (lines.isEmpty()) return rows;
            List<String> header = List.of(lines.get(0).split(","));
            int task = col(header, "task", csv), policy = col(header, "policy", csv), ratio = col(header, "ratio", csv),
                    n = col(header, "n", csv), accuracy = col(header, "accuracy", csv), fraction = col(header, "kv_fraction", csv),
                    full = col(header, "kv_bytes_full", csv);
            for (String line : lines.subList(1, lines.size())) {
                if (line.isBlank()) continue;
                String[] f = line.split(",", -1);
                rows.add(new ResultRow(f[task], f[policy], Double.parseDouble(f[ratio]), Integer.parseInt(f[n]),
                        Double.parseDouble(f[accuracy]), Double.parseDouble(f[fraction]), Double.parseDouble(f[full])));
            }
        } catch (IOException | RuntimeException e) {
            throw new KvgateException(csv + ": cannot read evaluation results (" + e.getMessage() + "); rerun with --force eval", e);
        }
        return rows;
    }

    private static int col(List<String> header, String name, Path csv) {
        int i = header.indexOf(name);
        if (i < 0) throw new KvgateException(csv + ": no column '" + name + "'; rerun with --force eval");
        return i;
    }

    private static String trim(double v) {
        return v == Math.rint(v) ? String.format("%.1f", v) : Double.toString(v);
    }
}
