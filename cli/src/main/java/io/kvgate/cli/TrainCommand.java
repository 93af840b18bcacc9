package io.kvgate.cli;

import io.kvgate.datasets.FeatureDataset;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateType;
import io.kvgate.models.Checkpoint;
import io.kvgate.models.ComputeTarget;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.TextTable;
import io.kvgate.trainer.fit.TrainingRows;
import io.kvgate.trainer.fit.FitTimings;
import io.kvgate.trainer.fit.GateTrainer;
import io.kvgate.trainer.fit.LinearFitter;
import io.kvgate.trainer.fit.SinkFitter;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Map;

/** Fit gates from collected shards and export the gate artifact(s). */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Fit gates from collected feature shards and export the gate artifact(s).",
                "Writes OUT/<type>/ (gates.safetensors + manifest.json) for each gate type and prints held-out metrics."})
public final class TrainCommand implements Runnable {
    @Option(names = "--features", required = true, paramLabel = "DIR", description = "Feature directory written by 'kvgate collect'.")
    Path features;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output directory; each gate type goes to OUT/<type>/.")
    Path out;

    @Option(names = "--gate", defaultValue = "both", paramLabel = "sink|linear|both", description = "Gate type(s) to fit (default: ${DEFAULT-VALUE}).")
    String gate;

    @Option(names = "--lambda-grid", split = ",", paramLabel = "L1,L2,...",
            description = "Relative ridge penalties tried for the linear gate (λ·trace(XᵀX)/D; default 1e-6,...,1).")
    double[] lambdas;

    @Option(names = "--epsilon", defaultValue = "" + LinearFitter.DEFAULT_EPSILON, paramLabel = "E",
            description = "Targets are clipped to [E, 1−E] before the logit (default: ${DEFAULT-VALUE}).")
    double epsilon;

    @Option(names = "--steps", defaultValue = "400", paramLabel = "N", description = "Sink gate: Adam steps per layer (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--batch", defaultValue = "256", paramLabel = "N", description = "Sink gate: rows per step (default: ${DEFAULT-VALUE}).")
    int batch;

    @Option(names = "--lr", defaultValue = "0.02", paramLabel = "R", description = "Sink gate: relative learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--sink-objective", defaultValue = "logit", paramLabel = "logit|probability",
            description = "Sink gate: squared error on scores or on logits (default: ${DEFAULT-VALUE}).")
    String sinkObjective;

    @Option(names = "--max-rows", defaultValue = "100000", paramLabel = "N", description = "Sink gate: training rows sampled per layer (default: ${DEFAULT-VALUE}).")
    int maxRows;

    @Option(names = "--seed", defaultValue = "1", paramLabel = "S", description = "Seed; the fit is deterministic given it (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--threads", paramLabel = "N", description = "Layers fitted at once (default: min(2, cores)); results do not depend on it.")
    Integer threads;

    @Option(names = "--model", paramLabel = "DIR", description = "Optional: refuse features that were not collected from this checkpoint.")
    Path model;

    @Option(names = "--device", defaultValue = "cpu", paramLabel = "cpu|gpu[:N]|auto",
            description = "Where the fit's linear algebra runs (libtorch, float64): " + ComputeTarget.DEVICE_HELP + " (default: ${DEFAULT-VALUE}).")
    String device;

