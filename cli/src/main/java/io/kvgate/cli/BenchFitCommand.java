package io.kvgate.cli;

import io.kvgate.datasets.FeatureBatch;
import io.kvgate.datasets.FeatureDataset;
import io.kvgate.datasets.FeatureManifest;
import io.kvgate.datasets.FeatureShardSchema;
import io.kvgate.datasets.FeatureShardWriter;
import io.kvgate.datasets.HiddenDtype;
import io.kvgate.datasets.ShardInfo;
import io.kvgate.datasets.ShardLayout;
import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateType;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.TextTable;
import io.kvgate.trainer.fit.FitTimings;
import io.kvgate.trainer.fit.GateTrainer;
import io.kvgate.trainer.fit.SinkFitter;
import io.kvgate.trainer.fit.SyntheticTrainingRows;
import io.kvgate.trainer.fit.TrainingRows;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;

/**
 * Wall time of each stage of `kvgate train` on rows of a model's shape made up in memory (no collection, no Parquet:
 * the "read" stage is the synthesis), on a device, optionally against the plain-Java reference path in the same process.
 */
@Command(name = "fit", mixinStandardHelpOptions = true,
        description = {"Wall time per stage of gate fitting (kvgate train) on synthetic rows of a given shape.",
                "Defaults: the Qwen3-0.6B shape (hidden 1024, 8 KV heads, group 2), 28 layers of 275,000 rows."})
public final class BenchFitCommand implements Runnable {
    @Option(names = "--hidden", defaultValue = "1024", description = "Hidden size D (default: ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--kv-heads", defaultValue = "8", description = "KV heads H (default: ${DEFAULT-VALUE}).")
    int kvHeads;

    @Option(names = "--group", defaultValue = "2", description = "Query heads per KV head G (default: ${DEFAULT-VALUE}).")
    int group;

    @Option(names = "--layers", defaultValue = "28", description = "Gated layers (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--rows", defaultValue = "275000", description = "Rows (tokens) per layer, held-out included (default: ${DEFAULT-VALUE}).")
    int rows;

    @Option(names = "--held-out-every", defaultValue = "100", description = "Every N-th row is held out, as collect does (default: ${DEFAULT-VALUE}).")
    int heldOutEvery;

    @Option(names = "--gate", defaultValue = "both", paramLabel = "sink|linear|both", description = "Gate type(s) to fit (default: ${DEFAULT-VALUE}).")
    String gate;

    @Option(names = "--steps", defaultValue = "400", description = "Sink gate: Adam steps per layer (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch", defaultValue = "256", description = "Sink gate: rows per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--max-rows", defaultValue = "100000", description = "Sink gate: training rows sampled per layer (default: ${DEFAULT-VALUE}).")
    int maxRows;

