package io.kvgate.trainer.fit;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.kvgate.export.ArtifactManifest;
import io.kvgate.export.CorpusSummary;
import io.kvgate.export.GateArtifact;
import io.kvgate.gates.Gate;
import io.kvgate.gates.GateMetrics;
import io.kvgate.gates.GateSet;
import io.kvgate.gates.GateType;
import io.kvgate.gates.SinkGate;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.Progress;

import java.nio.FloatBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Fits gates for every gated layer of a {@link TrainingRows}: one streaming pass per layer (normal equations,
 * held-out rows, the sink gate's row sample), then the ridge solve and the sink fit, then held-out metrics.
 * Layers are independent, so they are fitted in parallel ({@link Options#threads}); results do not depend on
 * the thread count.
 */
public final class GateTrainer {
    /**
     * @param types        which gate families to fit
     * @param lambdas      relative ridge λ grid (see {@link LinearFitter})
     * @param epsilon      clipping ε of logit(clip(S, ε, 1−ε))
     * @param sink         the sink fitter's settings
     * @param maxSinkRows  at most this many training rows per layer are kept for the sink fit (uniform sample)
     * @param threads      layers read and fitted at once
     * @param device       where the linear algebra runs through libtorch (normal equations, λ solves, the sink gate's
     *                     key features and Adam steps, held-out scores); null: the plain-Java reference path (the
     *                     normal equations still go through libtorch on the CPU)
     */
    public record Options(EnumSet<GateType> types, double[] lambdas, double epsilon, SinkFitter.Options sink, int maxSinkRows, int threads,
                          Device device) {
        public static Options defaults(EnumSet<GateType> types) {
            return new Options(types, LinearFitter.DEFAULT_LAMBDAS, LinearFitter.DEFAULT_EPSILON, SinkFitter.Options.defaults(), 100_000,
                    Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors())), Device.cpu());
        }

        public Options withDevice(Device d) {
            return new Options(types, lambdas, epsilon, sink, maxSinkRows, threads, d);
        }
    }

    /**
     * One gate family fitted for every layer.
     *
     * @param layerMetrics held-out metrics per layer
     * @param overall      held-out metrics over all layers' (token, head) pairs
     * @param details      per layer, how the fit went (λ chosen; sink validation loss at start and at the kept step)
     */
    public record Fitted(GateType type, GateSet gates, Map<Integer, GateMetrics> layerMetrics, GateMetrics overall,
                         Map<Integer, String> details, Map<String, Object> hyperParameters) {}

    private GateTrainer() {}

    public static Map<GateType, Fitted> train(TrainingRows src, Options o) {
        return train(src, o, new FitTimings());
    }

    /** As {@link #train(TrainingRows, Options)}, adding each stage's time to {@code timings}. */
    public static Map<GateType, Fitted> train(TrainingRows src, Options o, FitTimings timings) {
        int[] layers = src.gatedLayers();
        if (layers.length == 0) throw new KvgateException("features of " + src.description() + ": no gated layers");
        if (o.types().isEmpty()) throw new IllegalArgumentException("no gate type to fit");
        boolean sink = o.types().contains(GateType.SINK);
        SinkGate.Dims dims = SinkGate.Dims.standard(src.hiddenSize(), src.kvHeads(), src.groupSize());
        Map<Integer, Map<GateType, LayerResult>> results = new TreeMap<>();
        Device sums = o.device() == null ? Device.cpu() : o.device();
        // each task reads its own layer, so reading (Parquet decoding) runs in parallel too; the pool's size bounds
        // the layers whose rows are held in memory at once
        ExecutorService pool = Executors.newFixedThreadPool(o.threads());
        List<Future<?>> futures = new ArrayList<>();
        try (Progress bar = Progress.start("fit gates", layers.length, "layers")) {
            for (int layer : layers) {
                futures.add(pool.submit(() -> {
                    LayerData data = LayerData.read(src, layer, o.epsilon(), sink, o.maxSinkRows(), o.sink().seed(), sums, timings);
                    Map<GateType, LayerResult> r = fitLayer(data, dims, o, timings);
                    synchronized (results) {
                        results.put(data.layer, r);
                    }
                    bar.step(1);
                }));
            }
            for (Future<?> f : futures) join(f);
        } finally {
            pool.shutdownNow();
        }
        Map<GateType, Fitted> out = new EnumMap<>(GateType.class);
        for (GateType type : o.types()) {
            List<Gate> gates = new ArrayList<>();
            Map<Integer, GateMetrics> per = new TreeMap<>();
            Map<Integer, String> details = new TreeMap<>();
            GateMetrics.Accumulator all = new GateMetrics.Accumulator();
            for (Map.Entry<Integer, Map<GateType, LayerResult>> e : results.entrySet()) {
                LayerResult r = e.getValue().get(type);
                gates.add(r.gate);
                per.put(e.getKey(), r.metrics.result());
                details.put(e.getKey(), r.detail);
                all.addAll(r.metrics);
            }
            out.put(type, new Fitted(type, new GateSet(type, gates), per, all.result(), details, hyperParameters(type, o, dims)));
        }
        return out;
    }

    private record LayerResult(Gate gate, GateMetrics.Accumulator metrics, String detail) {}

    private static Map<GateType, LayerResult> fitLayer(LayerData data, SinkGate.Dims dims, Options o, FitTimings timings) {
        Map<GateType, LayerResult> r = new EnumMap<>(GateType.class);
        LinearFitter.Fit lin = timings.time(FitTimings.Stage.SOLVES, () -> LinearFitter.fit(data.layer, data.train, data.heldOut, o.lambdas(), o.device()));
        if (o.types().contains(GateType.LINEAR))
            r.put(GateType.LINEAR, new LayerResult(lin.gate(), timings.time(FitTimings.Stage.METRICS, () -> measure(lin.gate(), data.heldRows, o.device())),
                    String.format("λ=%.0e", lin.lambda())));
        if (o.types().contains(GateType.SINK)) {
            long t0 = System.nanoTime();
            SinkFitter.Fit s = SinkFitter.fit(data.layer, dims, data.train, lin.coefficients(), data.trainRows, o.sink(), o.device(), timings);
            r.put(GateType.SINK, new LayerResult(s.gate(), timings.time(FitTimings.Stage.METRICS, () -> measure(s.gate(), data.heldRows, o.device())),
                    String.format("val loss %.4g→%.4g (step %d), %d rows, %.1fs", s.initialValidationLoss(), s.validationLoss(), s.keptStep(),
                            data.trainRows.rows, (System.nanoTime() - t0) / 1e9)));
        }
        return r;
    }

    /** Held-out metrics of a gate on rows in memory, scored on {@code device} (null: the gate's plain-Java scorer). */
    static GateMetrics.Accumulator measure(Gate gate, RowBuffer rows, Device device) {
        GateMetrics.Accumulator a = new GateMetrics.Accumulator();
        float[] s = device == null ? gate.scoreRows(rows.xRows(), rows.rows) : scoreOn(device, gate, rows);
        a.addAll(s, rows.target, rows.rows, rows.heads);
        return a;
    }

    /** Scores [rows × H] through {@link Gate#score} on a device, in chunks that bound the device memory. */
    private static float[] scoreOn(Device device, Gate gate, RowBuffer rows) {
        float[] out = new float[rows.rows * rows.heads];
        int chunk = 16384;
        try (NDManager m = NDManager.newBaseManager(device)) {
            for (int start = 0; start < rows.rows; start += chunk) {
                int n = Math.min(chunk, rows.rows - start);
                try (NDManager scope = m.newSubManager()) {
                    NDArray x = scope.create(FloatBuffer.wrap(rows.x, start * rows.hidden, n * rows.hidden).slice(), new Shape(n, rows.hidden));
                    float[] s = gate.score(x).transpose().toFloatArray(); // [n, H]
                    System.arraycopy(s, 0, out, start * rows.heads, n * rows.heads);
                }
            }
        }
        return out;
    }

    private static Map<String, Object> hyperParameters(GateType type, Options o, SinkGate.Dims dims) {
        Map<String, Object> h = new LinkedHashMap<>();
        h.put("epsilon", o.epsilon());
        if (type == GateType.LINEAR) {
            h.put("objective", "ridge regression on logit(clip(S, epsilon, 1-epsilon)), lambda relative to trace(XtX)/D");
            h.put("lambda_grid", Arrays.stream(o.lambdas()).boxed().toList());
        } else {
            h.put("dim", dims.dim());
            h.put("sinks", dims.sinks());
            h.put("norm_eps", SinkGate.NORM_EPS);
            h.put("objective", o.sink().objective().id() + "-space mean squared error");
            h.put("init", "closed form: ridge + principal directions for k_proj, calibrated query bias");
            h.put("steps", o.sink().steps());
            h.put("batch", o.sink().batch());
            h.put("learning_rate", o.sink().learningRate());
            h.put("seed", o.sink().seed());
            h.put("max_rows", o.maxSinkRows());
        }
        return h;
    }

    /** The artifact of one fitted family (fingerprint, sizes and corpus from the source). */
    public static GateArtifact artifact(TrainingRows src, Fitted f) {
        Map<String, Object> hyper = new LinkedHashMap<>(f.hyperParameters());
        Map<String, String> det = new LinkedHashMap<>();
        f.details().forEach((k, v) -> det.put(String.valueOf(k), v));
        hyper.put("fit_details", det);
        ArtifactManifest m = new ArtifactManifest(GateArtifact.FORMAT_VERSION, GateArtifact.KVGATE_VERSION, f.type(), hyper,
                f.gates().layers(), src.hiddenSize(), src.kvHeads(), src.groupSize(), src.modelFingerprint(), src.modelType(),
                new CorpusSummary(src.corpusDescription(), src.tokens(), src.heldOutTokens()), f.layerMetrics(), f.overall());
        return new GateArtifact(m, f.gates());
    }

    private static void join(Future<?> f) {
        try {
            f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        }
    }
}
