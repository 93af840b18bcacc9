package io.kvgate.cli;

import io.kvgate.evaluator.SelectionBenchmark;
import io.kvgate.evaluator.policy.Budget;
import io.kvgate.evaluator.policy.Parallel;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.KvgateException;
import io.kvgate.models.StagingBenchmark;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Locale;

/** Host time of an eviction's selection, one thread against the fork-join pool. */
@Command(name = "selection", mixinStandardHelpOptions = true,
        description = {"Host time of an eviction's selection (which entries each layer and KV head keeps) over random scores of a "
                + "model's shape, on one thread against the fork-join pool, with ratios to one thread; then of staging a re-layout "
                + "of as many rows per head for the device (its gather index in one upload; the rows' owners are built on the device).",
                "Defaults: the Qwen3-0.6B shape (28 layers, 8 KV heads) after a 1K, 8K and 32K eviction at 0.3."})
public final class BenchSelectionCommand implements Runnable {
    @Option(names = "--layers", defaultValue = "28", description = "Evictable layers (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--kv-heads", defaultValue = "8", description = "KV heads per layer (default: ${DEFAULT-VALUE}).")
    int kvHeads;

    @Option(names = "--entries", split = ",", defaultValue = "1024,5400,14000",
            description = "Entries per (layer, head) when the selection runs (default: ${DEFAULT-VALUE}: a 1K prefill's one eviction, "
                    + "and what an 8K / 32K prefill in 4096-token chunks holds at its last one).")
    List<Integer> entries;

    @Option(names = "--ratio", defaultValue = "0.3", description = "Share of the entries kept (default: ${DEFAULT-VALUE}).")
    double ratio;

    @Option(names = "--budget", defaultValue = "global", description = "global, per-layer or per-head (default: ${DEFAULT-VALUE}).")
    String budget;

    @Option(names = "--warmup", defaultValue = "10", description = "Untimed selections per size and mode first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--reps", defaultValue = "20", description = "Timed selections per size and mode (default: ${DEFAULT-VALUE}).")
    int reps;

    @Option(names = "--device", defaultValue = "cpu", description = "Where the re-layout's staged ints go (second table): "
            + ComputeTarget.DEVICE_HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Override
    public void run() {
        if (layers < 1 || kvHeads < 1) throw new KvgateException("--layers and --kv-heads must be >= 1");
        if (entries.stream().anyMatch(n -> n < 1)) throw new KvgateException("--entries must all be >= 1, got " + entries);
        if (!(ratio > 0 && ratio <= 1)) throw new KvgateException("--ratio must be in (0, 1], got " + ratio);
        if (warmup < 0 || reps < 1) throw new KvgateException("--warmup must be >= 0 and --reps >= 1");
        Budget b = Budget.parse(budget);
        List<SelectionBenchmark.Row> rows = SelectionBenchmark.run(layers, kvHeads, entries, ratio, b, warmup, reps, 1);
        SelectionBenchmark.Mode[] modes = SelectionBenchmark.Mode.values();
        TextTable table = new TextTable("entries/head", "entries", "mode", "best ms", "median ms", "median vs 1 thread");
        for (SelectionBenchmark.Row r : rows)
            for (int m = 0; m < modes.length; m++)
                table.row(r.entriesPerHead(), r.entries(), modes[m].label, f(r.bestMillis()[m]), f(r.medianMillis()[m]),
                        String.format(Locale.ROOT, "%.2fx", r.medianMillis()[m] / r.medianMillis()[0]));
        System.out.print(table);
        System.out.printf(Locale.ROOT, "%s budget at %.2f, %d layers x %d KV heads, %d warm-up + %d timed selections per row, interleaved; "
                        + "pool parallelism %d, default threshold %,d entries%n", b.id(), ratio, layers, kvHeads, warmup, reps,
                java.util.concurrent.ForkJoinPool.commonPool().getParallelism(), Parallel.MIN_PARALLEL);

        // what the eviction does next on the host: stage its re-layout's int data for the device in one upload
        ai.djl.Device dev = ComputeTarget.parseDevice(device);
        TextTable staging = new TextTable("rows/head", "ints staged", "upload buffer", "best ms", "median ms", "median vs fresh");
        try (ai.djl.ndarray.NDManager m = ai.djl.ndarray.NDManager.newBaseManager(dev, "PyTorch")) {
            for (int n : entries) {
                double[] fresh = StagingBenchmark.run(m, layers, kvHeads, n, false, warmup, reps);
                double[] reused = StagingBenchmark.run(m, layers, kvHeads, n, true, warmup, reps);
                staging.row(n, (long) layers * kvHeads * n, "fresh (CPU uploads)", f(fresh[0]), f(fresh[1]), "1.00x");
                staging.row(n, (long) layers * kvHeads * n, "reused (GPU uploads)", f(reused[0]), f(reused[1]),
                        String.format(Locale.ROOT, "%.2fx", reused[1] / fresh[1]));
            }
        }
        System.out.println();
        System.out.print(staging);
        System.out.printf(Locale.ROOT, "a re-layout's gather index (one int per row, %d layers x %d KV heads) staged and "
                + "uploaded to %s as one int32 array; arrays made before timing%n", layers, kvHeads, dev);
    }

    private static String f(double ms) {
        return String.format(Locale.ROOT, "%.3f", ms);
    }
}