    @Option(names = "--threads", paramLabel = "N", description = "Layers fitted at once (default: as train).")
    Integer threads;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|gpu[:N]|auto", description = ComputeTarget.DEVICE_HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--java", description = "Also fit with the plain-Java reference path (sink objective and λ solves in Java) and print the ratios.")
    boolean java;

    @Option(names = "--features-dir", paramLabel = "DIR",
            description = "Write the synthetic rows there as a feature directory (float16 Parquet shards, as collect writes them; kept and "
                    + "reused if it already holds a finished one) and fit from it, so that 'read' times real shard decoding.")
    Path featuresDir;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the rows and the fit (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public void run() {
        if (hidden < 2 || kvHeads < 1 || group < 1 || layers < 1 || heldOutEvery < 2 || rows < heldOutEvery)
            throw new KvgateException("bench fit: sizes must be positive, --held-out-every ≥ 2 and --rows ≥ --held-out-every");
        if (steps < 0 || batch < 1 || maxRows < 1) throw new KvgateException("--steps must be ≥ 0, --batch and --max-rows positive");
        EnumSet<GateType> types = gate.equals("both") ? EnumSet.allOf(GateType.class) : EnumSet.of(GateType.parse(gate));
        SyntheticTrainingRows synthetic = new SyntheticTrainingRows(hidden, kvHeads, group, layers, rows, heldOutEvery, seed);
        TrainingRows src = synthetic;
        if (featuresDir != null) {
            if (!Files.isRegularFile(featuresDir.resolve(FeatureManifest.FILE))) {
                long t0 = System.nanoTime();
                writeFeatures(synthetic, featuresDir);
                System.out.printf("wrote %s in %.1f s%n", featuresDir, (System.nanoTime() - t0) / 1e9);
            }
            FeatureDataset ds = FeatureDataset.open(featuresDir);
            FeatureManifest m = ds.manifest();
            if (m.hiddenSize() != hidden || m.kvHeads() != kvHeads || m.groupSize() != group || m.gatedLayers().length != layers || m.tokens() != rows)
                throw new KvgateException("--features-dir " + featuresDir + " holds another shape (" + m.tokens() + " rows x " + m.hiddenSize()
                        + ", " + m.kvHeads() + " KV heads, " + m.gatedLayers().length + " layers); remove it or name another directory");
            src = TrainingRows.of(ds, featuresDir);
        }
        GateTrainer.Options d = GateTrainer.Options.defaults(types);
        GateTrainer.Options o = new GateTrainer.Options(types, d.lambdas(), d.epsilon(),
                new SinkFitter.Options(steps, batch, d.sink().learningRate(), seed, d.epsilon(), d.sink().objective()), maxRows,
                threads == null ? d.threads() : Math.max(1, threads), ComputeTarget.parseDevice(device));
        System.out.printf("bench fit: %d layers x %d rows (%d held out) of hidden %d, %d KV heads, group %d; %s; %d threads; rows from %s%n",
                layers, rows, src.heldOutTokens(), hidden, kvHeads, group, String.join(" + ", types.stream().map(GateType::id).toList()), o.threads(),
                featuresDir == null ? "memory" : featuresDir);
        Run onDevice = fit(src, o);
        Run ref = java ? fit(src, o.withDevice(null)) : null;
        String dev = o.device().getDeviceType() + (o.device().isGpu() ? ":" + o.device().getDeviceId() : "");
        TextTable t = ref == null ? new TextTable("stage", "seconds (" + dev + ")")
                : new TextTable("stage", "seconds (" + dev + ")", "seconds (plain Java)", "Java / " + dev);
        for (FitTimings.Stage s : FitTimings.Stage.values()) {
            if (s == FitTimings.Stage.WRITE) continue;
            row(t, s.label + (s == FitTimings.Stage.READ && featuresDir == null ? " (synthesis here)" : ""), onDevice.timings.seconds(s), ref == null ? null : ref.timings.seconds(s));
        }
        row(t, "wall", onDevice.wall, ref == null ? null : ref.wall);
        System.out.println("stage seconds are summed over layers (" + o.threads() + " at once)");
        System.out.print(t);
        for (Run r : ref == null ? new Run[] {onDevice} : new Run[] {onDevice, ref})
            for (Map.Entry<GateType, GateTrainer.Fitted> e : r.fitted.entrySet()) {
                GateMetrics m = e.getValue().overall();
                System.out.printf("%s %-6s held-out agreement %.4f, MSE %.5f, Spearman %.4f%n", r == onDevice ? dev : "java", e.getKey().id(),
                        m.agreement(), m.mse(), m.spearman());
            }
    }

    /** Shards of {@link #SHARD_BATCHES} synthetic batches, every layer, float16 x: what collect writes. */
    private static void writeFeatures(SyntheticTrainingRows src, Path dir) {
        ShardLayout layout = new ShardLayout(src.hiddenSize(), src.kvHeads(), src.gatedLayers(), HiddenDtype.F16);
        List<ShardInfo> shards = new ArrayList<>();
        float[] xr = new float[src.hiddenSize()], tr = new float[src.kvHeads()];
        int d = src.hiddenSize(), h = src.kvHeads();
        for (int s = 0, first = 0; first < src.batches(); s++, first += SHARD_BATCHES) {
            long tokens = 0;
            try (FeatureShardWriter w = FeatureShardWriter.create(dir, s, layout)) {
                for (int layer : src.gatedLayers()) {
                    tokens = 0;
                    for (int b = first; b < Math.min(src.batches(), first + SHARD_BATCHES); b++) {
                        FeatureBatch fb = src.batch(layer, b);
                        for (int r = 0; r < fb.rows(); r++) {
                            System.arraycopy(fb.x(), r * d, xr, 0, d);
                            System.arraycopy(fb.target(), r * h, tr, 0, h);
                            w.write(layer, s, b * SyntheticTrainingRows.BATCH + r, fb.heldOut()[r], xr, tr);
                        }
                        tokens += fb.rows();
                    }
                }
                shards.add(w.commit("synthetic", new int[] {s}, tokens));
            }
        }
        new FeatureManifest(FeatureShardSchema.FORMAT_VERSION, FeatureManifest.KVGATE_VERSION, src.modelFingerprint(), src.modelType(),
                src.gatedLayers().length, d, h, src.groupSize(), src.gatedLayers(), src.tokens(), src.heldOutTokens(), HiddenDtype.F16.id(), 1.0,
                0, "synthetic: every --held-out-every-th row", 0, "synthetic", Map.of(), null, shards).writeTo(dir);
    }

    private static final int SHARD_BATCHES = 4;

    private record Run(FitTimings timings, double wall, Map<GateType, GateTrainer.Fitted> fitted) {}

    private static Run fit(TrainingRows src, GateTrainer.Options o) {
        FitTimings timings = new FitTimings();
        long t0 = System.nanoTime();
        Map<GateType, GateTrainer.Fitted> f = GateTrainer.train(src, o, timings);
        return new Run(timings, (System.nanoTime() - t0) / 1e9, f);
    }

    private static void row(TextTable t, String label, double a, Double b) {
        if (b == null) t.row(label, String.format("%.2f", a));
        else t.row(label, String.format("%.2f", a), String.format("%.2f", b), a > 0 ? String.format("%.1fx", b / a) : "-");
    }

}
