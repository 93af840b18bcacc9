package io.kvgate.gates;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.kvgate.models.FusedSinkGates;
import io.kvgate.models.KvgateException;
import io.kvgate.models.util.Timings;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Time of one batch of sink-gate scoring, as a prefill chunk pays it after its layers (GateScorer): n layers' gates
 * over [n, T, hidden] attention inputs, split into its parts so that a prefill's gate overhead can be explained without
 * the prefill's run-to-run spread. Every timing is issue plus device time, synchronised by reading one value back.
 * Before timing, the fused module's scores are checked against the gates' own ops.
 */
public final class GateScoringBenchmark {
    private GateScoringBenchmark() {}

    public enum Mode {
        STACK("stack of n [T, hidden] inputs"),
        PROJECTIONS("projections only"),
        FUSED("one call (module, kernel)"),
        OWN_OPS("gates' own ops");

        public final String label;

        Mode(String label) {
            this.label = label;
        }
    }

    /** Per token count, per {@link Mode}: best and median milliseconds (NaN: not run, e.g. FUSED without a module). */
    public record Row(int tokens, double[] bestMillis, double[] medianMillis) {}

    /**
     * Times every mode for each of {@code tokens}, interleaved ({@code warmup} untimed rounds, then {@code reps} timed),
     * with random gates of {@code dims} for {@code layers} layers and random inputs in {@code dtype} on {@code m}'s device.
     * {@code fused} may be null (FUSED is then skipped).
     */
    public static List<Row> run(NDManager m, SinkGate.Dims dims, int layers, List<Integer> tokens, DataType dtype,
                                FusedSinkGates fused, int warmup, int reps, long seed) {
        Random r = new Random(seed);
        List<Gate> gates = new ArrayList<>();
        for (int l = 0; l < layers; l++) gates.add(new SinkGate(l, SinkGate.Params.random(dims, r)));
        int[] ids = java.util.stream.IntStream.range(0, layers).toArray();
        List<Row> rows = new ArrayList<>();
        try (GateSet set = new GateSet(GateType.SINK, gates)) {
            DataType projection = GateSet.projectionType(dtype);
            for (int t : tokens) {
                try (NDManager scope = m.newSubManager()) {
                    NDArray xs = scope.randomNormal(new Shape(layers, t, dims.hidden())).toType(dtype, false);
                    List<NDArray> perLayer = new ArrayList<>();
                    for (int l = 0; l < layers; l++) perLayer.add(scope.randomNormal(new Shape(t, dims.hidden())).toType(dtype, false));
                    NDArray wq = scope.randomNormal(new Shape(layers, dims.hidden(), dims.queryRows())).toType(projection, false);
                    NDArray wk = scope.randomNormal(new Shape(layers, dims.hidden(), dims.keyRows())).toType(projection, false);
                    NDArray px = xs.getDataType() == projection ? xs : xs.toType(projection, false);
                    if (fused != null) checkAgree(set, ids, xs, fused, t);
                    Mode[] modes = Mode.values();
                    double[][] times = new double[modes.length][reps];
                    for (int rep = -warmup; rep < reps; rep++) {
                        for (int i = 0; i < modes.length; i++) {
                            if (!runs(modes[i], fused)) continue;
                            try (NDManager step = scope.newSubManager()) {
                                long t0 = System.nanoTime();
                                NDArray out = switch (modes[i]) {
                                    case STACK -> NDArrays.stack(new NDList(perLayer), 0);
                                    case PROJECTIONS -> {
                                        NDArray q = px.matMul(wq);
                                        q.attach(step);
                                        yield px.matMul(wk);
                                    }
                                    case FUSED -> set.scoreLayers(ids, xs, fused);
                                    case OWN_OPS -> set.scoreLayers(ids, xs);
                                };
                                out.attach(step);
                                sync(out);
                                if (rep >= 0) times[i][rep] = (System.nanoTime() - t0) / 1e6;
                            }
                        }
                    }
                    double[] best = new double[modes.length], median = new double[modes.length];
                    for (int i = 0; i < modes.length; i++) {
                        best[i] = runs(modes[i], fused) ? Timings.best(times[i]) : Double.NaN;
                        median[i] = runs(modes[i], fused) ? Timings.median(times[i]) : Double.NaN;
                    }
                    rows.add(new Row(t, best, median));
                }
            }
        }
        return rows;
    }

    /** Every part runs but the fused module's where none is loaded. */
    private static boolean runs(Mode mode, FusedSinkGates fused) {
        return mode != Mode.FUSED || fused != null;
    }

    /** Waits for the device by reading one value of {@code a} back (a 4-byte copy). */
    private static void sync(NDArray a) {
        try (NDArray one = a.flatten().get(0)) {
            one.toType(DataType.FLOAT32, false).getFloat();
        }
    }

    private static void checkAgree(GateSet set, int[] ids, NDArray xs, FusedSinkGates fused, int t) {
        float[] own = set.scoreLayers(ids, xs).toFloatArray(), viaModule = set.scoreLayers(ids, xs, fused).toFloatArray();
        double worst = 0;
        for (int i = 0; i < own.length; i++) worst = Math.max(worst, Math.abs(own[i] - viaModule[i]));
        if (!(worst < 1e-3))
            throw new KvgateException("the fused module's sink-gate scores differ from the gates' own ops by " + worst + " at " + t + " tokens");
    }
}