    @Override
    public void run() {
        EnumSet<GateType> types = switch (gate) {
            case "both" -> EnumSet.allOf(GateType.class);
            default -> EnumSet.of(GateType.parse(gate));
        };
        if (steps < 0 || batch <= 0 || maxRows <= 0 || !(lr > 0)) throw new KvgateException("--steps must be ≥ 0, --batch, --max-rows and --lr positive");
        if (!(epsilon > 0 && epsilon < 0.5)) throw new KvgateException("--epsilon " + epsilon + ": expected a value in (0, 0.5)");
        double[] grid = lambdas == null ? LinearFitter.DEFAULT_LAMBDAS : lambdas;
        for (double l : grid) if (!(l > 0)) throw new KvgateException("--lambda-grid: " + l + " is not a positive number");
        if (!Files.isDirectory(features)) throw new KvgateException("--features " + features + ": no such directory");

        TrainingRows src = TrainingRows.of(FeatureDataset.open(features), features);
        if (model != null) {
            try (Checkpoint cp = Checkpoint.open(model)) {
                if (!cp.fingerprint().equals(src.modelFingerprint()))
                    throw new KvgateException("features in " + features + " were collected from model " + src.modelFingerprint()
                            + ", not from " + model + " (" + cp.fingerprint() + ")");
            }
        }
        GateTrainer.Options defaults = GateTrainer.Options.defaults(types);
        GateTrainer.Options options = new GateTrainer.Options(types, grid, epsilon, new SinkFitter.Options(steps, batch, lr, seed, epsilon, objective()),
                maxRows, threads == null ? defaults.threads() : Math.max(1, threads), ComputeTarget.parseDevice(device));
        FitTimings timings = new FitTimings();
        long t0 = System.nanoTime();
        Map<GateType, GateTrainer.Fitted> fitted = GateTrainer.train(src, options, timings);
        timings.time(FitTimings.Stage.WRITE, () -> {
            for (GateTrainer.Fitted f : fitted.values()) GateTrainer.artifact(src, f).write(out.resolve(f.type().id()));
        });
        double seconds = (System.nanoTime() - t0) / 1e9;

        System.out.println(metricsTable(fitted));
        System.out.printf("fitted %s for %d layers from %d tokens (%d held out) in %.1f s; artifacts in %s%n",
                String.join(" + ", fitted.keySet().stream().map(GateType::id).toList()), src.gatedLayers().length, src.tokens(), src.heldOutTokens(),
                seconds, fitted.keySet().stream().map(t -> out.resolve(t.id()).toString()).toList());
        if (fitted.size() == 2) {
            GateMetrics s = fitted.get(GateType.SINK).overall(), l = fitted.get(GateType.LINEAR).overall();
            System.out.printf("held-out, sink vs linear: MSE %.4g vs %.4g (%s), agreement %.4f vs %.4f (%s), Spearman %.4f vs %.4f (%s)%n",
                    s.mse(), l.mse(), better(l.mse(), s.mse()), s.agreement(), l.agreement(), better(s.agreement(), l.agreement()),
                    s.spearman(), l.spearman(), better(s.spearman(), l.spearman()));
        }
        System.out.printf("%nwall time per stage (device %s, %d layers, %d threads):%n%s", options.device().getDeviceType() + (options.device().isGpu() ? ":" + options.device().getDeviceId() : ""), src.gatedLayers().length,
                options.threads(), timings.table(seconds, options.threads()));
    }

    /** Which side a "higher is better" comparison favours, sink first. */
    private static String better(double sink, double linear) {
        return sink > linear ? "sink better" : sink < linear ? "linear better" : "equal";
    }

    private SinkFitter.Objective objective() {
        return switch (sinkObjective) {
            case "probability" -> SinkFitter.Objective.PROBABILITY;
            case "logit" -> SinkFitter.Objective.LOGIT;
            default -> throw new KvgateException("--sink-objective " + sinkObjective + ": expected probability or logit");
        };
    }

    /** Per layer and overall held-out metrics of every fitted family. */
    static String metricsTable(Map<GateType, GateTrainer.Fitted> fitted) {
        TextTable t = new TextTable("gate", "layer", "pairs", "MSE", "BCE", "agree@0.05", "const@0.05", "Spearman", "S≥0.05", "fit");
        for (GateTrainer.Fitted f : fitted.values()) {
            for (Map.Entry<Integer, GateMetrics> e : f.layerMetrics().entrySet())
                row(t, f.type().id(), String.valueOf(e.getKey()), e.getValue(), f.details().get(e.getKey()));
            row(t, f.type().id(), "all", f.overall(), "");
        }
        return t.toString();
    }

    static void row(TextTable t, String gate, String layer, GateMetrics m, String detail) {
        t.row(gate, layer, m.pairs(), String.format("%.5f", m.mse()), String.format("%.4f", m.bce()), String.format("%.4f", m.agreement()),
                String.format("%.4f", m.constantAgreement()), String.format("%.4f", m.spearman()), String.format("%.3f", m.baseRate()), detail);
    }
}
