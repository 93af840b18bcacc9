package io.kvgate.cli;

import ai.djl.ndarray.NDManager;
import io.kvgate.gates.GateScoringBenchmark;
import io.kvgate.gates.GateSet;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.FusedSinkGates;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.TextTable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.util.List;
import java.util.Locale;

/** Time of one batch of sink-gate scoring by part: the input stack, the projections, the fused module, the gates' own ops. */
@Command(name = "gates", mixinStandardHelpOptions = true,
        description = {"Time of scoring a batch of sink gates (all layers of a prefill chunk at once) on a device, by part: the "
                + "stack of the layers' inputs, the two projections alone, the fused module's one call (KVGATE_FUSED_ATTENTION; "
                + "with kvgate's operators one kernel after the projections) and the gates' own ops; ratios to the own ops.",
                "Defaults: the Qwen3-0.6B shape (28 layers, hidden 1024, 8 KV heads, 2 query heads per KV head), d' = 16, 16 sink keys."})
public final class BenchGatesCommand implements Runnable {
    @Mixin
    TargetOptions targetOptions;

    @Option(names = "--layers", defaultValue = "28", description = "Gated layers scored at once (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--hidden", defaultValue = "1024", description = "Hidden size (default: ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--kv-heads", defaultValue = "8", description = "KV heads (default: ${DEFAULT-VALUE}).")
    int kvHeads;

    @Option(names = "--group", defaultValue = "2", description = "Query heads per KV head (default: ${DEFAULT-VALUE}).")
    int group;

    @Option(names = "--tokens", split = ",", defaultValue = "1024,4096,8192,32768",
            description = "Tokens per layer in one batch (default: ${DEFAULT-VALUE}; a 4096-token prefill chunk scores 4096).")
    List<Integer> tokens;

    @Option(names = "--warmup", defaultValue = "3", description = "Untimed rounds first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--reps", defaultValue = "10", description = "Timed rounds, modes interleaved (default: ${DEFAULT-VALUE}).")
    int reps;

    @Override
    public void run() {
        if (layers < 1 || hidden < 1 || kvHeads < 1 || group < 1) throw new KvgateException("--layers, --hidden, --kv-heads and --group must be >= 1");
        if (tokens.stream().anyMatch(n -> n < 1)) throw new KvgateException("--tokens must all be >= 1, got " + tokens);
        if (warmup < 0 || reps < 1) throw new KvgateException("--warmup must be >= 0 and --reps >= 1");
        ComputeTarget target = targetOptions.target();
        SinkGate.Dims dims = SinkGate.Dims.standard(hidden, kvHeads, group);
        try (NDManager m = NDManager.newBaseManager(target.device(), "PyTorch")) {
            FusedSinkGates fused = FusedSinkGates.fromEnvironment(m);
            List<GateScoringBenchmark.Row> rows = GateScoringBenchmark.run(m, dims, layers, tokens, target.dtype(), fused, warmup, reps, 1);
            GateScoringBenchmark.Mode[] modes = GateScoringBenchmark.Mode.values();
            int own = GateScoringBenchmark.Mode.OWN_OPS.ordinal();
            TextTable table = new TextTable("tokens", "part", "best ms", "median ms", "median vs own ops");
            for (GateScoringBenchmark.Row r : rows)
                for (int i = 0; i < modes.length; i++)
                    table.row(r.tokens(), modes[i].label, f(r.bestMillis()[i]), f(r.medianMillis()[i]),
                            Double.isNaN(r.medianMillis()[i]) ? "-" : String.format(Locale.ROOT, "%.3fx", r.medianMillis()[i] / r.medianMillis()[own]));
            System.out.print(table);
            System.out.printf(Locale.ROOT, "%d sink gates (hidden %d, %d KV heads x %d, d' %d, %d sinks) on %s, %d warm-up + %d timed rounds, "
                            + "each part synchronised by one read-back; projections in %s%s%n", layers, hidden, kvHeads, group, dims.dim(),
                    dims.sinks(), target, warmup, reps, GateSet.projectionDtypeName(target.dtype()),
                    fused == null ? "; no fused module (KVGATE_FUSED_ATTENTION): its row is skipped" : "");
        }
    }

    private static String f(double ms) {
        return Double.isNaN(ms) ? "-" : String.format(Locale.ROOT, "%.3f", ms);
    }
}
